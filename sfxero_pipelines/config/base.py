"""The base of every `sfxero.yaml` section model (one module per section in this package).

Unknown keys are errors (a typo must not silently fall back to a default) and a loaded config
cannot be changed under a running job.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
