"""A push in its own process that dies at a chosen point (`os._exit`, no cleanup: a real crash).

Usage: python -m sfxero_tests.push.crash_child '<json spec>' where spec has `env` (connection
settings), `staging_url`, `batch` (push config overrides) and optionally `crash`:
{"at": "<module.attr or Class.method>", "nth": N, "when": "before"|"after"}: the Nth call of that
function kills the process before it runs or after it returned (e.g. after Xero applied a write
and answered, before the ledger records it: the answer is lost).
"""

from __future__ import annotations

import json
import os
import sys


def _arm(target: str, nth: int, when: str) -> None:
    from sfxero_pipelines.clients.salesforce import SalesforceClient
    from sfxero_pipelines.clients.xero import XeroClient
    from sfxero_pipelines.staging.state import holds, ledger, links

    owners = {"ledger": ledger, "links": links, "holds": holds, "XeroClient": XeroClient,
              "SalesforceClient": SalesforceClient}
    owner_name, attr = target.split(".")
    owner = owners[owner_name]
    original = getattr(owner, attr)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth and when == "before":
            os._exit(137)
        result = original(*args, **kwargs)
        if calls["n"] == nth:
            os._exit(137)
        return result

    setattr(owner, attr, wrapper)


def main() -> None:
    spec = json.loads(sys.argv[1])
    os.environ.update(spec["env"])
    crash = spec.get("crash")
    if crash:
        _arm(crash["at"], crash["nth"], crash.get("when", "after"))
    from sfxero_pipelines.defs.salesforce.resources import salesforce_resource_from_env
    from sfxero_pipelines.defs.staging.resources import StagingDatabase
    from sfxero_pipelines.defs.xero.resources import xero_resource_from_env
    from sfxero_pipelines.push.run import push_to_salesforce, push_to_xero
    from sfxero_pipelines.config import PushConfig

    cfg = PushConfig(**spec.get("batch", {}))
    staging = StagingDatabase(url=spec["staging_url"])
    with xero_resource_from_env(per_minute_limit=100_000).get_client() as x, \
            salesforce_resource_from_env().get_client() as s:
        push_to_xero(staging.engine, x, s, cfg=cfg, run_id="crash-child")
        push_to_salesforce(staging.engine, s, cfg=cfg, run_id="crash-child")
    print("finished")


if __name__ == "__main__":
    main()
