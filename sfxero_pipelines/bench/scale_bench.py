"""`sfxero bench scale`: one full sync cycle on the Celery deployment with 1 worker, then with 3, in the
same run (docs/architecture.md §9 shape plus `tenants`, `workers`, `cycle_seconds`,
`max_per_tenant_per_minute`, `xero_429`, `duplicates`, `worker_processes`).

Each cycle gets a fresh sandbox with `--tenants` Xero organisations (`--xero-orgs`; Xero's real limits:
60 calls a minute and 5 at once per organisation), a staging database per organisation (with its
stored connection, as `sfxero connect xero` leaves it) and a fresh dagster-postgres instance on the
PostgreSQL server of `--staging`, and `deploy/celery/up.sh` workers, each listening on every queue
(`dagster,xero,salesforce`) and serving every organisation (`SFXERO_TENANT_ENV_DIR`: one env file per
organisation), with the Xero pacing shared through Redis. `routing()` spreads the Accounts over the
organisations. Each organisation's process runs the jobs of `sfxero sync --stage all` (extract, check,
reconcile, push, then the verifying extract, check and reconcile) with the Celery executor, all
organisations at once; their steps run on the shared workers.

Measured, per cycle: its wall time (every organisation's cycle); the most Xero calls any organisation
was answered in any 60 s (429s aside), and the 429s; duplicates in each organisation (Contacts per
ContactNumber, invoices per Reference); the distinct processes that executed steps (from the event log). The floor is the
1-worker cycle: `ratio_to_floor` is the 3-worker cycle over it (on a 2-core machine the speed-up is
bounded by the cores and by each tenant's 60 calls a minute).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
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
import yaml

from ..defs.sync.tags import SALESFORCE_POOL
from ..errors import ConfigError
from ..tenant_env import TENANT_ENV_DIR
from .harness import api_calls, bench_database, environ, peak_rss_mb

ROOT = Path(__file__).resolve().parents[2]
WORKER_COUNTS = (1, 3)
ALL_QUEUES = "dagster,xero,salesforce"
CYCLE = ("extract", "check", "reconcile", "push")
VERIFY = ("extract", "check", "reconcile")
REDIS_URL = os.environ.get("SFXERO_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BROKER = os.environ.get("SFXERO_BENCH_CELERY_BROKER", "pyamqp://guest:guest@127.0.0.1:5672//")
API_WINDOW_S = 60.0
#: `routing()`: the sandbox's countries (name and ISO code, as BillingCountry may hold either), one per
#: organisation after the first, which takes one industry's Accounts from every country and the rest.
ROUTED_COUNTRIES = (("United States", "US"), ("United Kingdom", "GB"), ("Germany", "DE"), ("France", "FR"),
                    ("Australia", "AU"), ("New Zealand", "NZ"), ("Japan", "JP"))
FIRST_TENANT_INDUSTRY = "Technology"
CYCLE_TIMEOUT_S = 3 * 3600


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


def _duplicates(env: dict[str, str], tenant_id: str) -> int:
    """One organisation's Xero records that exist more than once: live Contacts per ContactNumber, ACCREC
    invoices per Reference."""
    def records(name: str) -> list[dict]:
        response = requests.get(f"{env['XERO_IDENTITY_URL']}/__sandbox/tenants/{tenant_id}/records/{name}",
                                verify=env["SFXERO_CA_BUNDLE"], timeout=60)
        response.raise_for_status()
        return [r for r in response.json() if not r.get("_deleted") and r.get("Status") not in ("DELETED", "VOIDED")]

    contacts = collections.Counter(c.get("ContactNumber") for c in records("Contacts") if c.get("ContactNumber"))
    invoices = collections.Counter(i.get("Reference") for i in records("Invoices")
                                   if i.get("Type") == "ACCREC" and i.get("Reference"))
    return sum(n - 1 for n in contacts.values() if n > 1) + sum(n - 1 for n in invoices.values() if n > 1)


def routing(tenant_ids: list[str]) -> dict | None:
    """sfxero.yaml's `routing:` spreading the sandbox's Accounts over the organisations: the first takes
    one industry's Accounts (from every country), each next one a country, the first the rest."""
    if len(tenant_ids) == 1:
        return None
    first, others = tenant_ids[0], tenant_ids[1:]
    rules = [{"field": "Industry", "equals": [FIRST_TENANT_INDUSTRY], "tenant": first}]
    rules += [{"country": list(country), "tenant": tenant} for country, tenant in zip(ROUTED_COUNTRIES, others)]
    return {"rules": rules, "default": first}


