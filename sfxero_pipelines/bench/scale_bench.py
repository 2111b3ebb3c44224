"""`sfxero bench scale`: one full sync cycle on the Celery deployment with 1 worker, then with 3, in the
same run (docs/architecture.md §9 shape plus `tenants`, `workers`, `cycle_seconds`,
`max_per_tenant_per_minute`, `xero_429`, `duplicates`, `worker_processes`).

Each cycle gets a fresh sandbox (Xero's real limits: 60 calls a minute and 5 at once per tenant), a
fresh staging database and a fresh dagster-postgres instance on the PostgreSQL server of `--staging`,
and `deploy/celery/up.sh` workers, each listening on every queue (`dagster,xero,salesforce`), with
the Xero pacing shared through Redis. This process runs the jobs of `sfxero sync --stage all` (extract,
check, reconcile, push, then the verifying extract, check and reconcile) with the Celery executor;
their steps run on the workers.

Measured, per cycle: its wall time; the most Xero calls any tenant's emulator answered in any 60 s
(429s aside), and the 429s it gave; duplicates in Xero (Contacts per ContactNumber, invoices per
Reference); the distinct processes that executed steps (from the event log). The floor is the
1-worker cycle: `ratio_to_floor` is the 3-worker cycle over it (on a 2-core machine the speed-up is
bounded by the cores and by each tenant's 60 calls a minute).

Tenants: one emulator per tenant. The sandbox serves one Xero organisation today; `--tenants T > 1`
needs its `--xero-orgs`, and is refused with one line until then.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import requests
import sqlalchemy as sa

from ..errors import ConfigError
from .harness import api_calls, bench_database, environ, peak_rss_mb

ROOT = Path(__file__).resolve().parents[2]
WORKER_COUNTS = (1, 3)
ALL_QUEUES = "dagster,xero,salesforce"
CYCLE = ("extract", "check", "reconcile", "push")
VERIFY = ("extract", "check", "reconcile")
REDIS_URL = os.environ.get("SFXERO_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BROKER = os.environ.get("SFXERO_BENCH_CELERY_BROKER", "pyamqp://guest:guest@127.0.0.1:5672//")
API_WINDOW_S = 60.0


class CallLog:
    """(time, status) of every Xero API response one tenant's emulator gave (token calls aside)."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, int]] = []

    def hook(self, method, path, query, status, *rest) -> None:
        if "/api.xro/" in path:
            self.calls.append((time.monotonic(), status))

    def busiest_minute(self) -> int:
        times = sorted(t for t, status in self.calls if status != 429)
        best = first = 0
        for last, t in enumerate(times):
            while t - times[first] >= API_WINDOW_S:
                first += 1
            best = max(best, last - first + 1)
        return best

    def refused(self) -> int:
        return sum(1 for _, status in self.calls if status == 429)


