"""A separate process using a stored Xero connection, as an asset in another run would.

`python -m sfxero_tests.tokens.worker MODE` with the sandbox's settings in the environment
(XERO_*, SFXERO_CA_BUNDLE, SFXERO_STAGING_URL, SFXERO_SECRET_KEY):
- `token`: wait for the file named by WORKER_GO (so N workers start together), get an access token,
  print `{"token_calls": n, "digest": sha256(token)}`;
- `crash`: refresh, and after Xero answered but before the commit, touch WORKER_MARK and hang (the test
  kills it with SIGKILL there).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

from sfxero_pipelines.clients.secret_key import token_cipher
from sfxero_pipelines.clients.xero_tokens import StoredTokenProvider
from sfxero_pipelines.settings import engine_for


def provider(after=None) -> StoredTokenProvider:
    env = os.environ
    return StoredTokenProvider(engine=engine_for(env["SFXERO_STAGING_URL"]), cipher=token_cipher(),
                               identity_url=env["XERO_IDENTITY_URL"], client_id=env["XERO_CLIENT_ID"],
                               client_secret=env["XERO_CLIENT_SECRET"], tenant_id=env["XERO_TENANT_ID"],
                               verify=env["SFXERO_CA_BUNDLE"], after_token_answer=after, owns_engine=True)


def main(mode: str) -> None:
    if mode == "token":
        go = Path(os.environ["WORKER_GO"])
        while not go.exists():
            time.sleep(0.005)
        p = provider()
        token, _left, _scope = p.access_token()
        print(json.dumps({"token_calls": p.token_calls, "digest": hashlib.sha256(token.encode()).hexdigest()}))
    elif mode == "crash":
        def hang() -> None:
            Path(os.environ["WORKER_MARK"]).touch()
            time.sleep(120)

        provider(after=hang).access_token()
        print("not killed")


if __name__ == "__main__":
    main(sys.argv[1])
