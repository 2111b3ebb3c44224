"""R9 and R10 (examples/r9_r10_finance_to_salesforce.yaml) end to end on the sandbox: Xero credit notes,
bills and bank transactions → the Salesforce custom objects Xero_Credit_Note__c and Xero_Transaction__c.

The stages run in this process, as the soak bench runs them (extract with the extract code, the whole
plan with `build_plan` and stored as the plan assets store it, then both pushes), not through the CLI
and Dagster: the same code, a few seconds instead of minutes. One cycle converges: each Xero document
whose Contact R1 links to an Account (R1's links made in that same cycle included) is one Salesforce
record with that Account, its amounts and dates; a document whose Contact has no Account is held with
that reason; a second cycle has nothing to write. A credit note voided in Xero then deletes its
Salesforce record (`deletes: archive`), and the cycle after that writes nothing again.
Both staging backends run in `make test`."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from sfxero_pipelines.config import load_config
from sfxero_pipelines.extract.salesforce import extract_salesforce_object
from sfxero_pipelines.extract.xero import extract_xero_paged, extract_xero_reference
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS
from sfxero_pipelines.push.run import push_to_salesforce, push_to_xero
from sfxero_pipelines.reconcile.build import FAMILY_TABLES, FAMILIES, build_plan
from sfxero_pipelines.reconcile.declared import declared_tables, sf_table
from sfxero_pipelines.reconcile.plan import summary
from sfxero_pipelines.staging.migrations import migrate
from sfxero_pipelines.staging.state.links import links_of
from sfxero_pipelines.staging.state.plans import load_latest, row_diff, write_plan

from ..conftest import FAST_XERO
from ..extract.conftest import salesforce_resource, xero_resource
from ..push.conftest import live, records
from .test_r8_items_e2e import ROOT

EXAMPLE = ROOT / "examples" / "r9_r10_finance_to_salesforce.yaml"
DECLARED = ("R9", "R10_BILLS", "R10_BANK")
WRITES = ("create", "update", "delete")


def run_cycle(server, engine, run_id: str) -> dict:
    """extract → plan → push, in process; returns the stored plan's summary and both push reports."""
    cfg = load_config()
    tables = {t for ts in FAMILY_TABLES.values() for t in ts}
    tables |= {t for r in cfg.recipes.declared.values() for t in declared_tables(r)}
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    part = dict(partition_start=today, partition_end=today + dt.timedelta(days=1),
                lookback=dt.timedelta(seconds=cfg.extract.lookback_seconds))
    with salesforce_resource(server).get_client() as client:
        for sobject in cfg.extract.salesforce.objects:
            if sf_table(sobject) in tables:
                extract_salesforce_object(client, engine, sobject, sf_table(sobject), cfg=cfg.extract.salesforce,
                                          run_id=run_id, **part)
    with xero_resource(server).get_client() as client:
        for obj in (XERO_OBJECTS[k] for k in cfg.extract.xero.objects if XERO_OBJECTS[k].table in tables):
            if obj.paged:
                extract_xero_paged(client, engine, obj, page_size=1000, run_id=run_id, **part)
            else:
                extract_xero_reference(client, engine, obj, run_id=run_id)
    with engine.begin() as conn:
        built = build_plan(conn, cfg)
        write_plan(conn, built.rows, recipes=(*(r for f in FAMILIES.values() for r in f), *cfg.recipes.declared))
    with engine.connect() as conn:
        planned = summary(load_latest(conn))
    with xero_resource(server).get_client() as x, salesforce_resource(server).get_client() as s:
        to_xero = push_to_xero(engine, x, s, cfg=cfg.push, run_id=run_id)
        to_sf = push_to_salesforce(engine, s, cfg=cfg.push, run_id=run_id)
    return {"plan": planned, "xero": to_xero, "salesforce": to_sf}


def _writes(planned: dict, recipes=None) -> int:
    return sum(n for r, counts in planned.items() if recipes is None or r in recipes
               for a, n in counts.items() if a in WRITES)


