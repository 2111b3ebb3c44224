"""Kill the push at many points and rerun: zero duplicates and zero missing records in the emulators.

One plan is staged once (real extract/check/reconcile runs). For each crash point the emulators are
reset to the seed, the staging database is restored to that plan, a push runs in a child process
that dies there (`os._exit`: no cleanup, no rollback handlers — a real crash), and then a second
push runs to completion — after Xero has forgotten the batch's Idempotency-Key for the scripted
points (so the ledger's lookup-before-create is what prevents a duplicate), at once for the
random kills (where the key's replay does). The emulators must then hold exactly what an uninterrupted push leaves:
each Contact created once per ContactNumber, each invoice once per Reference, every id written back
to Salesforce, and no ledger entry left with an unknown outcome.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from sfxero_pipelines.defs.staging.resources import StagingDatabase
from sfxero_pipelines.push.run import push_to_salesforce, push_to_xero
from sfxero_pipelines.config import PushConfig
from sfxero_pipelines.sandbox.runner import SandboxServer

from ..conftest import sandbox_call, sandbox_reset
from ..extract.conftest import salesforce_resource, xero_resource
from .conftest import Cycle, records, xero_state

#: Small batches so one push makes many calls and there are many distinct places to die.
BATCH = {"xero_batch_size": 5, "salesforce_batch_size": 10}
CRASH_POINTS = [
    ("ledger.begin", 1, "before"),               # nothing sent yet
    ("XeroClient.write", 1, "after"),            # first Contacts batch applied, answer lost
    ("XeroClient.write", 2, "before"),           # between two batches
    ("ledger.finish", 1, "after"),               # outcome written but its transaction never commits
    ("links.record_links", 3, "after"),          # links of a batch written, not committed
    ("XeroClient.write", 9, "after"),            # an invoice batch applied, answer lost: lookup by Reference
    ("XeroClient.write", 12, "after"),
    ("holds.release", 5, "before"),
    ("SalesforceClient.update_collection", 1, "after"),   # a write-back applied, not recorded
    ("SalesforceClient.update_collection", 3, "before"),
    ("SalesforceClient.update_collection", 5, "after"),   # in the Salesforce push of R4/R5 rows
    ("ledger.begin", 16, "after"),
]
RANDOM_KILLS = 3
IDEMPOTENCY_TTL_S = 360


def _copy_sqlite(src: str, dst: str) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def _child(server: SandboxServer, staging_url: str, crash: dict | None) -> subprocess.Popen:
    spec = {"env": server.env, "staging_url": staging_url, "batch": BATCH, "crash": crash}
    return subprocess.Popen([sys.executable, "-m", "sfxero_tests.push.crash_child", json.dumps(spec)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _push_to_completion(server: SandboxServer, staging_url: str):
    db = StagingDatabase(url=staging_url)
    cfg = PushConfig(**BATCH)
    try:
        with xero_resource(server).get_client() as x, salesforce_resource(server).get_client() as s:
            rx = push_to_xero(db.engine, x, s, cfg=cfg, run_id="rerun")
            rs = push_to_salesforce(db.engine, s, cfg=cfg, run_id="rerun")
        with db.engine.connect() as conn:
            pending = conn.execute(sa.text("SELECT count(*) FROM sync_ledger WHERE outcome = 'pending'")).scalar_one()
    finally:
        db.dispose()
    return rx, rs, pending


def _outcome(server: SandboxServer) -> dict:
    """The emulators' state in id-independent terms (ids are generated anew on every run)."""
    state = xero_state(server)
    contact_of = {c["ContactID"]: c.get("ContactNumber") or c["Name"] for c in records(server, "xero", "Contacts")}
    invoice_ref = {i["InvoiceID"]: i.get("Reference") for i in records(server, "xero", "Invoices")}
    accounts = {a["Id"]: contact_of.get(a.get("Xero_Contact_Id__c")) for a in records(server, "sf", "Account")}
    opps = {o["Id"]: invoice_ref.get(o.get("Xero_Invoice_Id__c")) for o in records(server, "sf", "Opportunity")}
    return {"contacts_by_number": dict(state["contacts_by_number"]), "contacts_by_name": dict(state["contacts_by_name"]),
            "invoices_by_reference": dict(state["invoices_by_reference"]), "contact_count": state["contact_count"],
            "invoice_count": state["invoice_count"], "account_links": accounts, "opportunity_links": opps,
            "balances": {a["Id"]: (a.get("Xero_Outstanding__c"), a.get("Xero_Overdue__c"))
                         for a in records(server, "sf", "Account")}}


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """(server, baseline staging file, the outcome of an uninterrupted push)."""
    root = tmp_path_factory.mktemp("crash")
    with SandboxServer(size="small", seed=42, state_dir=root / "sandbox",
                       xero_limits={"per_minute": 100_000, "app_per_minute": 100_000}) as server:
        baseline = str(root / "baseline.db")
        db = StagingDatabase(url=f"sqlite:///{baseline}")
        summary = Cycle(server, db).plan_to_push()
        assert summary["R1"]["create"] > 0 and summary["R2"]["create"] > 0
        db.dispose()
        clean = str(root / "clean.db")
        _copy_sqlite(baseline, clean)
        rx, rs, pending = _push_to_completion(server, f"sqlite:///{clean}")
        assert rx.written > 0 and rs.written > 0 and pending == 0
        expected = _outcome(server)
        assert max(expected["contacts_by_number"].values()) == 1
        yield server, baseline, expected


