"""One real-time lane batch (realtime/lane.py) against the sandbox through the real clients, after a
real cycle: an Account edit crosses to its Xero Contact with the cycle's plan rows and ledger, a batch
run again writes nothing twice, and the next cycle finds the two systems converged."""

from __future__ import annotations

import sqlalchemy as sa

from sfxero_pipelines.config import load_config
from sfxero_pipelines.realtime.lane import Changes, run_batch, suites_reading

from ..push.conftest import Cycle, api_writes, assert_each_record_once, records
from ..extract.conftest import FAST_XERO, salesforce_resource, xero_resource
from ..extract.test_salesforce_extract import simple_salesforce


def test_suites_reading_a_table_include_those_whose_rules_use_its_ids():
    chosen = suites_reading({"sf_account"})
    assert "sf_account" in chosen and "sf_opportunity" in chosen  # Opportunity.AccountId must be staged
    assert "xero_item" not in chosen


def _ledger(staging, source_id: str) -> list[tuple]:
    with staging.engine.connect() as conn:
        return conn.execute(sa.text("SELECT recipe, outcome FROM sync_ledger WHERE source_id = :s"),
                            {"s": source_id}).fetchall()


def test_an_account_edit_crosses_through_one_batch_once(make_sandbox, sqlite_staging):
    staging = sqlite_staging
    server = make_sandbox(xero_limits=FAST_XERO)
    cycle = Cycle(server, staging)
    cycle.plan_to_push()
    assert cycle.stage("push")[0]
    cycle.plan_to_push()  # the verifying pass: staging now knows the Contacts the push created
    assert cycle.converged()[0]
    with staging.engine.connect() as conn:
        pushed = {r[0] for r in conn.execute(sa.text(
            "SELECT source_id FROM sync_ledger WHERE recipe = 'R1' AND outcome = 'succeeded'"))}
    # An Account the cycle linked to a Contact (its write-back stored the Contact's id).
    linked = next(r for r in records(server, "sf", "Account") if r["Id"] in pushed and r.get("Xero_Contact_Id__c"))
    new_name = f"{linked['Name']} (renamed)"
    simple_salesforce(server).Account.update(linked["Id"], {"Name": new_name})
    cfg = load_config()

    writes_before = api_writes(server)
    with salesforce_resource(server).get_client() as sf, xero_resource(server).get_client() as xero:
        report = run_batch(staging.engine, sf, xero, Changes(salesforce={"Account": [linked["Id"]]}), cfg=cfg,
                           run_id="lane-1")
    assert report.blocked == [] and report.staged == {"sf_account": 1} and "contacts" in report.families
    assert report.written >= 1
    contact = next(c for c in records(server, "xero", "Contacts") if c["ContactID"] == linked["Xero_Contact_Id__c"])
    assert contact["Name"] == new_name
    assert any(outcome == "succeeded" for _, outcome in _ledger(staging, linked["Id"]))

    # The same batch again (a replayed event): the ledger answers, nothing is written twice.
    writes_after = api_writes(server)
    assert writes_after > writes_before
    with salesforce_resource(server).get_client() as sf, xero_resource(server).get_client() as xero:
        again = run_batch(staging.engine, sf, xero, Changes(salesforce={"Account": [linked["Id"]]}), cfg=cfg,
                          run_id="lane-2")
    assert again.written == 0 and api_writes(server) == writes_after

    # The cycle, the safety net, finds nothing left: the lane and the cycle converge on the same state.
    cycle.plan_to_push()
    assert cycle.converged()[0]
    assert_each_record_once(server, str(staging.engine.url))