def _by_xero_id(server, sobject: str, field: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for rec in records(server, "sf", sobject):
        if not rec.get("IsDeleted"):
            out.setdefault(rec.get(field), []).append(rec)
    return out


def _credit_note(x, contact_id: str, amount: float) -> str:
    return x.write("CreditNotes", [{"Type": "ACCRECCREDIT", "Contact": {"ContactID": contact_id}, "Date": "2026-11-30",
                                    "Status": "AUTHORISED", "LineAmountTypes": "NoTax",
                                    "LineItems": [{"Description": "Goodwill", "Quantity": 1, "UnitAmount": amount,
                                                   "AccountCode": "200"}]}],
                   method="POST", idempotency_key=f"credit-{contact_id}-{amount}")[0]["CreditNoteID"]


def _new_credit_notes(server) -> tuple[str, str]:
    """(a credit note to a customer only Xero knows: no Account for R1 to link; an AUTHORISED one to a
    customer R1 links, which can be voided later)."""
    seeded = records(server, "xero", "CreditNotes")[0]["Contact"]["ContactID"]
    with xero_resource(server).get_client() as x:
        contact = x.write("Contacts", [{"Name": "Only-in-Xero Trading Ltd"}], method="POST",
                          idempotency_key="only-in-xero-contact")[0]["ContactID"]
        return _credit_note(x, contact, 40.0), _credit_note(x, seeded, 75.5)


def _finance_cycle_converges(server, engine, monkeypatch) -> dict:
    monkeypatch.setenv("SFXERO_CONFIG", str(EXAMPLE))
    migrate(engine)
    unlinked, voidable = _new_credit_notes(server)
    started = time.monotonic()
    first = run_cycle(server, engine, "c1")
    declared_written = sum(first["salesforce"].by_recipe[r] for r in DECLARED)
    assert all(first["plan"][r]["create"] > 0 for r in DECLARED), first["plan"]
    assert declared_written == _writes(first["plan"], DECLARED), (first["plan"], first["salesforce"].held)
    assert not [h for h in first["salesforce"].held if h["recipe"] in DECLARED], first["salesforce"].held

    # Each linked Xero document is one Salesforce record, on the Account R1 links its Contact to.
    with engine.connect() as conn:
        r1 = {x: s for s, x in links_of(conn, "R1").items()}
        plan = load_latest(conn)
    credit_notes = _by_xero_id(server, "Xero_Credit_Note__c", "Xero_Credit_Note_Id__c")
    for cn in live(records(server, "xero", "CreditNotes")):
        mine = credit_notes.get(cn["CreditNoteID"], [])
        account = r1.get(cn["Contact"]["ContactID"])
        if account and cn["Status"] not in ("VOIDED", "DELETED"):
            assert len(mine) == 1, cn
            assert mine[0]["Account__c"] == account and mine[0]["Total__c"] == round(float(cn["Total"]), 2)
            assert mine[0]["Status__c"] == cn["Status"] and mine[0]["Type__c"] == cn["Type"]
        else:
            assert not mine, cn
    held = plan[(plan.recipe == "R9") & (plan.action == "held")]
    assert held.source_id.tolist() == [unlinked], held
    assert "has no R1 link to a Salesforce Account" in held.reason.iloc[0], held.reason.iloc[0]
    transactions = _by_xero_id(server, "Xero_Transaction__c", "Xero_Id__c")
    bills = [b for b in live(records(server, "xero", "Invoices")) if b["Type"] == "ACCPAY"
             and b["Status"] not in ("VOIDED", "DELETED") and b["Contact"]["ContactID"] in r1]
    assert bills and all(len(transactions.get(b["InvoiceID"], [])) == 1 for b in bills)
    assert {t[0]["Kind__c"] for t in transactions.values()} >= {"ACCPAY", "RECEIVE"}

    second = run_cycle(server, engine, "c2")
    assert _writes(second["plan"]) == 0, second["plan"]
    assert (second["salesforce"].written, second["xero"].written) == (0, 0)
    return {"first_writes": declared_written, "first_plan": {r: first["plan"][r] for r in DECLARED},
            "second_writes": _writes(second["plan"]), "seconds": round(time.monotonic() - started, 1),
            "held_example": held.reason.iloc[0], "voidable": voidable}


def _void_one(server, engine, cn_id: str) -> None:
    """A credit note R9 wrote, voided in Xero: the next cycle deletes its record (`deletes: archive`),
    and the one after writes nothing."""
    with engine.connect() as conn:
        sf_id = {x: s for s, x in links_of(conn, "R9").items()}[cn_id]
    with xero_resource(server).get_client() as x:
        answer = x.write("CreditNotes", [{"CreditNoteID": cn_id, "Status": "VOIDED"}], method="POST",
                         idempotency_key=f"void-{cn_id}")
    assert answer[0]["Status"] == "VOIDED", answer
    third = run_cycle(server, engine, "c3")
    assert third["plan"]["R9"]["delete"] == 1 and third["salesforce"].by_recipe["R9"] == 1, third["plan"]["R9"]
    assert sf_id not in {r["Id"] for r in records(server, "sf", "Xero_Credit_Note__c") if not r.get("IsDeleted")}
    fourth = run_cycle(server, engine, "c4")
    assert _writes(fourth["plan"]) == 0, fourth["plan"]


def test_finance_example_converges_in_one_cycle_then_voids_delete(make_sandbox, sqlite_staging, monkeypatch, capsys):
    server = make_sandbox(size="30", seed=11, xero_limits=FAST_XERO)
    figures = _finance_cycle_converges(server, sqlite_staging.engine, monkeypatch)
    with capsys.disabled():
        print(f"\nsqlite: cycle 1 wrote {figures['first_writes']} declared record(s) {figures['first_plan']}; "
              f"cycle 2 planned {figures['second_writes']} write(s); {figures['seconds']} s")
    _void_one(server, sqlite_staging.engine, figures["voidable"])


@pytest.mark.postgres
def test_finance_example_converges_on_postgresql(make_sandbox, pg_url, monkeypatch, capsys):
    from sfxero_pipelines.defs.staging.resources import StagingDatabase

    server = make_sandbox(size="30", seed=11, xero_limits=FAST_XERO)
    db = StagingDatabase(url=pg_url)
    try:
        figures = _finance_cycle_converges(server, db.engine, monkeypatch)
        with capsys.disabled():
            print(f"\npostgresql: cycle 1 wrote {figures['first_writes']} declared record(s) {figures['first_plan']}; "
                  f"cycle 2 planned {figures['second_writes']} write(s); {figures['seconds']} s")
        _void_one(server, db.engine, figures["voidable"])
    finally:
        db.dispose()