def tenant_cycle(env: dict[str, str]) -> dict:
    """One organisation's cycle: its jobs in order, run from this process (the run's executor loop) with
    their steps on the Celery workers. Runs in a process of its own, one per organisation at once."""
    import dagster as dg

    from ..defs.reconstructable import reconstructable_sfxero_job
    from ..defs.sync.stages import STAGE_JOBS
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
        pids, why = set(), []  # processes that started steps; the first step failures, with their errors
        for run in runs:  # each run's event log read once
            failed_run = run.status != dg.DagsterRunStatus.SUCCESS  # a retried step's failure is not its run's
            for event in (e.dagster_event for e in instance.all_logs(run.run_id) if e.dagster_event is not None):
                if event.event_type == dg.DagsterEventType.STEP_START:
                    pids.add(event.pid)
                elif (failed_run and event.event_type == dg.DagsterEventType.STEP_FAILURE
                      and event.step_failure_data.error):
                    why.append(f"{run.job_name} {event.step_key}: {event.step_failure_data.error.message[:300]}")
        failed = sorted({r.job_name for r in runs if r.status != dg.DagsterRunStatus.SUCCESS})
        why = why[:5]
    engine = sa.create_engine(env["SFXERO_STAGING_URL"])
    try:
        with engine.connect() as conn:
            counts = summary(load_latest(conn))
            # The organisation's records as staged: its Xero tables and the Salesforce ones (all of them).
            staged = {name: conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one()
                      for name in sa.inspect(conn).get_table_names() if name.startswith(("sf_", "xero_"))}
    finally:
        engine.dispose()
    left = {r: c for r, c in counts.items() if any(c.get(a, 0) for a in ("create", "update", "delete"))}
    return {"seconds": seconds, "failed_runs": failed, "failures": why, "converged": not left and not failed,
            "step_pids": sorted(pids - {os.getpid()}),
            "xero_records": sum(n for name, n in staged.items() if name.startswith("xero_")),
            "salesforce_records": sum(n for name, n in staged.items() if name.startswith("sf_"))}


