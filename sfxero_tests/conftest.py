"""Shared fixtures: a running sandbox (both emulators over real HTTPS) and real staging databases.

- `sandbox`: one SandboxServer for the whole session (size small, seed 42). Treat it as read-only,
  or call `sandbox_reset(sandbox)` after mutating it.
- `make_sandbox(**kwargs)`: a fresh SandboxServer for tests that mutate data, change faults or need
  fixtures; stopped at the end of the test.
- `sandbox_env`: the sandbox's connection settings applied to os.environ for the test.
- `pg_url`: a fresh PostgreSQL database on the real server (127.0.0.1:5432), dropped afterwards.
- `staging`: a StagingDatabase, once on SQLite and once on the real PostgreSQL (parametrized);
  `sqlite_staging`: one on SQLite only.
- `xero_resource(server, **overrides)`, `salesforce_resource(server, **overrides)`: the real
  resources pointed at a sandbox (what every folder's tests build); FAST_XERO lifts Xero's minute
  limit for tests that count calls rather than wait on the budget.

Lanes (`make test-fast` runs `-m "not postgres and not subprocess and not slow"`): markers are given
here at collection, so a new test lands in its lane without saying so —
- `postgres`: the test uses `pg_url` (directly or through a fixture), or a parameter is "postgresql"
  (the `staging` fixture's and any backend switch calling `getfixturevalue("pg_url")`);
- `subprocess`: the test or one of its fixtures calls, directly or through a helper written in
  `sfxero_tests`, anything from `subprocess` or `multiprocessing`;
- `slow`: the test uses a fixture in SLOW_FIXTURES (a large sandbox) or, like `subprocess`, reaches a
  helper in SLOW_HELPERS (the whole cycle as real runs), or says `@pytest.mark.slow` (the benches).
Both rules are enforced while the test runs: `pg_url`, and starting the project's code or a CLI in
a child process, fail in a test outside their lane, naming the marker to add.
For pytest-xdist (`--dist loadgroup`), tests sharing a module- or class-scoped fixture are grouped
on one worker, so that fixture is built once; tests using a package-scoped one, by package.
"""

from __future__ import annotations

import json
import os
import subprocess
import types
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from sfxero_pipelines.sandbox.runner import SandboxServer

