"""Where sfxero reads its environment: one place for every variable of docs/architecture.md §8.

Secrets are never read into plain strings here (resources take them as `dg.EnvVar`, resolved at
launch); this module decides only *which* backend and endpoints are in play and validates the
non-secret settings, raising `ConfigError` that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .errors import ConfigError

DEFAULT_STAGING_URL = "sqlite:///.sfxero/staging.db"
DEFAULT_DAGSTER_HOME = ".dagster_home"
DEFAULT_SANDBOX_ENV_FILE = Path(".sfxero/sandbox.env")
SUPPORTED_STAGING_DRIVERS = ("sqlite", "postgresql", "postgresql+psycopg")

SALESFORCE_CREDENTIAL_VARS = ("SALESFORCE_LOGIN_URL", "SALESFORCE_CLIENT_ID")
XERO_CREDENTIAL_VARS = ("XERO_CLIENT_ID", "XERO_CLIENT_SECRET")


def staging_url(environ: Mapping[str, str] = os.environ) -> str:
    """The staging database URL, validated: SQLite (default) or PostgreSQL through psycopg 3."""
    url = environ.get("SFXERO_STAGING_URL") or DEFAULT_STAGING_URL
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("SFXERO_STAGING_URL", f"'{_mask(url)}' is not a database URL "
                          "(expected sqlite:///path.db or postgresql+psycopg://user@host/db)") from None
    if parsed.drivername not in SUPPORTED_STAGING_DRIVERS:
        raise ConfigError("SFXERO_STAGING_URL", f"unsupported database '{parsed.drivername}' "
                          "(use sqlite:///... or postgresql+psycopg://...)")
    if parsed.drivername == "postgresql":
        # Pin the driver we ship (psycopg 3); SQLAlchemy's bare "postgresql" means psycopg2.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _mask(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1] if "@" in url else url


def display_url(url: str) -> str:
    """A URL fit for logs and metadata: the password replaced by ***."""
    return _mask(url)


def check_ca_bundle(path: str | None) -> str | None:
    """SFXERO_CA_BUNDLE, validated: unset, or a readable file of PEM CA certificates. A missing or
    unusable file is a ConfigError naming the variable (it would fail every connection, and no
    retry can fix it)."""
    if not path:
        return None
    import ssl

    if not Path(path).is_file():
        raise ConfigError("SFXERO_CA_BUNDLE", f"{path} does not exist or is not a file")
    try:
        # A bare context: only this file is parsed, not the system's roots as well.
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as exc:
        why = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError("SFXERO_CA_BUNDLE", f"{path} is not a usable PEM CA file ({why})") from None
    return path


def dagster_home(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).resolve()


def load_env_file(path: Path, environ: dict | None = None, override: bool = False) -> dict[str, str]:
    """Read KEY="value" lines (as the sandbox writes them) into `environ` (default os.environ)."""
    import json

    target = os.environ if environ is None else environ
    loaded: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if value.startswith('"'):
            value = json.loads(value)
        loaded[key.strip()] = value
        if override or key.strip() not in target:
            target[key.strip()] = value
    return loaded


def has_salesforce_credentials(environ: Mapping[str, str] = os.environ) -> bool:
    return all(environ.get(v) for v in SALESFORCE_CREDENTIAL_VARS)


def has_xero_credentials(environ: Mapping[str, str] = os.environ) -> bool:
    return all(environ.get(v) for v in XERO_CREDENTIAL_VARS)


@dataclass(frozen=True)
class Endpoints:
    """Non-secret connection facts, for `sfxero status` and run metadata."""

    salesforce_login_url: str | None
    xero_api_url: str
    sandbox: bool

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Endpoints":
        return cls(
            salesforce_login_url=environ.get("SALESFORCE_LOGIN_URL"),
            xero_api_url=environ.get("XERO_API_URL", "https://api.xero.com/api.xro/2.0"),
            sandbox=environ.get("SFXERO_SANDBOX") == "1",
        )


#: Set by a Celery worker, for a step it has no environment for (`tenant_env.step_environment`), to why.
#: Every staging engine (the staging resource's, the token store's) is refused with it, so the step
#: fails inside Dagster before it reads or writes the worker's own organisation's database.
REFUSED_VAR = "SFXERO_STEP_REFUSED"
#: Where a worker serving several organisations finds each one's environment (`tenant_env.py`).
TENANT_ENV_DIR = "SFXERO_TENANT_ENV_DIR"


def refusal(environ: Mapping[str, str] = os.environ) -> ConfigError | None:
    """Why the worker refused the step running with `environ`, or None."""
    problem = environ.get(REFUSED_VAR)
    return ConfigError(TENANT_ENV_DIR, problem) if problem else None


def engine_for(url: str) -> sa.Engine:
    """Create a SQLAlchemy engine tuned for staging loads on either backend."""
    if (refused := refusal()) is not None:
        raise refused
    url = staging_url({"SFXERO_STAGING_URL": url})
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            # Staged rows are wide (typed columns plus the raw JSON, ~2 KB): 4 KiB pages held one or
            # two each, so a load wrote a third more pages than with 16 KiB and its commits cost 2-3x
            # as much. Takes effect only on a new, empty database (an existing one keeps its size).
            cur.execute("PRAGMA page_size=16384")
            # WAL lets the Dagster UI read staging while a run writes; NORMAL sync is safe under WAL.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)
