"""One process of `sfxero bench tokens`: waits for the start file, then makes N authenticated Xero calls
through the stored connection (XeroResource, as an asset would) and prints one JSON line:
{"ok": calls that succeeded, "failed": the others, "invalid_grant": AuthErrors, "token_calls": token
endpoint requests this process made, "seconds", "finished_at" (epoch), "peak_rss_mb"}.

Settings come from the environment: the sandbox's XERO_*, SFXERO_CA_BUNDLE, SFXERO_STAGING_URL and
SFXERO_SECRET_KEY; BENCH_GO (the start file; `ready.<pid>` beside it says this one is waiting) and BENCH_CALLS.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..defs.xero.resources import XeroResource
from ..errors import AuthError, SfxeroError
from .harness import peak_rss_mb


def main() -> None:
    env = os.environ
    go = Path(env["BENCH_GO"])
    # Imports are done: say so, so the clock starts when every process is ready to call.
    (go.parent / f"ready.{os.getpid()}").touch()
    while not go.exists():
        time.sleep(0.005)
    resource = XeroResource(api_url=env["XERO_API_URL"], identity_url=env["XERO_IDENTITY_URL"],
                            client_id=env["XERO_CLIENT_ID"], client_secret=env["XERO_CLIENT_SECRET"],
                            ca_bundle=env["SFXERO_CA_BUNDLE"], staging_url=env["SFXERO_STAGING_URL"],
                            per_minute_limit=1_000_000, concurrent_limit=50, backoff_initial_s=0.05)
    result = {"ok": 0, "failed": 0, "invalid_grant": 0, "token_calls": 0, "errors": []}
    started = time.perf_counter()
    with resource.get_client() as client:
        for _ in range(int(env["BENCH_CALLS"])):
            try:
                client.get_all("Currencies")
                result["ok"] += 1
            except AuthError as exc:
                result["failed"] += 1
                result["invalid_grant"] += "invalid_grant" in str(exc) or "revoked" in str(exc)
                result["errors"].append(str(exc))
            except SfxeroError as exc:
                result["failed"] += 1
                result["errors"].append(str(exc))
        result["token_calls"] = client.api_calls["token"]
    result["seconds"] = round(time.perf_counter() - started, 3)
    result["finished_at"] = time.time()  # the parent's clock stops at the last call, not at interpreter exit
    result["errors"] = result["errors"][:3]
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
