"""sfxero's full cycle with SFXERO_EXECUTOR=celery, its steps run by Celery workers on a real RabbitMQ.

Two workers are started with `deploy/celery/up.sh` (as subprocesses, the same venv and PYTHONPATH):
one on the `dagster` and `xero` queues, one on `dagster` and `salesforce`. The jobs of
`defs/sync/jobs.py` run on a dagster-postgres instance (`deploy/celery/dagster.yaml`) in a temp
DAGSTER_HOME, against a fresh sandbox and a fresh PostgreSQL staging database, launched from a fresh
process (`celery_driver.py`) that plans what the workers load. The event log must
show steps run by both workers, in more than one process; a second extract/check/reconcile must plan
nothing to create or update; and Xero must hold each Contact and invoice once.

The Xero push meets a lost worker on the way: once it has written to Xero, the worker running it is
killed (SIGKILL, the worker and its pool process) and started again. Its step, acknowledged only when
done (deploy/celery/dagster_celery_config.py), goes back to the queue and runs again on the restarted
worker; the ledger makes the second run resume, so the records are still written once. (One
deployment for both cases: the workers take most of this test's time.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from cryptography.fernet import Fernet

from sfxero_pipelines.bench.scale_bench import connect_organisation, psycopg2_url, wait_workers_ready
from sfxero_pipelines.defs.staging.resources import StagingDatabase
from sfxero_pipelines.defs.sync.stages import STAGE_JOBS
from sfxero_pipelines.reconcile.plan import summary
from sfxero_pipelines.staging.state.plans import load_latest
from sfxero_pipelines.tenant_env import TENANT_ENV_DIR

from ..conftest import pg_database
from ..push.conftest import SMALL_BATCHES, api_writes, set_latency, wait_for, xero_state

ROOT = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("SFXERO_TEST_CELERY_BROKER", "pyamqp://guest:guest@127.0.0.1:5672//")
BACKEND = os.environ.get("SFXERO_TEST_CELERY_BACKEND", "redis://127.0.0.1:6379/0")
WORKERS = "dagster,xero dagster,salesforce"
CYCLE_SF_OBJECTS = ["Account", "Contact", "Opportunity", "OpportunityLineItem", "Product2", "Pricebook2", "PricebookEntry"]
CYCLE_XERO_OBJECTS = ["contacts", "invoices", "items", "accounts", "tax_rates", "currencies"]
#: Worker names of this test's own: a deployment elsewhere on the broker and host keeps its names.
NAME = f"sfxero-test-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def celery_env(make_sandbox, pg_url, tmp_path, monkeypatch):
    """The sandbox, staging and instance settings, applied here and handed to the workers."""
    # Two organisations: the cycle is the first's (the workers' own XERO_TENANT_ID); a run of the second
    # comes to the same workers at the end.
    server = make_sandbox(size="small", seed=42, xero_orgs=2,
                          xero_limits={"per_minute": 100_000, "app_per_minute": 100_000})
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy/celery/dagster.yaml", home / "dagster.yaml")
    config = tmp_path / "sfxero.yaml"  # small batches: the Xero push is surely mid-way when its worker dies
    settings = yaml.safe_load((ROOT / "sfxero.yaml").read_text())
    # What R1..R5 read, not every object: each step loads the code location in a worker, so the other
    # objects' extract and check steps would cost minutes and prove nothing more about Celery. (The jobs
    # run from `celery_driver`, a fresh process reading this file as the workers do.)
    settings["extract"]["salesforce"]["objects"] = CYCLE_SF_OBJECTS
    settings["extract"]["xero"]["objects"] = CYCLE_XERO_OBJECTS
    config.write_text(yaml.safe_dump(settings) + SMALL_BATCHES)
    with pg_database() as instance_url:
        env = {**server.env, "SFXERO_STAGING_URL": pg_url, "DAGSTER_HOME": str(home), "SFXERO_CONFIG": str(config),
               "DAGSTER_PG_URL": psycopg2_url(instance_url), "SFXERO_EXECUTOR": "celery",
               "SFXERO_CELERY_BROKER": BROKER, "SFXERO_CELERY_BACKEND": BACKEND,
               # up.sh shares Xero pacing through Redis; this test's keys are its own.
               "SFXERO_PACING_NAMESPACE": f"sfxero-test:{uuid.uuid4().hex}:"}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield server, env


@pytest.fixture
def workers(celery_env, tmp_path):
    _, env = celery_env
    state = tmp_path / "celery"
    (tmp_path / "tenants").mkdir()
    worker_env = {**os.environ, **env, "SFXERO_CELERY_DIR": str(state), "SFXERO_CELERY_SERVICES": "workers",
                  TENANT_ENV_DIR: str(tmp_path / "tenants"),
                  "SFXERO_CELERY_WORKERS": WORKERS, "SFXERO_CELERY_NAME": NAME,
                  "SFXERO_BIN": str(Path(sys.executable).parent), "PYTHONPATH": str(ROOT)}
    subprocess.run([str(ROOT / "deploy/celery/up.sh")], env=worker_env, check=True, timeout=60)
    try:
        wait_workers_ready(state, len(WORKERS.split()))
        yield state, worker_env
    finally:
        subprocess.run([str(ROOT / "deploy/celery/down.sh")], env={**worker_env, "SFXERO_CELERY_STOP_TIMEOUT": "30"},
                       check=True, timeout=120)
        assert not list(state.glob("*.pid"))


def _driver(job_names: list[str], tenant: str | None = None) -> subprocess.Popen:
    """`celery_driver` running `job_names` in a fresh process standing for the code location of `tenant`
    (default: the workers' own organisation, the sandbox's XERO_TENANT_ID), with this environment."""
    return subprocess.Popen([sys.executable, "-m", "sfxero_tests.deploy.celery_driver",
                             tenant or os.environ["XERO_TENANT_ID"], *job_names],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finished(instance: dg.DagsterInstance, driver: subprocess.Popen, timeout: float = 600) -> list[dg.DagsterRun]:
    out, err = driver.communicate(timeout=timeout)
    assert driver.returncode == 0, err[-3000:]
    return [instance.get_run_by_id(json.loads(line)["run_id"]) for line in out.splitlines() if line.startswith("{")]


def _runs(instance: dg.DagsterInstance, job_names: list[str], tenant: str | None = None) -> list[dg.DagsterRun]:
    return _finished(instance, _driver(job_names, tenant))


def _stages(instance: dg.DagsterInstance, *stages: str) -> list[dg.DagsterRun]:
    return _runs(instance, [name for stage in stages for name in STAGE_JOBS[stage]])


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (a Celery worker and its pool processes)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for child in children:
            pids += _process_tree(int(child))
    return pids


def _push_xero_killing_its_worker(instance, server, state: Path, worker_env: dict) -> tuple[dg.DagsterRun, list[int]]:
    """push_xero_job, with the `xero` queue's worker SIGKILLed once the push has written to Xero, then
    started again by up.sh (its pid file names a dead process)."""
    set_latency(server, 300)
    before = api_writes(server)
    pusher = _driver(["push_xero_job"])
    wait_for(lambda: api_writes(server) >= before + 2 or pusher.poll() is not None, "the Xero push to write",
             timeout=400)
    assert pusher.poll() is None, "the push ended before its worker could be killed"
    killed = _process_tree(int((state / "worker-1.pid").read_text()))
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    set_latency(server, 0)
    subprocess.run([str(ROOT / "deploy/celery/up.sh")], env=worker_env, check=True, timeout=60)
    wait_workers_ready(state, len(WORKERS.split()))
    try:
        run, = _finished(instance, pusher)
    except subprocess.TimeoutExpired:
        pusher.kill()
        raise AssertionError("the push never finished after its worker was killed:\n" + "\n".join(
            p.read_text()[-3000:] for p in sorted(state.glob("worker-*.log")))) from None
    return run, killed


def _failures(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    """What the run's event log says went wrong (step and run failures with their errors, engine errors)."""
    def said(event) -> str:
        failure = event.step_failure_data if event.event_type == dg.DagsterEventType.STEP_FAILURE else None
        return failure.error.to_string()[:2000] if failure and failure.error else ""

    return [f"{e.dagster_event.step_key or ''} {e.dagster_event.event_type_value}: {e.message[:400]} "
            f"{said(e.dagster_event)}"
            for e in instance.all_logs(run.run_id) if e.dagster_event is not None
            and (e.dagster_event.is_failure or e.dagster_event.event_type == dg.DagsterEventType.RUN_FAILURE
                 or "error" in (e.message or "").lower())]