def _last_json_line(child: subprocess.Popen) -> dict:
    out, _ = child.communicate(timeout=CYCLE_TIMEOUT_S)
    if child.returncode != 0:
        raise RuntimeError(f"an organisation's cycle exited {child.returncode}: {out[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def connect_organisation(staging_url: str, org, key: bytes, sandbox) -> None:
    """`sfxero connect xero` for one organisation into its staging database (the sandbox's consent grants all)."""
    from cryptography.fernet import Fernet

    from ..defs.staging.resources import StagingDatabase
    from ..staging.state import tokens

    staging = StagingDatabase(url=staging_url)
    try:
        with staging.begin() as conn:
            tokens.save_connection(conn, Fernet(key), system="xero", tenant_id=org.tenant_id, tenant_name=org.name,
                                   scopes="offline_access accounting.contacts accounting.transactions",
                                   refresh_token=sandbox.xero.issue_refresh_token(), access_token=None,
                                   access_expires_at=None)
    finally:
        staging.dispose()


def _organisation_envs(sandbox, orgs, staging: dict[str, str], *, home: Path, instance_url: str,
                       work: Path) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The environment every process of the deployment shares, and each organisation's on top of it (its
    `XERO_TENANT_ID` and staging database, also written as the workers' `<tenant>.env`), each
    organisation connected as `sfxero connect xero` leaves it."""
    from cryptography.fernet import Fernet

    config = yaml.safe_load((ROOT / "sfxero.yaml").read_text()) or {}
    if (routed := routing([o.tenant_id for o in orgs])) is not None:
        config["routing"] = routed
    (work / "sfxero.yaml").write_text(yaml.safe_dump(config))
    key = Fernet.generate_key()
    shared = {**sandbox.env, "DAGSTER_HOME": str(home), "DAGSTER_PG_URL": psycopg2_url(instance_url),
              "SFXERO_EXECUTOR": "celery", "SFXERO_CELERY_BROKER": BROKER, "SFXERO_CELERY_BACKEND": REDIS_URL,
              "SFXERO_PACING_URL": REDIS_URL, "SFXERO_PACING_NAMESPACE": f"sfxero-bench:{uuid.uuid4().hex}:",
              "SFXERO_CONFIG": str(work / "sfxero.yaml"), "SFXERO_SECRET_KEY": key.decode()}
    shared.pop("XERO_TENANT_ID")  # the workers serve every organisation, each step its run's
    envs = {}
    for org in orgs:
        connect_organisation(staging[org.tenant_id], org, key, sandbox)
        own = {"XERO_TENANT_ID": org.tenant_id, "SFXERO_STAGING_URL": staging[org.tenant_id]}
        (work / "tenants" / f"{org.tenant_id}.env").write_text("".join(f"{k}={v}\n" for k, v in own.items()))
        envs[org.tenant_id] = {**shared, **own}
    return shared, envs


def _cycles_at_once(envs: dict[str, dict[str, str]]) -> dict[str, dict]:
    """Every organisation's cycle at once, each from its own process, as their code locations would."""
    children = {t: subprocess.Popen([sys.executable, "-m", __name__], env={**os.environ, **e},
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                for t, e in envs.items()}
    try:
        return {t: _last_json_line(child) for t, child in children.items()}
    finally:
        for child in children.values():  # an organisation's cycle left running by a failure
            if child.poll() is None:
                child.kill()


def _one_deployment(workers: int, *, size: int, pg_url: str, tenants: int, start_sandbox: Callable) -> dict:
    work = Path(tempfile.mkdtemp(prefix="sfxero-scale-"))
    state, home = work / "celery", work / "dagster_home"
    home.mkdir(parents=True)
    (work / "tenants").mkdir()
    shutil.copy(ROOT / "deploy/celery/dagster.yaml", home / "dagster.yaml")
    sandbox = start_sandbox(size=size, seed=42, state_dir=work / "sandbox", xero_orgs=tenants)
    orgs = list(sandbox.xero.tenants.values())
    logs = {org.tenant_id: CallLog() for org in orgs}  # each organisation's calls, as its emulator answered them
    sandbox.xero.response_hooks.append(lambda *call: logs[sandbox.xero.current_tenant_id].hook(*call))
    try:
        with contextlib.ExitStack() as databases:
            instance_url = databases.enter_context(bench_database(pg_url))
            staging = {o.tenant_id: databases.enter_context(bench_database(pg_url)) for o in orgs}
            shared, envs = _organisation_envs(sandbox, orgs, staging, home=home, instance_url=instance_url, work=work)
            up_env = {**os.environ, **shared, "SFXERO_CELERY_DIR": str(state), "SFXERO_CELERY_SERVICES": "workers",
                      "SFXERO_CELERY_WORKERS": " ".join([ALL_QUEUES] * workers), TENANT_ENV_DIR: str(work / "tenants"),
                      # Its own worker names: another deployment on this broker and host keeps its own.
                      "SFXERO_CELERY_NAME": f"sfxero-bench-{uuid.uuid4().hex[:6]}",
                      "SFXERO_BIN": str(Path(sys.executable).parent), "PYTHONPATH": str(ROOT)}
            up_env.pop("XERO_TENANT_ID", None)
            # Each organisation's runs read the one Salesforce org themselves: one salesforce_api slot for
            # all of them made every organisation's Salesforce steps queue behind the others' (README
            # "Tenants and workers"); each organisation's Xero steps have their own pool already.
            subprocess.run([str(Path(sys.executable).parent / "dagster"), "instance", "concurrency", "set",
                            SALESFORCE_POOL, str(len(orgs))], env={**os.environ, **shared}, check=True, timeout=120,
                           stdout=subprocess.DEVNULL)
            subprocess.run([str(ROOT / "deploy/celery/up.sh")], env=up_env, check=True, timeout=120,
                           stdout=subprocess.DEVNULL)
            try:
                wait_workers_ready(state, workers)
                # The seeded organisations may hold look-alikes of their own: count what the cycle adds.
                seeded = sum(_duplicates(sandbox.env, tenant) for tenant in envs)
                started = time.monotonic()
                per_tenant = _cycles_at_once(envs)
                seconds = time.monotonic() - started
            finally:
                subprocess.run([str(ROOT / "deploy/celery/down.sh")], env={**up_env, "SFXERO_CELERY_STOP_TIMEOUT": "30"},
                               timeout=300, stdout=subprocess.DEVNULL)
            duplicates = sum(_duplicates(sandbox.env, tenant) for tenant in envs) - seeded
            salesforce_calls = api_calls(sandbox.salesforce.stats())
    finally:
        sandbox.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {"seconds": seconds, "duplicates": duplicates, "salesforce_calls": salesforce_calls,
            "salesforce_records": max(c["salesforce_records"] for c in per_tenant.values()),
            "failed_runs": sorted({f"{t[:8]}:{job}" for t, c in per_tenant.items() for job in c["failed_runs"]}),
            "failures": [f"{t[:8]}: {line}" for t, c in per_tenant.items() for line in c["failures"]][:10],
            "converged": all(c["converged"] for c in per_tenant.values()),
            "worker_processes": len({pid for c in per_tenant.values() for pid in c["step_pids"]}),
            "tenant_seconds": {t: round(c["seconds"], 1) for t, c in per_tenant.items()},
            "xero_records_per_tenant": {t: c["xero_records"] for t, c in per_tenant.items()},
            "max_per_tenant_per_minute": max(log.busiest_minute() for log in logs.values()),
            "xero_429": sum(log.refused() for log in logs.values()),
            "xero_calls": sum(len(log.calls) for log in logs.values())}


def run_scale_bench(size: int, staging_url: str | None, *, tenants: int, start_sandbox: Callable) -> dict:
    if tenants < 1:
        raise ConfigError("--tenants", "must be at least 1")
    if tenants > len(ROUTED_COUNTRIES) + 1:
        raise ConfigError("--tenants", f"at most {len(ROUTED_COUNTRIES) + 1} (one per sandbox country, plus one)")
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
        "xero_records_per_tenant": cycles[WORKER_COUNTS[0]]["xero_records_per_tenant"],
        "salesforce_records": max(c["salesforce_records"] for c in cycles.values()),
        "failed_runs": {str(n): c["failed_runs"] for n, c in cycles.items() if c["failed_runs"]},
        "failures": {str(n): c["failures"] for n, c in cycles.items() if c["failures"]},
    }


if __name__ == "__main__":  # one organisation's cycle, in the environment `_one_deployment` gives it
    print(json.dumps(tenant_cycle(dict(os.environ))))
