"""A push killed with `kill -9` must not block later syncs, and Ctrl-C / SIGTERM always stop a CLI run.

The real `sfxero` command runs in subprocesses on one persisted instance (DAGSTER_HOME under tmp_path)
against a fresh sandbox whose answers are slowed down (`latency_ms`), so a push is still writing when
it is killed. The plan is staged once in-process (real extract/check/reconcile runs); the CLI pushes it.
Afterwards the emulators must hold each Contact and invoice once, and the ledger no unknown outcome.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import dagster as dg
import pytest

from sfxero_pipelines.defs.staging.resources import StagingDatabase
from sfxero_pipelines.defs.sync.tags import xero_pool

from ..test_cli import sfxero
from .conftest import Cycle, api_writes, assert_each_record_once, cli_env, runs, set_latency, start_push, wait_for


@pytest.fixture
def planned(make_sandbox, tmp_path, monkeypatch):
    """(server, env for the CLI): a staged plan with writes to make, a sandbox answering slowly."""
    server = make_sandbox(size="small", seed=42, xero_limits={"per_minute": 100_000, "app_per_minute": 100_000})
    staging_url = f"sqlite:///{tmp_path / 'staging.db'}"
    db = StagingDatabase(url=staging_url)
    summary = Cycle(server, db).plan_to_push()
    db.dispose()
    assert summary["R1"]["create"] > 0
    env = cli_env(server, tmp_path, staging_url)
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    set_latency(server, 300)
    return server, env


def test_a_push_killed_with_sigkill_is_reaped_and_the_next_sync_resumes(planned):
    server, env = planned
    writes_at_start = api_writes(server)
    push = start_push(env)
    wait_for(lambda: api_writes(server) >= writes_at_start + 3 or push.poll() is not None, "the push's writes")
    os.kill(push.pid, signal.SIGKILL)
    push.communicate(timeout=30)
    assert push.returncode == -signal.SIGKILL, "the push finished before it could be killed"
    [dead] = runs("push_xero_job")
    assert dead.status == dg.DagsterRunStatus.STARTED  # what the dead process left behind

    # `sfxero status` notices the dead launcher, says so and marks the run failed.
    status = sfxero("status", env=env)
    assert f"run {dead.run_id[:8]} was abandoned by a dead process" in status.stdout, status.stdout + status.stderr
    assert "marked failed; slots freed" in status.stdout
    [dead] = runs("push_xero_job")
    assert dead.status == dg.DagsterRunStatus.FAILURE

    # The next sync is not blocked by the dead run's slot: it resumes from the ledger.
    set_latency(server, 0)
    again = sfxero("sync", "--stage", "push", env=env)
    assert again.returncode in (0, 1), again.stdout + again.stderr
    assert "- push: ok" in again.stdout, again.stdout + again.stderr
    assert_each_record_once(server, env["SFXERO_STAGING_URL"])


def test_the_next_sync_reaps_a_run_abandoned_by_a_dead_process(planned):
    """No `status` in between: the sync itself notices the dead run, frees its slot and says so."""
    server, env = planned
    push = start_push(env)
    wait_for(lambda: api_writes(server) >= 3 or push.poll() is not None, "the push's writes")
    os.kill(push.pid, signal.SIGKILL)
    push.communicate(timeout=30)
    assert push.returncode == -signal.SIGKILL
    [dead] = runs("push_xero_job")
    set_latency(server, 0)
    again = sfxero("sync", "--stage", "push", env=env)
    assert f"run {dead.run_id[:8]} was abandoned by a dead process" in again.stdout, again.stdout + again.stderr
    assert "- push: ok" in again.stdout, again.stdout + again.stderr
    assert_each_record_once(server, env["SFXERO_STAGING_URL"])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_sync_waiting_for_a_slot(planned, signum):
    server, env = planned
    first = start_push(env)
    wait_for(lambda: api_writes(server) >= 1 or first.poll() is not None, "the first push's writes")
    assert first.poll() is None, "the first push finished before the second started"
    set_latency(server, 1500)  # the first push keeps its Xero pool slot while the second one starts
    [holder] = runs("push_xero_job")
    second = start_push(env)
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(second.stdout), daemon=True)
    reader.start()
    # The second push waits for the slot of the organisation's Xero pool the first one holds (it says so;
    # before it did, its run waited inside Dagster).
    pool = xero_pool(env["XERO_TENANT_ID"])
    wait_for(lambda: any(f"waiting for a {pool} slot" in line for line in said) or len(runs("push_xero_job")) == 2
             or second.poll() is not None, "the second push to wait")
    time.sleep(1)
    assert first.poll() is None and second.poll() is None
    second.send_signal(signum)
    try:
        second.wait(timeout=15)
    except subprocess.TimeoutExpired:
        second.kill()
        second.wait()
        pytest.fail(f"the waiting sync ignored {signum.name}")
    reader.join(timeout=10)
    err = second.stderr.read()
    assert second.returncode in (130, 143, 1), (second.returncode, said, err)
    assert "Traceback" not in err
    [line] = err.strip().splitlines()[-1:]
    assert "interrupted" in line and signum.name in line, err
    assert any(f"held by run {holder.run_id[:8]} (push_xero_job, pid {first.pid} " in line for line in said), said

    set_latency(server, 0)
    first.communicate(timeout=120)
    assert first.returncode in (0, 1)
    # Nothing is left STARTED by the interrupted sync, and nothing was written twice.
    assert all(run.is_finished for run in runs("push_xero_job"))
    assert_each_record_once(server, env["SFXERO_STAGING_URL"])
