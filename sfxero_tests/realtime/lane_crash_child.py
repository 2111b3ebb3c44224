"""A real-time lane batch in its own process that dies at a chosen point (`os._exit`: a real crash).

Usage: python -m sfxero_tests.realtime.lane_crash_child '<json spec>' with `env` (connection settings),
`staging_url`, `salesforce` ({sObject: [ids]}) and `crash` as in `sfxero_tests.push.crash_child`.
"""

from __future__ import annotations

import json
import os
import sys

from sfxero_tests.push.crash_child import _arm


def main() -> None:
    spec = json.loads(sys.argv[1])
    os.environ.update(spec["env"])
    _arm(spec["crash"]["at"], spec["crash"]["nth"], spec["crash"].get("when", "after"))
    from sfxero_pipelines.config import load_config
    from sfxero_pipelines.defs.salesforce.resources import salesforce_resource_from_env
    from sfxero_pipelines.defs.staging.resources import StagingDatabase
    from sfxero_pipelines.defs.xero.resources import xero_resource_from_env
    from sfxero_pipelines.realtime.lane import Changes, run_batch

    staging = StagingDatabase(url=spec["staging_url"])
    with xero_resource_from_env(per_minute_limit=100_000).get_client() as x, \
            salesforce_resource_from_env().get_client() as s:
        run_batch(staging.engine, s, x, Changes(salesforce=spec["salesforce"]), cfg=load_config(), run_id="lane-crash")
    print("finished")


if __name__ == "__main__":
    main()
