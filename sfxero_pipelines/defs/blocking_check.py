"""`@blocking_check(...)`: `@dg.asset_check(..., blocking=True)` with a job snapshot that does not change
from one process to the next.

Dagster orders the blocking checks an asset's downstream step waits on by their output name, and every
`@asset_check` names its output `result`: the tie is broken by a set's iteration order, which Python's
string hashing changes per process. A job with two blocking checks on one asset and a step downstream
of it then had a different snapshot in every process, so the UI saw each run `sfxero sync` made, and
each code-server restart, as "a different version" of the job. Declared as a one-check
`multi_asset_check`, the output is named after the check (and the op keeps `@asset_check`'s name, so
run config addressed to it, e.g. `mass_change`'s `approve`, is unchanged).
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg


def blocking_check(*, asset, name: str, description: str,
                   additional_deps=None) -> Callable[[Callable], dg.AssetChecksDefinition]:
    spec = dg.AssetCheckSpec(name, asset=asset, blocking=True, description=description,
                             additional_deps=additional_deps)
    return dg.multi_asset_check(specs=[spec], name=spec.get_python_identifier(), description=description)
