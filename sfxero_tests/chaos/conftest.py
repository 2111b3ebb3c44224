"""Chaos helpers: `sfxero sync` killed at a named point (`kill_child.py`), the run after it, and what a
clean run leaves behind to compare with.

A *fingerprint* is what must not depend on when a run was killed: every staged `sf_*` / `xero_*` row
(typed columns; `raw` and the load and modification timestamps left out, ids the sandbox generates
masked) and every record the emulators hold, per object (timestamps and generated ids masked). Equal
fingerprints mean no record doubled, none missing and no staged value different from a clean run's.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ..conftest import sandbox_call

CONFIG = Path(__file__).with_name("chaos.yaml")
#: A whole cycle on this machine takes well under this; a run that takes longer is hung.
RUN_TIMEOUT_S = 600
#: "After kill -9 at any point, `sfxero sync` completes within the time of a normal run": the run after
#: a kill may take the module's clean run (same sandbox, backend and config: the normal run) times
#: AFTER_KILL_FACTOR plus AFTER_KILL_SLACK_S. It has no more to do than the clean run (its cursors and
#: the ledger skip what the killed run finished); on top, it reaps the dead run (same host: a pid check
#: and one update, well under a second). The factor is for load, not work: the clean run is one sample,
#: minutes before, on a 2-core machine whose other xdist worker runs other syncs, so its wall time swings
#: with the load of its moment (measured on a shared machine at load 12-20, the run after the kill took
#: 0.50-0.97 of the clean run in the three cases `make test` runs). The slack is the fixed cost that does
#: not scale with the run (interpreter and Dagster start-up, the instance's first open), a few seconds
#: that a short clean run on an idle machine would otherwise have no room for.
AFTER_KILL_FACTOR, AFTER_KILL_SLACK_S = 1.5, 10.0
#: Staged columns a run's timing decides, not the data.
TIMING_COLUMNS = {"raw", "extracted_at", "modified_at"}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}[^'\"]*|/Date\(\d+[+-]?\d*\)/")
#: Emulator objects whose records a sync reads or writes.
SANDBOX_OBJECTS = {"sf": ("Account", "Contact", "Opportunity", "OpportunityLineItem"),
                   "xero": ("Contacts", "Invoices")}


def mask(value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(mask(v) for v in value) + ")"
    if isinstance(value, dt.datetime):
        return "<ts>"
    return _TIMESTAMP.sub("<ts>", _UUID.sub("<id>", repr(value)))


def staged_fingerprint(url: str) -> dict[str, list[str]]:
    engine = sa.create_engine(url)
    try:
        tables = [t for t in sa.inspect(engine).get_table_names() if t.startswith(("sf_", "xero_"))]
        out = {}
        with engine.connect() as conn:
            for name in sorted(tables):
                table = sa.Table(name, sa.MetaData(), autoload_with=conn)
                cols = [c for c in table.columns if c.name not in TIMING_COLUMNS]
                rows = conn.execute(sa.select(*cols)).all()
                out[name] = sorted(mask(tuple(r)) for r in rows)
        return out
    finally:
        engine.dispose()


def sandbox_fingerprint(server) -> dict[str, list[str]]:
    out = {}
    for system, objects in SANDBOX_OBJECTS.items():
        for obj in objects:
            recs = sandbox_call(server, system, "GET", f"/__sandbox/records/{obj}")
            out[f"{system}.{obj}"] = sorted(mask(sorted(r.items())) for r in recs)
    return out


def duplicates(server) -> dict[str, list]:
    """Live Xero Contacts sharing a ContactNumber, ACCREC invoices sharing a Reference."""
    def live(recs):
        return [r for r in recs if r.get("Status") not in ("DELETED", "VOIDED") and not r.get("_deleted")]
    contacts = collections.Counter(c.get("ContactNumber") for c in live(sandbox_call(server, "xero", "GET",
                                   "/__sandbox/records/Contacts")) if c.get("ContactNumber"))
    invoices = collections.Counter(i.get("Reference") for i in live(sandbox_call(server, "xero", "GET",
                                   "/__sandbox/records/Invoices")) if i.get("Type") == "ACCREC" and i.get("Reference"))
    return {"contacts": [k for k, n in contacts.items() if n > 1], "invoices": [k for k, n in invoices.items() if n > 1]}


def diff(expected: dict[str, list[str]], got: dict[str, list[str]]) -> list[str]:
    """One line per table or object that differs: what the clean run has that this one lacks, and the reverse."""
    lines = []
    for name in sorted(set(expected) | set(got)):
        a, b = collections.Counter(expected.get(name, [])), collections.Counter(got.get(name, []))
        if a != b:
            missing, extra = list((a - b).elements()), list((b - a).elements())
            lines.append(f"{name}: {len(missing)} missing, {len(extra)} extra; "
                         f"missing {missing[:1]} extra {extra[:1]}")
    return lines


def scratch_dir(prefix: str) -> Path:
    """A directory for Dagster's event log and SQLite staging: on tmpfs when there is one (both commit
    per event or page; a disk makes every run several times slower)."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix=prefix, dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))