def _check_recovered(server, staging_url: str, expected: dict, label: str) -> None:
    rx, rs, pending = _push_to_completion(server, staging_url)
    assert pending == 0, f"{label}: {pending} ledger entries still unknown"
    got = _outcome(server)
    assert max(got["contacts_by_number"].values()) == 1, f"{label}: duplicate Contact"
    assert max(got["invoices_by_reference"].values()) == 1, f"{label}: duplicate invoice"
    for key in ("contacts_by_number", "contacts_by_name", "invoices_by_reference", "contact_count", "invoice_count",
                "account_links", "opportunity_links", "balances"):
        assert got[key] == expected[key], f"{label}: {key} differs from an uninterrupted push"
    # A third push has nothing left to do.
    rx, rs, _ = _push_to_completion(server, staging_url)
    assert rx.written == 0 and rs.written == 0 and rx.write_backs == 0, label


@pytest.mark.parametrize("at,nth,when", CRASH_POINTS, ids=[f"{a}#{n}-{w}" for a, n, w in CRASH_POINTS])
def test_crash_at_a_point_then_rerun(planned, tmp_path, at, nth, when):
    server, baseline, expected = planned
    sandbox_reset(server)
    db_file = str(tmp_path / "staging.db")
    _copy_sqlite(baseline, db_file)
    child = _child(server, f"sqlite:///{db_file}", {"at": at, "nth": nth, "when": when})
    out, err = child.communicate(timeout=120)
    assert child.returncode == 137, f"the crash point was not reached (rc {child.returncode}): {out[-300:]} {err[-800:]}"
    # The rerun comes later than Xero keeps Idempotency-Keys (6 minutes): only the ledger's
    # lookup-before-create stands between a lost answer and a second invoice.
    sandbox_call(server, "xero", "POST", "/__sandbox/clock", {"advance_s": IDEMPOTENCY_TTL_S + 60})
    _check_recovered(server, f"sqlite:///{db_file}", expected, f"{at}#{nth} {when}")


@pytest.mark.parametrize("seed", range(RANDOM_KILLS))
def test_sigkill_at_a_random_moment_then_rerun(planned, tmp_path, seed):
    server, baseline, expected = planned
    sandbox_reset(server)
    db_file = str(tmp_path / "staging.db")
    _copy_sqlite(baseline, db_file)
    rng = random.Random(seed)
    writes_before_kill = rng.randint(2, 14)
    child = _child(server, f"sqlite:///{db_file}", None)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        stats = [sandbox_call(server, s, "GET", "/__sandbox/stats")["requests"] for s in ("sf", "xero")]
        writes = sum(n for st in stats for k, n in st.items() if k.split(" ")[0] in ("POST", "PATCH", "PUT", "DELETE")
                     and "token" not in k)
        if writes >= writes_before_kill:
            time.sleep(rng.uniform(0, 0.05))
            os.kill(child.pid, signal.SIGKILL)
            break
        time.sleep(0.002)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, f"the child finished before the kill (after {writes_before_kill} writes)"
    _check_recovered(server, f"sqlite:///{db_file}", expected, f"SIGKILL after {writes_before_kill} writes")
