"""R6 (Xero Contacts with overdue balances → Campaign members) end to end on the sandbox, on the engine:
extract → plan → push in process (`run_cycle`, as the finance example runs it), the real clients over
HTTPS. One cycle adds every overdue customer's person to the Campaign and a second writes nothing; a
customer who pays leaves the filter, and under `deletes: hold_for_approval` the removal waits in the plan
until `sfxero approve ROW_ID`, is then written once, and the cycle after writes nothing."""

from __future__ import annotations

import pytest
import yaml

from sfxero_pipelines.staging.migrations import migrate
from sfxero_pipelines.staging.state import approvals
from sfxero_pipelines.staging.state.plans import load_latest, row_diff

from ..conftest import FAST_XERO
from ..extract.conftest import xero_resource
from ..push.conftest import live, records, sandbox_call
from ..recipes.test_finance_example_e2e import _writes, run_cycle


def _members(server, campaign_id: str) -> dict[str, str]:
    """person (Contact or Lead id) → CampaignMember id, of the Campaign's live members."""
    return {m.get("ContactId") or m.get("LeadId"): m["Id"] for m in records(server, "sf", "CampaignMember")
            if m.get("CampaignId") == campaign_id and not m.get("IsDeleted") and not m.get("_deleted")}


def _r6_rows(engine, action: str):
    with engine.connect() as conn:
        plan = load_latest(conn)
    return plan[(plan.recipe == "R6") & (plan.action == action)]


def _pay_up(server, contact_id: str) -> int:
    """Pay every AUTHORISED ACCREC invoice of the Xero Contact in full; how many."""
    owed = [i for i in live(records(server, "xero", "Invoices")) if i["Type"] == "ACCREC"
            and i["Status"] == "AUTHORISED" and i["Contact"]["ContactID"] == contact_id and float(i["AmountDue"]) > 0]
    with xero_resource(server).get_client() as x:
        for n, inv in enumerate(owed):
            x.write("Payments", [{"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Account": {"Code": "090"},
                                  "Date": "2026-12-01", "Amount": float(inv["AmountDue"])}],
                    method="PUT", idempotency_key=f"pay-up-{contact_id}-{n}")
    return len(owed)


def _r6_converges_and_a_paid_removal_waits_for_approval(server, engine, tmp_path, monkeypatch) -> None:
    campaign = live(records(server, "sf", "Campaign"))[0]
    config = tmp_path / "r6.yaml"
    # A removed member is hard-deleted (the Recycle Bin never has it): extract learns it from /deleted, asked
    # every cycle here (by default once a day; until then the ledger keeps the removal from being sent again).
    config.write_text(yaml.safe_dump({"extract": {"salesforce": {"deleted_check_hours": 0}}, "recipes": {"R6": {
        "enabled": True, "campaign": campaign["Id"], "min_days_overdue": 1, "member_status": "Sent",
        "deletes": "hold_for_approval"}}}))
    monkeypatch.setenv("SFXERO_CONFIG", str(config))
    migrate(engine)
    before = _members(server, campaign["Id"])

    first = run_cycle(server, engine, "r6-1")
    added = _r6_rows(engine, "create")
    # R1 links its customers in this same cycle: R6 finds them through R1's plan.
    assert len(added) > 0, first["plan"].get("R6")
    assert first["salesforce"].by_recipe["R6"] >= len(added), (first["plan"]["R6"], first["salesforce"].held)
    members = _members(server, campaign["Id"])
    for diff in added["diff"]:
        person = {k: v for k, v in row_diff(diff)["payload"]["CampaignMember"].items() if k in ("ContactId", "LeadId")}
        assert list(person.values())[0] in members, person
    assert len(members) == len(before) + len(added)
    status = {m["Id"]: m.get("Status") for m in records(server, "sf", "CampaignMember")}
    assert {status[members[p]] for p in members if p not in before} == {"Sent"}

    second = run_cycle(server, engine, "r6-2")
    assert _writes(second["plan"]) == 0, second["plan"]
    assert (second["salesforce"].written, second["xero"].written) == (0, 0)

    # A customer pays: its member leaves the filter; the removal waits for a person.
    source, person = next((r.source_id, p) for r in _r6_rows(engine, "skip").itertuples()
                          for p in [r.target_id] if p)
    assert _pay_up(server, source) > 0
    third = run_cycle(server, engine, "r6-3")
    [held] = [row_diff(d) for d in _r6_rows(engine, "held")["diff"] if row_diff(d).get("approval")]
    assert held["payload"] == {"CampaignMember": {"Id": person}}
    assert third["salesforce"].by_recipe.get("R6", 0) == 0 and person in _members(server, campaign["Id"]).values()

    with engine.begin() as conn:
        approvals.approve(conn, approvals.ROW, [held["approval"]], by="test")
    # Salesforce reports deletes to the whole minute before the request's end (/deleted), and cycles run an
    # hour apart: the org's clock stands two minutes back while the removal is written, as if it were.
    sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"advance_s": -120})
    fourth = run_cycle(server, engine, "r6-4")
    sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"advance_s": 120})
    assert fourth["salesforce"].by_recipe["R6"] == 1, fourth["plan"]["R6"]
    assert person not in _members(server, campaign["Id"]).values()
    fifth = run_cycle(server, engine, "r6-5")
    assert _writes(fifth["plan"]) == 0, fifth["plan"]
    assert (fifth["salesforce"].written, fifth["xero"].written) == (0, 0)


def test_r6_converges_on_the_sandbox_and_a_paid_removal_waits_for_approval(make_sandbox, sqlite_staging, tmp_path,
                                                                         monkeypatch):
    server = make_sandbox(size="30", seed=11, xero_limits=FAST_XERO)
    _r6_converges_and_a_paid_removal_waits_for_approval(server, sqlite_staging.engine, tmp_path, monkeypatch)


@pytest.mark.postgres
def test_r6_converges_on_postgresql(make_sandbox, pg_url, tmp_path, monkeypatch):
    from sfxero_pipelines.defs.staging.resources import StagingDatabase

    server = make_sandbox(size="30", seed=11, xero_limits=FAST_XERO)
    db = StagingDatabase(url=pg_url)
    try:
        _r6_converges_and_a_paid_removal_waits_for_approval(server, db.engine, tmp_path, monkeypatch)
    finally:
        db.dispose()
