"""Shared fixtures: a running sandbox (both emulators over real HTTPS) and real staging databases.

- `sandbox`: one SandboxServer for the whole session (size small, seed 42). Treat it as read-only,
  or call `sandbox_reset(sandbox)` after mutating it.
- `make_sandbox(**kwargs)`: a fresh SandboxServer for tests that mutate data, change faults or need
  fixtures; stopped at the end of the test.
- `sandbox_env`: the sandbox's connection settings applied to os.environ for the test.
- `pg_url`: a fresh PostgreSQL database on the real server (127.0.0.1:5432), dropped afterwards.
- `staging`: a StagingDatabase, once on SQLite and once on the real PostgreSQL (parametrized).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from sfxero_pipelines.sandbox.runner import SandboxServer

PG_ADMIN_URL = os.environ.get("SFXERO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def sandbox_state_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sandbox-state")


@pytest.fixture(scope="session")
def sandbox(sandbox_state_dir) -> Iterator[SandboxServer]:
    with SandboxServer(size="small", seed=42, state_dir=sandbox_state_dir) as server:
        yield server


@pytest.fixture
def make_sandbox(sandbox_state_dir):
    started: list[SandboxServer] = []

    def factory(**kwargs) -> SandboxServer:
        kwargs.setdefault("state_dir", sandbox_state_dir)
        server = SandboxServer(**kwargs).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def sandbox_env(sandbox, monkeypatch) -> dict[str, str]:
    for key, value in sandbox.env.items():
        monkeypatch.setenv(key, value)
    return sandbox.env


def sandbox_call(server: SandboxServer, system: str, method: str, path: str, payload=None):
    """Call an emulator's introspection route (system 'sf' or 'xero') over HTTPS."""
    base = server.salesforce_url if system == "sf" else server.xero_url
    response = requests.request(method, base + path, json=payload, verify=str(server.tls.ca_cert), timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


def sandbox_reset(server: SandboxServer) -> None:
    for system in ("sf", "xero"):
        sandbox_call(server, system, "POST", "/__sandbox/reset")


@contextmanager
def pg_database() -> Iterator[str]:
    """A throwaway database on the real PostgreSQL server, dropped afterwards (its URL)."""
    name = f"sfxero_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throwaway database on the real PostgreSQL server, dropped afterwards."""
    with pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def staging(request, tmp_path):
    from sfxero_pipelines.defs.staging.resources import StagingDatabase

    url = f"sqlite:///{tmp_path / 'staging.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    db = StagingDatabase(url=url)
    yield db
    db.dispose()


def load_json(path: Path):
    return json.loads(Path(path).read_text())
