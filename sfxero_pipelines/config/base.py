"""The base of every `sfxero.yaml` section model (one module per section in this package).

Unknown keys are errors (a typo must not silently fall back to a default) and a loaded config
cannot be changed under a running job. Types are strict: YAML's `true` is not the integer 1 and
`"yes"` is not a boolean, so a value of the wrong kind is refused instead of quietly converted
(a date may still be written as a string: `Field(strict=False)` on date fields).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