PG_ADMIN_URL = os.environ.get("SFXERO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

#: Fixtures that build a large sandbox: tests using them are `slow`.
SLOW_FIXTURES = {"medium_sandbox"}
#: Helpers that run the whole cycle (extract, check, reconcile, push) as real runs: `slow` too
#: (the revoked-connection test's cycle runs it through the stored Xero connection; the finance recipe
#: example's runs the stages in process).
SLOW_HELPERS = {"sfxero_tests.push.conftest.Cycle", "sfxero_tests.tokens.test_revoked_cycle.StoredConnectionCycle",
                "sfxero_tests.recipes.test_finance_example_e2e.run_cycle"}
#: What starting a child process goes through; a test reaching any of these is `subprocess`.
PROCESS_MODULES = ("subprocess", "multiprocessing")


def _is_process_api(value, module: str) -> bool:
    return module.split(".")[0] in PROCESS_MODULES


def _is_slow_helper(value, module: str) -> bool:
    return f"{module}.{getattr(value, '__qualname__', '')}" in SLOW_HELPERS


def _reaches(func, wanted, seen: set) -> bool:
    """Whether `func` (a test, a fixture, a helper) names something `wanted`, itself or through the
    helpers it calls that are written in sfxero_tests (library code is not followed: its own use of
    subprocess would mark tests that never reach it)."""
    if isinstance(func, type):  # a helper class: its methods
        return any(_reaches(f, wanted, seen) for f in vars(func).values())
    code = getattr(func, "__code__", None)
    if code is None or code in seen:
        return False
    seen.add(code)
    env = getattr(func, "__globals__", {})
    codes = [code]
    while codes:
        current = codes.pop()
        codes.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
        for name in current.co_names:
            value = env.get(name)
            module = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
            if not isinstance(module, str):
                continue
            if wanted(value, module):
                return True
            if module.startswith("sfxero_tests") and _reaches(value, wanted, seen):
                return True
    return False


def _fixture_defs(item) -> list:
    info = getattr(item, "_fixtureinfo", None)
    return [d for defs in (info.name2fixturedefs.values() if info else ()) for d in defs]


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group markers
def pytest_collection_modifyitems(config, items):
    grouping = config.pluginmanager.hasplugin("xdist")  # its marker is unknown under `-p no:xdist`
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        defs = _fixture_defs(item)
        if "pg_url" in names or any(isinstance(v, str) and v == "postgresql" for v in params.values()):
            item.add_marker(pytest.mark.postgres)
        # The lane guard below names subprocess to patch it; it starts nothing.
        funcs = [getattr(item, "function", None), *(d.func for d in defs if d.argname != "_stay_in_lane")]
        if any(_reaches(f, _is_process_api, seen) for seen in [set()] for f in funcs):
            item.add_marker(pytest.mark.subprocess)
        if names & SLOW_FIXTURES or any(_reaches(f, _is_slow_helper, seen) for seen in [set()] for f in funcs):
            item.add_marker(pytest.mark.slow)
        shared = [d for d in defs if d.scope in ("module", "class", "package")]
        if shared and grouping and not item.get_closest_marker("xdist_group"):
            # A package fixture groups its package's tests that use it; the others, their module's.
            package = next((d.baseid for d in shared if d.scope == "package"), None)
            item.add_marker(pytest.mark.xdist_group(package or item.nodeid.split("::")[0]))


def _is_deliberate(args) -> bool:
    """A child running this project's code or a CLI (`python -m sfxero_pipelines.cli`, a crash child,
    the `sfxero` or `dagster` console script): what a test starts on purpose, the subprocess lane.
    Helpers a library starts on its own (Dagster's compute-log `tail` and its orphan watcher on a
    persistent instance) are not a lane."""
    argv = [os.fsdecode(a) for a in ([args] if isinstance(args, (str, bytes, os.PathLike)) else args)]
    program, rest = Path(argv[0]).name, argv[1:]
    if program in ("sfxero", "dagster"):
        return True
    if not program.startswith("python") or not rest:
        return False
    if rest[0] == "-m" and len(rest) > 1:
        return rest[1].split(".")[0] in ("sfxero_pipelines", "sfxero_tests", "dagster")
    if rest[0] == "-c" and len(rest) > 1:
        return "sfxero" in rest[1]
    return "site-packages" not in rest[0]


@pytest.fixture(autouse=True)
def _stay_in_lane(request, monkeypatch):
    """A test outside the `subprocess` lane that starts a process on purpose fails, naming the marker."""
    if request.node.get_closest_marker("subprocess"):
        yield
        return
    execute_child = subprocess.Popen._execute_child

    def refuse(self, args, *rest, **kwargs):
        if _is_deliberate(args):
            pytest.fail(f"{request.node.nodeid} starts a process ({args!r}) but is not in the subprocess lane: "
                        "add @pytest.mark.subprocess", pytrace=False)
        return execute_child(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)
    yield


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
def pg_url(request) -> Iterator[str]:
    """A throwaway database on the real PostgreSQL server, dropped afterwards."""
    if not request.node.get_closest_marker("postgres"):
        pytest.fail(f"{request.node.nodeid} uses PostgreSQL but is not in the postgres lane: a parameter "
                    "'postgresql' (as the staging fixture's) or @pytest.mark.postgres puts it there", pytrace=False)
    with pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def staging(request, tmp_path):
    from sfxero_pipelines.defs.staging.resources import StagingDatabase

    url = f"sqlite:///{tmp_path / 'staging.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    db = StagingDatabase(url=url)
    yield db
    db.dispose()


@pytest.fixture
def sqlite_staging(tmp_path):
    from sfxero_pipelines.defs.staging.resources import StagingDatabase

    db = StagingDatabase(url=f"sqlite:///{tmp_path / 'staging.db'}")
    yield db
    db.dispose()


FAST_XERO = {"per_minute": 100_000, "app_per_minute": 100_000}


def xero_resource(server: SandboxServer, **overrides):
    from sfxero_pipelines.defs.xero.resources import XeroResource

    env = server.env
    return XeroResource(**{
        "api_url": env["XERO_API_URL"], "identity_url": env["XERO_IDENTITY_URL"], "client_id": env["XERO_CLIENT_ID"],
        "client_secret": env["XERO_CLIENT_SECRET"], "tenant_id": env["XERO_TENANT_ID"],
        "ca_bundle": env["SFXERO_CA_BUNDLE"], **overrides})


def salesforce_resource(server: SandboxServer, **overrides):
    from sfxero_pipelines.defs.salesforce.resources import SalesforceResource

    env = server.env
    return SalesforceResource(**{
        "login_url": env["SALESFORCE_LOGIN_URL"], "client_id": env["SALESFORCE_CLIENT_ID"],
        "client_secret": env["SALESFORCE_CLIENT_SECRET"], "ca_bundle": env["SFXERO_CA_BUNDLE"],
        "api_version": env["SALESFORCE_API_VERSION"], **overrides})


def load_json(path: Path):
    return json.loads(Path(path).read_text())