def _worker_events(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> list[tuple[str, str, int]]:
    """(step key, Celery worker name, process id) of every step a worker ran."""
    seen = []
    for run in runs:
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            worker = (event.engine_event_data.metadata.get("Celery worker") if event.is_engine_event else None)
            if worker is not None:
                seen.append((event.step_key, worker.value, None))
            elif event.event_type == dg.DagsterEventType.STEP_START:
                seen.append((event.step_key, None, event.pid))
    return seen


@pytest.mark.slow
@pytest.mark.timeout(900)  # two workers start twice and load the code location per step; 2-4 minutes idle
def test_full_cycle_on_celery_workers_survives_a_killed_worker(celery_env, workers, pg_url, monkeypatch):
    server, env = celery_env
    state, worker_env = workers
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        runs = _stages(instance, "extract", "check", "reconcile")
        push_xero, killed = _push_xero_killing_its_worker(instance, server, state, worker_env)
        runs += [push_xero, *_runs(instance, ["push_salesforce_job"])]
        failed = {r.job_name: _failures(instance, r) for r in runs if r.status != dg.DagsterRunStatus.SUCCESS}
        assert not failed, f"runs not successful: {failed}"

        # The killed worker's step ran again, in a process of the restarted worker.
        starts = [e.dagster_event.pid for e in instance.all_logs(push_xero.run_id)
                  if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.STEP_START
                  and e.dagster_event.step_key == "xero_push"]
        assert len(starts) >= 2 and starts[0] in killed and starts[-1] not in killed, (starts, killed)

        events = _worker_events(instance, runs)
        names = {w for _, w, _ in events if w}
        pids = {p for _, _, p in events if p}
        assert len(names) >= 2, f"steps ran on only {names}"
        assert os.getpid() not in pids and len(pids) >= 2, f"step processes: {pids}"
        queue_of = {step: w for step, w, _ in events if w}
        assert queue_of["xero_push"].startswith(f"{NAME}-1@"), queue_of
        assert queue_of["salesforce_push"].startswith(f"{NAME}-2@"), queue_of

        verify = _stages(instance, "extract", "check", "reconcile")
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in verify)

    staging = StagingDatabase(url=pg_url)
    try:
        with staging.engine.connect() as conn:
            counts = summary(load_latest(conn))
    finally:
        staging.dispose()
    left = {r: c for r, c in counts.items() if any(c.get(a, 0) for a in ("create", "update"))}
    assert counts and not left, f"second reconcile still plans writes: {left}"

    state = xero_state(server)
    assert state["contact_count"] > 0 and state["invoice_count"] > 0
    assert [n for n, k in state["contacts_by_number"].items() if k > 1] == []
    assert [r for r, k in state["invoices_by_reference"].items() if k > 1] == []

    _second_organisation_on_the_same_workers(server, worker_env, monkeypatch)