def env_for(server, staging_url: str, home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {**os.environ, **server.env, "SFXERO_STAGING_URL": staging_url, "DAGSTER_HOME": str(home),
            "SFXERO_CONFIG": str(CONFIG)}


def sync(env: dict, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
    """`sfxero sync --stage all` as a user runs it; a run past `timeout` is a hang (the test fails)."""
    return subprocess.run([sys.executable, "-m", "sfxero_pipelines.cli", "sync", "--stage", "all"], env=env,
                          capture_output=True, text=True, timeout=timeout)


def killed_sync(env: dict, point: str, nth: int, when: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sfxero_tests.chaos.kill_child", point, str(nth), when], env=env,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


def converged(result: subprocess.CompletedProcess) -> bool:
    return "Converged: the second plan has nothing to create or update." in result.stdout


class Chaos:
    """One sandbox for a module's kill points, reset before each, and the clean run of each backend."""

    def __init__(self, server, workdir: Path) -> None:
        self.server, self.workdir = server, workdir
        self._clean: dict[str, tuple] = {}
        #: backend → seconds the clean run took (the "normal run" the run after a kill is bounded by)
        self.clean_seconds: dict[str, float] = {}
        self._n = 0

    def fresh(self, staging_url: str) -> dict[str, str]:
        """Sandbox back to its seeded state, a new Dagster instance: what a first sync starts from."""
        for system in ("sf", "xero"):
            sandbox_call(self.server, system, "POST", "/__sandbox/reset")
        self._n += 1
        return env_for(self.server, staging_url, self.workdir / f"home-{self._n}")

    def sqlite_url(self) -> str:
        self._n += 1
        return f"sqlite:///{self.workdir / f'staging-{self._n}.db'}"

    def clean(self, backend: str, staging_url_factory) -> tuple:
        """(exit code, staged fingerprint, sandbox fingerprint) of one uninterrupted sync on `backend`."""
        if backend not in self._clean:
            with staging_url_factory() as url:
                env = self.fresh(url)
                started = time.monotonic()
                result = sync(env)
                self.clean_seconds[backend] = time.monotonic() - started
                assert converged(result), result.stdout[-3000:] + result.stderr[-3000:]
                self._clean[backend] = (result.returncode, staged_fingerprint(url), sandbox_fingerprint(self.server))
        return self._clean[backend]

    def kill_then_sync(self, staging_url: str, point: str, nth: int, when: str,
                       backend: str) -> tuple[subprocess.CompletedProcess, float]:
        """The run after a kill at the point, and how long it took; it fails past the bound of
        `backend`'s clean run (`AFTER_KILL_FACTOR`), so `clean()` must have run first."""
        clean_s = self.clean_seconds[backend]
        bound = clean_s * AFTER_KILL_FACTOR + AFTER_KILL_SLACK_S
        env = self.fresh(staging_url)
        killed = killed_sync(env, point, nth, when)
        assert killed.returncode == -9, (f"{point} #{nth} was never reached: the run ended {killed.returncode}\n"
                                         + killed.stdout[-2000:] + killed.stderr[-2000:])
        started = time.monotonic()
        try:
            after = sync(env, timeout=bound)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            pytest.fail(f"the sync after a kill at {point} #{nth} ({when}) was still running after {bound:.0f} s, "
                        f"longer than a normal run: the clean run took {clean_s:.0f} s (bound: × "
                        f"{AFTER_KILL_FACTOR} + {AFTER_KILL_SLACK_S:.0f} s)\n" + out[-3000:], pytrace=False)
        return after, time.monotonic() - started

    def assert_as_clean(self, backend: str, staging_url: str, after: subprocess.CompletedProcess, clean: tuple) -> None:
        code, staged, held = clean
        said = after.stdout[-4000:] + after.stderr[-3000:]
        assert converged(after), said
        assert after.returncode == code, said
        assert duplicates(self.server) == {"contacts": [], "invoices": []}
        assert diff(held, sandbox_fingerprint(self.server)) == [], said
        assert diff(staged, staged_fingerprint(staging_url)) == []


@pytest.fixture(scope="module")
def chaos():
    """One sandbox per test module (its cases reset it), so the modules run side by side on two workers."""
    from .kill_points import chaos_sandbox  # kill_points imports this module

    with chaos_sandbox() as sandbox:
        yield sandbox
