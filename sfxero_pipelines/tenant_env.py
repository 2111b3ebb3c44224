"""The environment a step runs in on a worker shared by several Xero organisations (docs/architecture.md
§4.4 and README "Running at scale").

Each organisation is synced by runs of its own, from a code location whose environment names it
(`XERO_TENANT_ID`, its `SFXERO_STAGING_URL`, ...), and every run carries the organisation in its
`sfxero/tenant` tag. A Celery worker runs steps of any run with its own environment, so a worker that
serves several organisations is given one env file per organisation,
`<SFXERO_TENANT_ENV_DIR>/<tenant>.env` (the `KEY=value` lines of `settings.load_env_file`, as for that
organisation's code location), and each step runs with its run's file applied over the worker's
environment. `step_environment` decides what to apply:

- the run names no organisation, or the worker's own (`XERO_TENANT_ID`, `default` when unset), and
  there is no file for it: nothing; the worker's environment serves it, as with one organisation;
- there is a file for the run's organisation: its values (it must name that organisation itself);
- any other organisation: refused, naming the file that is missing. A step never runs with another
  organisation's staging database or token store: the worker runs it with `REFUSED_VAR` set to why,
  and every staging engine (`settings.engine_for`) is refused with that line, which fails the step (a
  step that fails inside Dagster lets the run end; an error raised by the Celery task instead left
  dagster-celery waiting for the run's other steps for ever).

Pure logic plus `environment_applied`, which sets variables for a block and puts them back (a Celery
prefork pool process runs one step at a time, so the process environment is the step's).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from .errors import ConfigError
from .settings import REFUSED_VAR, TENANT_ENV_DIR, load_env_file, refusal

__all__ = ["DEFAULT_TENANT", "REFUSED_VAR", "TENANT_ENV_DIR", "TENANT_TAG", "environment_applied", "own_tenant",
           "refusal", "step_environment", "tenant_env_file"]

TENANT_TAG = "sfxero/tenant"
#: The tenant of a run whose code location names none (`XERO_TENANT_ID` unset: a custom connection).
DEFAULT_TENANT = "default"


def own_tenant(environ: Mapping[str, str]) -> str:
    """The organisation an environment names (`XERO_TENANT_ID`), or `default`."""
    return (environ.get("XERO_TENANT_ID") or "").strip() or DEFAULT_TENANT


def tenant_env_file(directory: str, tenant: str) -> Path:
    if not tenant or "/" in tenant or "\\" in tenant or tenant.startswith("."):
        raise ConfigError(TENANT_TAG, f"{tenant!r} is not an organisation id a file can be named by")
    return Path(directory) / f"{tenant}.env"


def step_environment(tenant: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables to set for a step of a run tagged `tenant`, on a worker with `environ`."""
    directory = (environ.get(TENANT_ENV_DIR) or "").strip()
    path = tenant_env_file(directory, tenant) if tenant and directory else None
    if path is not None and path.is_file():
        values = _read(path, tenant)
        if tenant == DEFAULT_TENANT and own_tenant(environ) != DEFAULT_TENANT:
            raise ConfigError(TENANT_ENV_DIR, f"{path} names no organisation (no XERO_TENANT_ID) but this worker's "
                              f"XERO_TENANT_ID is {own_tenant(environ)}: unset it on workers serving several")
        return values
    if not tenant or tenant == own_tenant(environ):
        return {}
    where = str(path) if path is not None else f"${TENANT_ENV_DIR}/{tenant}.env"
    raise ConfigError(TENANT_ENV_DIR, f"this worker serves organisation {own_tenant(environ)}; a step of "
                      f"organisation {tenant} needs {where}, the environment of that organisation's code location")


def _read(path: Path, tenant: str) -> dict[str, str]:
    values = load_env_file(path, environ={})
    named = own_tenant(values)
    if named != tenant:
        raise ConfigError(TENANT_ENV_DIR, f"{path} is for organisation {tenant} but its XERO_TENANT_ID "
                          f"names {named}")
    return dict(values)


@contextlib.contextmanager
def environment_applied(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in `os.environ` for the block; what was there before (or its absence) afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