def psycopg2_url(url: str) -> str:
    # dagster-postgres needs the psycopg2 driver named (deploy/celery/dagster.yaml).
    return sa.engine.make_url(url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def wait_workers_ready(state: Path, count: int, timeout_s: float = 300) -> None:
    """Until `count` workers started by deploy/celery/up.sh (logs in `state`) say they are ready."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        logs = [p.read_text() for p in sorted(state.glob("worker-*.log"))]
        if len(logs) == count and all(" ready." in log for log in logs):
            return
        time.sleep(1)
    raise RuntimeError("Celery workers not ready: " + " | ".join(p.read_text()[-500:] for p in state.glob("worker-*.log")))


def _duplicates(env: dict[str, str]) -> int:
    """Xero records that exist more than once: live Contacts per ContactNumber, ACCREC invoices per Reference."""
    def records(name: str) -> list[dict]:
        response = requests.get(f"{env['XERO_IDENTITY_URL']}/__sandbox/records/{name}", verify=env["SFXERO_CA_BUNDLE"],
                                timeout=60)
        response.raise_for_status()
        return [r for r in response.json() if not r.get("_deleted") and r.get("Status") not in ("DELETED", "VOIDED")]

    contacts = collections.Counter(c.get("ContactNumber") for c in records("Contacts") if c.get("ContactNumber"))
    invoices = collections.Counter(i.get("Reference") for i in records("Invoices")
                                   if i.get("Type") == "ACCREC" and i.get("Reference"))
    return sum(n - 1 for n in contacts.values() if n > 1) + sum(n - 1 for n in invoices.values() if n > 1)


def _run_cycle(env: dict[str, str], staging_url: str) -> dict:
    """The cycle's jobs on the deployment in `env`; seconds, runs' success, convergence, step processes."""
    import dagster as dg

    from ..defs.reconstructable import reconstructable_sfxero_job
    from ..defs.sync.jobs import STAGE_JOBS
    from ..reconcile.plan import summary
    from ..staging.state.plans import load_latest

    with environ(env), dg.DagsterInstance.get() as instance:
        started, runs = time.monotonic(), []
        for stage in CYCLE + VERIFY:
            for name in STAGE_JOBS[stage]:
                tags = {"sfxero/stage": stage}
                if name == "extract_job":
                    tags["dagster/partition"] = dt.datetime.now(dt.timezone.utc).date().isoformat()
                with dg.execute_job(reconstructable_sfxero_job(name), instance=instance, tags=tags,
                                    raise_on_error=False) as result:
                    runs.append(result.dagster_run)
        seconds = time.monotonic() - started
        pids = {entry.dagster_event.pid for run in runs for entry in instance.all_logs(run.run_id)
                if entry.dagster_event is not None and entry.dagster_event.event_type == dg.DagsterEventType.STEP_START}
        failed = sorted({r.job_name for r in runs if r.status != dg.DagsterRunStatus.SUCCESS})
    engine = sa.create_engine(staging_url)
    try:
        with engine.connect() as conn:
            counts = summary(load_latest(conn))
    finally:
        engine.dispose()
    left = {r: c for r, c in counts.items() if any(c.get(a, 0) for a in ("create", "update", "delete"))}
    return {"seconds": seconds, "failed_runs": failed, "converged": not left and not failed,
            "worker_processes": len(pids - {os.getpid()})}


def _one_deployment(workers: int, *, size: int, pg_url: str, tenants: int, start_sandbox: Callable) -> dict:
    work = Path(tempfile.mkdtemp(prefix="sfxero-scale-"))
    state, home = work / "celery", work / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(ROOT / "deploy/celery/dagster.yaml", home / "dagster.yaml")
    sandbox = start_sandbox(size=size, seed=42, state_dir=work / "sandbox")
    logs = [CallLog()]  # one per tenant's emulator
    sandbox.xero.response_hooks.append(logs[0].hook)
    try:
        with bench_database(pg_url) as staging_url, bench_database(pg_url) as instance_url:
            env = {**sandbox.env, "SFXERO_STAGING_URL": staging_url, "DAGSTER_HOME": str(home),
                   "DAGSTER_PG_URL": psycopg2_url(instance_url), "SFXERO_EXECUTOR": "celery",
                   "SFXERO_CELERY_BROKER": BROKER, "SFXERO_CELERY_BACKEND": REDIS_URL,
                   "SFXERO_PACING_URL": REDIS_URL, "SFXERO_PACING_NAMESPACE": f"sfxero-bench:{uuid.uuid4().hex}:"}
            up_env = {**os.environ, **env, "SFXERO_CELERY_DIR": str(state), "SFXERO_CELERY_SERVICES": "workers",
                      "SFXERO_CELERY_WORKERS": " ".join([ALL_QUEUES] * workers),
                      # Its own worker names: another deployment on this broker and host keeps its own.
                      "SFXERO_CELERY_NAME": f"sfxero-bench-{uuid.uuid4().hex[:6]}",
                      "SFXERO_BIN": str(Path(sys.executable).parent), "PYTHONPATH": str(ROOT)}
            subprocess.run([str(ROOT / "deploy/celery/up.sh")], env=up_env, check=True, timeout=120,
                           stdout=subprocess.DEVNULL)
            try:
                wait_workers_ready(state, workers)
                cycle = _run_cycle(env, staging_url)
            finally:
                subprocess.run([str(ROOT / "deploy/celery/down.sh")], env={**up_env, "SFXERO_CELERY_STOP_TIMEOUT": "30"},
                               timeout=300, stdout=subprocess.DEVNULL)
            cycle["duplicates"] = _duplicates(sandbox.env)
            salesforce_calls = api_calls(sandbox.salesforce.stats())
    finally:
        sandbox.stop()
        shutil.rmtree(work, ignore_errors=True)
    cycle["max_per_tenant_per_minute"] = max(log.busiest_minute() for log in logs)
    cycle["xero_429"] = sum(log.refused() for log in logs)
    cycle["xero_calls"] = sum(len(log.calls) for log in logs)
    cycle["salesforce_calls"] = salesforce_calls
    return cycle


def run_scale_bench(size: int, staging_url: str | None, *, tenants: int, start_sandbox: Callable) -> dict:
    if tenants < 1:
        raise ConfigError("--tenants", "must be at least 1")
    if tenants > 1:
        raise ConfigError("--tenants", "the sandbox serves one Xero organisation today (several need its --xero-orgs)")
    if not staging_url or not staging_url.startswith("postgresql"):
        raise ConfigError("--staging", "bench scale needs a PostgreSQL server (the Celery workers and the "
                          "dagster-postgres instance share it), e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    cycles = {n: _one_deployment(n, size=size, pg_url=staging_url, tenants=tenants, start_sandbox=start_sandbox)
              for n in WORKER_COUNTS}
    one, three = cycles[WORKER_COUNTS[0]], cycles[WORKER_COUNTS[-1]]
    return {
        "bench": "scale",
        "records": size,
        "seconds": round(sum(c["seconds"] for c in cycles.values()), 1),
        "api_calls": {"salesforce": sum(c["salesforce_calls"] for c in cycles.values()),
                      "xero": sum(c["xero_calls"] for c in cycles.values())},
        "floor_seconds": round(one["seconds"], 1),
        "ratio_to_floor": round(three["seconds"] / one["seconds"], 2) if one["seconds"] else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "floor": f"the same cycle on {WORKER_COUNTS[0]} worker",
        "tenants": tenants,
        "workers": list(WORKER_COUNTS),
        "cycle_seconds": {str(n): round(c["seconds"], 1) for n, c in cycles.items()},
        "max_per_tenant_per_minute": max(c["max_per_tenant_per_minute"] for c in cycles.values()),
        "xero_429": sum(c["xero_429"] for c in cycles.values()),
        "duplicates": sum(c["duplicates"] for c in cycles.values()),
        "worker_processes": {str(n): c["worker_processes"] for n, c in cycles.items()},
        "converged": all(c["converged"] for c in cycles.values()),
        "failed_runs": {str(n): c["failed_runs"] for n, c in cycles.items() if c["failed_runs"]},
    }
