"""The staging database in trouble during a run: PostgreSQL restarted mid-run (a server of the test's
own, never the shared one), and the staging database held locked by another process. The run waits
or fails in one clear line, never hangs; the next `sfxero sync` converges to a clean run's staged
tables and sandbox (`conftest.py` fingerprints), with no duplicate written.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from .conftest import RUN_TIMEOUT_S, converged, sandbox_fingerprint, staged_fingerprint, sync
from .own_postgres import OwnPostgres


@pytest.fixture(scope="module")
def own_pg():
    server = OwnPostgres().start()
    yield server
    server.stop()


def _own_database(own_pg):
    @contextlib.contextmanager
    def factory():
        yield own_pg.create_database(f"sfxero_chaos_{uuid.uuid4().hex[:8]}")
    return factory


def _table_has_rows(url: str, table: str) -> bool:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(sa.inspect(conn).has_table(table)
                        and conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def _no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.timeout(1800)  # a clean run, a killed one and the next one, on a loaded machine
@pytest.mark.postgres  # a PostgreSQL server of its own (the binaries), never the shared one
@pytest.mark.chaos  # a cluster of its own started and restarted: minutes each, make test-chaos runs both
@pytest.mark.parametrize("during, table", [("extract", "sf_contact"), ("push", "sync_ledger")])
def test_postgresql_restarted_mid_run_then_the_next_sync_converges(chaos, own_pg, during, table):
    clean = chaos.clean("own-postgresql", _own_database(own_pg))
    url = own_pg.create_database(f"sfxero_chaos_{uuid.uuid4().hex[:8]}")
    env = chaos.fresh(url)
    run = subprocess.Popen([sys.executable, "-m", "sfxero_pipelines.cli", "sync", "--stage", "all"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not _table_has_rows(url, table):
        assert run.poll() is None, f"the run ended before {during} wrote to {table}"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    own_pg.restart()
    out, err = run.communicate(timeout=RUN_TIMEOUT_S)  # no hang: the run ends, well or failed
    interrupted = subprocess.CompletedProcess(run.args, run.returncode, out, err)
    _no_traceback(interrupted)

    after = sync(env)
    chaos.assert_as_clean("own-postgresql", url, after, clean)


def _hold_sqlite(path: str, seconds: float, held: threading.Event) -> None:
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    held.set()
    time.sleep(seconds)
    conn.execute("ROLLBACK")
    conn.close()


def _hold_postgres(url: str, seconds: float, held: threading.Event) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in ("sf_account", "sync_plan", "sync_ledger"):
            conn.execute(sa.text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        held.set()
        time.sleep(seconds)
    engine.dispose()


#: Long enough to span the run's first writes, short of SQLite's busy timeout (60 s): the run waits.
HOLD_S = 20


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.timeout(1800)  # a clean run, a killed one and the next one, on a loaded machine
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.chaos)])
def test_a_staging_database_locked_by_another_process_makes_the_run_wait(chaos, request, backend):
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else chaos.sqlite_url()
    # A first sync creates the tables (and is the clean run: a second sync changes nothing).
    env = chaos.fresh(url)
    first = sync(env)
    assert converged(first), first.stdout[-3000:] + first.stderr[-3000:]
    clean = (first.returncode, staged_fingerprint(url), sandbox_fingerprint(chaos.server))

    held = threading.Event()
    hold = _hold_postgres if backend == "postgresql" else _hold_sqlite
    holder = threading.Thread(target=hold, args=(url if backend == "postgresql" else url.removeprefix("sqlite:///"),
                                                 HOLD_S, held), daemon=True)
    holder.start()
    assert held.wait(60)
    locked = sync(env)
    holder.join()
    _no_traceback(locked)
    if locked.returncode not in (0, 1) or not converged(locked):
        # It may fail, but in one clear line naming the database, and the next run converges.
        assert "lock" in (locked.stdout + locked.stderr).lower(), locked.stdout[-3000:] + locked.stderr[-3000:]
        locked = sync(env)
    chaos.assert_as_clean(backend, url, locked, clean)
