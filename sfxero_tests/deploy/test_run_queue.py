"""`sfxero sync` honours the run queue on a daemon-backed instance: two pushes started together run one
after the other, and every record is written once.

Real parts: a `dagster-daemon run` subprocess on a dagster-postgres instance configured as in
production (`deploy/postgres/dagster.yaml`: a `QueuedRunCoordinator` with the per-tenant limits), a
fresh sandbox and a PostgreSQL staging database. The plan is made first by in-process runs on an
ephemeral instance; then two `sfxero sync --stage push` processes start at once. Each submits its runs
to the queue (they carry the daemon-launched origin, not the CLI's launcher tags); the queue admits
one `push_xero_job` per tenant, so the second waits, saying behind which run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from sfxero_pipelines.bench.scale_bench import psycopg2_url
from sfxero_pipelines.cli.abandoned import PID_TAG
from sfxero_pipelines.defs.staging.resources import StagingDatabase

from ..automation.test_failure_origin import Daemon
from ..conftest import pg_database
from ..push.conftest import Cycle, assert_each_record_once, cli_env, set_latency, start_push

ROOT = Path(__file__).resolve().parents[2]


def _wait_for_daemon(instance: dg.DagsterInstance, daemon: Daemon, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while "QUEUED_RUN_COORDINATOR" not in instance.get_daemon_heartbeats():
        assert daemon.proc.poll() is None, "the daemon exited:\n" + "".join(daemon.lines[-40:])
        assert time.monotonic() < deadline, "no run-queue heartbeat:\n" + "".join(daemon.lines[-40:])
        time.sleep(1)


def _finish(proc, daemon: Daemon, timeout: float = 420) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"sync did not finish:\n{out}\n{err[-2000:]}\ndaemon:\n" + "".join(daemon.lines[-60:]))


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(900)
def test_two_syncs_on_a_daemon_instance_queue_one_behind_the_other(make_sandbox, pg_url, tmp_path, monkeypatch):
    server = make_sandbox(size="small", seed=42, xero_limits={"per_minute": 100_000, "app_per_minute": 100_000})
    staging = StagingDatabase(url=pg_url)
    try:
        assert Cycle(server, staging).plan_to_push()["R1"]["create"] > 0
    finally:
        staging.dispose()
    with pg_database() as instance_url:
        env = {**os.environ, **cli_env(server, tmp_path, pg_url), "DAGSTER_PG_URL": psycopg2_url(instance_url),
               "PYTHONPATH": str(ROOT), "SFXERO_EXECUTOR": "in_process"}  # one process a run: 2 cores, shared
        # Only the two CLIs launch pushes (the push sensor would add a third, at its own time).
        config = Path(env["SFXERO_CONFIG"])
        config.write_text(config.read_text() + "\nschedules:\n  enabled: false\n")
        home = Path(env["DAGSTER_HOME"])
        home.mkdir()
        shutil.copy(ROOT / "deploy/postgres/dagster.yaml", home / "dagster.yaml")
        for key in ("DAGSTER_HOME", "DAGSTER_PG_URL"):
            monkeypatch.setenv(key, env[key])
        daemon = Daemon(ROOT / "workspace.yaml", env)
        try:
            with dg.DagsterInstance.get() as instance:
                _wait_for_daemon(instance, daemon)
                set_latency(server, 100)  # each push takes a while: the two surely meet in the queue
                pushes = [start_push(env), start_push(env)]
                outputs = [_finish(p, daemon) for p in pushes]
                for push, (out, err) in zip(pushes, outputs):
                    assert push.returncode in (0, 1), out + err
                    assert "- push: ok" in out, out + err

                xero_runs = instance.get_runs(filters=dg.RunsFilter(job_name="push_xero_job"))
                assert len(xero_runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in xero_runs)
                # Launched by the daemon from the queue, not executed in the CLI's process.
                assert all(r.remote_job_origin is not None and PID_TAG not in r.tags for r in xero_runs)
                spans = sorted((rec.start_time, rec.end_time) for rec in
                               (instance.get_run_record_by_id(r.run_id) for r in xero_runs))
                overlaps = [(a, b) for a, b in zip(spans, spans[1:]) if a[1] > b[0]]
                assert not overlaps, f"two pushes to one tenant ran at once: {overlaps}"
        finally:
            daemon.stop()

    said = "".join(out for out, _ in outputs)
    assert "queued, behind run" in said and "push_xero_job" in said, said
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            writers = conn.execute(sa.text("SELECT DISTINCT run_id FROM sync_ledger WHERE target_system = 'xero'")).all()
    finally:
        engine.dispose()
    assert len(writers) == 1, writers
    assert_each_record_once(server, pg_url)
