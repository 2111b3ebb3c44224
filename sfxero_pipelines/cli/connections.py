"""Decide what the CLI talks to: configured credentials, a running sandbox, or an embedded one.

Order: (1) credentials for both systems in the environment → use them; (2) a sandbox env file
(`.sfxero/sandbox.env`, written by `sfxero sandbox`) whose emulators answer → use it; (3) start an
embedded sandbox for the duration of the command, so a newcomer's first `sfxero sync` just works.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from ..settings import DEFAULT_SANDBOX_ENV_FILE, has_salesforce_credentials, has_xero_credentials, load_env_file


def sandbox_answers(env: dict[str, str]) -> bool:
    try:
        for base in (env["SALESFORCE_LOGIN_URL"], env["XERO_IDENTITY_URL"]):
            requests.get(f"{base}/__sandbox/stats", verify=env["SFXERO_CA_BUNDLE"], timeout=2).raise_for_status()
    except (KeyError, OSError, requests.RequestException):
        return False
    return True


@contextmanager
def use_configured_or_sandbox(env_file: Path = DEFAULT_SANDBOX_ENV_FILE) -> Iterator[str]:
    """Yields "configured", "sandbox" or "embedded-sandbox"; the environment is set accordingly."""
    if has_salesforce_credentials() and has_xero_credentials():
        yield "configured"
        return
    if env_file.exists():
        env = load_env_file(env_file, environ={})
        if sandbox_answers(env):
            os.environ.update(env)
            yield "sandbox"
            return
    from ..sandbox.runner import SandboxServer

    with SandboxServer() as server:
        os.environ.update(server.env)
        server.write_env_file(env_file)
        try:
            yield "embedded-sandbox"
        finally:
            env_file.unlink(missing_ok=True)
