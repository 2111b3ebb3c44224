"""Helpers for push tests: the whole cycle as real Dagster runs against a sandbox, and the
emulators' own view of what was written (`/__sandbox/records`)."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from sfxero_pipelines.cli.sync_cmd import run_stage_jobs, verify_convergence
from sfxero_pipelines.defs.staging.resources import StagingDatabase
from sfxero_pipelines.reconcile.plan import summary
from sfxero_pipelines.staging.state.plans import load_latest

from ..conftest import FAST_XERO, sandbox_call
from ..extract.conftest import salesforce_resource, xero_resource


class Cycle:
    """Runs the CLI's stage jobs (real runs on one real instance) against `server` and `staging`."""

    def __init__(self, server, staging: StagingDatabase) -> None:
        from sfxero_pipelines.definitions import defs

        loaded = defs()
        self.server, self.staging = server, staging
        self.instance = dg.DagsterInstance.ephemeral()
        self.definitions = dg.Definitions(
            assets=loaded.assets, asset_checks=loaded.asset_checks, jobs=loaded.jobs,
            resources={"staging": staging, "xero": xero_resource(server), "salesforce": salesforce_resource(server)})

    def stage(self, name: str) -> tuple[bool, list[tuple]]:
        return run_stage_jobs(name, self.instance, self.definitions)

    def plan_to_push(self) -> dict[str, dict[str, int]]:
        for name in ("extract", "check", "reconcile"):
            ok, _ = self.stage(name)
            assert ok or name == "check", f"{name} failed"
        return self.summary()

    def summary(self) -> dict[str, dict[str, int]]:
        with self.staging.engine.connect() as conn:
            return summary(load_latest(conn))

    def converged(self) -> tuple[bool, dict]:
        return verify_convergence(self.staging.engine)


def records(server, system: str, obj: str) -> list[dict]:
    return sandbox_call(server, system, "GET", f"/__sandbox/records/{obj}")


def live(recs: list[dict]) -> list[dict]:
    """Records that exist for a user: not deleted or voided (archived Contacts still exist)."""
    return [r for r in recs if not r.get("_deleted") and not r.get("IsDeleted")
            and r.get("Status") not in ("DELETED", "VOIDED")]


def xero_state(server) -> dict:
    """What a duplicate or a loss would show: live Contacts per ContactNumber, ACCREC invoices per Reference."""
    contacts = live(records(server, "xero", "Contacts"))
    invoices = [i for i in live(records(server, "xero", "Invoices")) if i.get("Type") == "ACCREC"]
    return {
        "contacts_by_number": collections.Counter(c.get("ContactNumber") for c in contacts if c.get("ContactNumber")),
        "contacts_by_name": collections.Counter(c["Name"].lower() for c in contacts),
        "invoices_by_reference": collections.Counter(i.get("Reference") for i in invoices if i.get("Reference")),
        "contact_count": len(contacts), "invoice_count": len(invoices),
    }


#: Small batches: a push makes many calls, so it is surely still writing when killed or overlapped.
SMALL_BATCHES = "\npush:\n  xero_batch_size: 5\n  salesforce_batch_size: 10\n"


def cli_env(server, tmp_path: Path, staging_url: str) -> dict[str, str]:
    """Environment for the `sfxero` command: the sandbox, this staging, an instance and a small-batch config."""
    config = tmp_path / "sfxero.yaml"
    config.write_text((Path(__file__).resolve().parents[2] / "sfxero.yaml").read_text() + SMALL_BATCHES)
    return {**server.env, "SFXERO_STAGING_URL": staging_url, "DAGSTER_HOME": str(tmp_path / "home"),
            "SFXERO_CONFIG": str(config)}


def start_push(env: dict) -> subprocess.Popen:
    """`sfxero sync --stage push -v` in its own process (`-v`: every table, the per-asset lines included)."""
    return subprocess.Popen([sys.executable, "-m", "sfxero_pipelines.cli", "sync", "--stage", "push", "-v"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})


def set_latency(server, ms: int) -> None:
    for system in ("sf", "xero"):
        sandbox_call(server, system, "POST", "/__sandbox/faults", {"spec": f"latency_ms={ms}" if ms else ""})


def wait_for(condition, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def runs(job_name: str) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.get() as instance:
        return list(reversed(instance.get_runs(filters=dg.RunsFilter(job_name=job_name))))


def assert_each_record_once(server, staging_url: str) -> None:
    state = xero_state(server)
    assert max(state["contacts_by_number"].values()) == 1, "duplicate Contact"
    assert max(state["invoices_by_reference"].values()) == 1, "duplicate invoice"
    engine = sa.create_engine(staging_url)
    with engine.connect() as conn:
        pending = conn.execute(sa.text("SELECT count(*) FROM sync_ledger WHERE outcome = 'pending'")).scalar_one()
    engine.dispose()
    assert pending == 0


def api_writes(server) -> int:
    """Write requests both emulators have answered (token requests aside): how far a push has got."""
    stats = [sandbox_call(server, s, "GET", "/__sandbox/stats")["requests"] for s in ("sf", "xero")]
    return sum(n for st in stats for k, n in st.items()
               if k.split(" ")[0] in ("POST", "PATCH", "PUT", "DELETE") and "token" not in k)


def sf_field(server, obj: str, field: str) -> dict[str, object]:
    return {r["Id"]: r.get(field) for r in records(server, "sf", obj)}


@pytest.fixture
def fast_sandbox(make_sandbox):
    """A fresh small sandbox whose Xero minute limit does not slow the test down."""
    return make_sandbox(size="small", seed=42, xero_limits=FAST_XERO)