def _second_organisation_on_the_same_workers(server, worker_env: dict, monkeypatch) -> None:
    """A run of another organisation reaches workers that serve the first: refused, naming the env file
    they lack, while they have none for it; run in its environment (its staging database and stored
    connection) once the file is there (sfxero_celery_app.py)."""
    other = list(server.xero.tenants.values())[1]
    env_file = Path(worker_env[TENANT_ENV_DIR]) / f"{other.tenant_id}.env"
    key = Fernet.generate_key()
    with pg_database() as other_url:
        connect_organisation(other_url, other, key, server)  # `sfxero connect xero`, into its own database
        staging = StagingDatabase(url=other_url)
        try:
            own = {"XERO_TENANT_ID": other.tenant_id, "SFXERO_STAGING_URL": other_url,
                   "SFXERO_SECRET_KEY": key.decode()}
            # This process stands for the second organisation's code location: its environment and its tag.
            for name, value in own.items():
                monkeypatch.setenv(name, value)
            with dg.DagsterInstance.get() as instance:
                refused, = _runs(instance, ["reference_extract_job"], other.tenant_id)
                assert refused.status == dg.DagsterRunStatus.FAILURE
                assert any(env_file.name in line and TENANT_ENV_DIR in line for line in _failures(instance, refused)), \
                    _failures(instance, refused)
                env_file.write_text("".join(f"{name}={value}\n" for name, value in own.items()))
                served, = _runs(instance, ["reference_extract_job"], other.tenant_id)
                assert served.status == dg.DagsterRunStatus.SUCCESS, _failures(instance, served)
            with staging.engine.connect() as conn:
                tenants = conn.execute(sa.text("SELECT DISTINCT tenant_id FROM xero_account")).scalars().all()
            assert tenants == [other.tenant_id]
        finally:
            staging.dispose()
    first = StagingDatabase(url=worker_env["SFXERO_STAGING_URL"])
    try:
        with first.engine.connect() as conn:
            assert other.tenant_id not in conn.execute(sa.text("SELECT DISTINCT tenant_id FROM xero_account")).scalars().all()
    finally:
        first.dispose()
