"""Decide what the CLI talks to: configured credentials or the sandbox.

Order: (1) credentials for both systems in the environment → use them; (2) a sandbox env file
(`.sfxero/sandbox.env`, written by `sfxero sandbox`) whose emulators answer → use it; (3) start the
sandbox in the background and leave it running, so a newcomer's first `sfxero sync` just works and
the next command talks to the same emulated data the staging database describes.
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


def app_env(has_credentials, variable: str, missing: str) -> dict[str, str]:
    """The environment to take an OAuth app's settings from: as configured when `has_credentials(env)`,
    else completed from a running sandbox's env file; neither is a ConfigError `variable` + `missing`."""
    from ..errors import ConfigError

    env: dict[str, str] = dict(os.environ)
    if not has_credentials(env):
        sandbox_env = load_env_file(DEFAULT_SANDBOX_ENV_FILE, environ={}) if DEFAULT_SANDBOX_ENV_FILE.exists() else {}
        if not sandbox_answers(sandbox_env):
            raise ConfigError(variable, missing)
        env.update(sandbox_env)
    return env


@contextmanager
def use_configured_or_sandbox(env_file: Path = DEFAULT_SANDBOX_ENV_FILE) -> Iterator[str]:
    """Yields "configured" or "sandbox"; the environment is set accordingly. sfxero.yaml is
    validated first: a configuration error must not leave a background sandbox behind."""
    from ..config import load_config

    load_config()
    if has_salesforce_credentials() and has_xero_credentials():
        # The sandbox's settings, once loaded (by the preflight, say), look like credentials.
        yield "sandbox" if os.environ.get("SFXERO_SANDBOX") == "1" else "configured"
        return
    if env_file.exists():
        env = load_env_file(env_file, environ={})
        if sandbox_answers(env):
            os.environ.update(env)
            yield "sandbox"
            return
    # Started in the background and left running: the emulators keep their data in memory, so the
    # next command (another sync, `make dev`, replay) must see what this one wrote, as staging does.
    from .sandbox_cmd import start_detached

    start_detached(["sandbox", "--env-file", str(env_file)], str(env_file))
    os.environ.update(load_env_file(env_file, environ={}))
    yield "sandbox"
