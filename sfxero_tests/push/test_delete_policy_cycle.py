"""A deleted Opportunity whose invoice is AUTHORISED, through real extract → check → reconcile → push runs
on the sandbox, both staging backends: the void is held for approval (shown by `sfxero plan`, skipped by
the push), `sfxero approve ROW_ID` lets it through (a second one: a push launch with run config `approve`),
Xero shows each invoice VOIDED once, and the next cycle writes nothing to Xero."""

from __future__ import annotations

import json

import pytest

from sfxero_pipelines.cli.approve_cmd import run_approve
from sfxero_pipelines.cli.plan_cmd import run_plan
from sfxero_pipelines.cli.status_cmd import run_status
from sfxero_pipelines.staging.state.approvals import ROW, approval_of
from sfxero_pipelines.staging.state.plans import load_latest, row_diff

from ..conftest import FAST_XERO, sandbox_call
from ..salesforce.conftest import raw_sf
from .conftest import Cycle, records
from .test_invoice_amounts_cycle import PB, PBE, A, P, XC, sfid

O, O2 = sfid("006", 21), sfid("006", 22)
FIXTURES = {
    "salesforce": {
        "Account": [{"Id": A, "Name": "Good Corp", "BillingCountry": "United States", "Xero_Contact_Id__c": XC}],
        "Product2": [{"Id": P, "Name": "Consulting", "ProductCode": "GOOD", "IsActive": True}],
        "Pricebook2": [{"Id": PB, "Name": "Standard Price Book", "IsStandard": True, "IsActive": True}],
        "PricebookEntry": [{"Id": PBE, "Pricebook2Id": PB, "Product2Id": P, "UnitPrice": 10, "IsActive": True,
                            "CurrencyIsoCode": "USD"}],
        "Opportunity": [{"Id": o, "Name": f"Big deal {o[-3:]}", "AccountId": A, "StageName": "Closed Won",
                         "CloseDate": "2025-06-30", "CurrencyIsoCode": "USD"} for o in (O, O2)],
        "OpportunityLineItem": [{"Id": sfid("00k", 21 + i), "OpportunityId": o, "Product2Id": P, "Quantity": 2,
                                 "UnitPrice": 100} for i, o in enumerate((O, O2))],
    },
    "xero": {
        "Contacts": [{"ContactID": XC, "Name": "Good Corp"}],
        "Items": [{"Code": "GOOD", "Name": "Consulting", "IsSold": True,
                   "SalesDetails": {"UnitPrice": 100, "AccountCode": "200", "TaxType": "OUTPUT"}}],
    },
}


def _invoice(server, opp: str = O) -> list[dict]:
    return [i for i in records(server, "xero", "Invoices") if i.get("Reference") == opp]


def _xero_posts(server) -> int:
    stats = sandbox_call(server, "xero", "GET", "/__sandbox/stats")["requests"]
    return stats.get("POST /api.xro/2.0/Invoices", 0)


def _stats(server) -> dict:
    return {f"{s} {k}": n for s in ("sf", "xero") for k, n in sandbox_call(server, s, "GET", "/__sandbox/stats")["requests"].items()
            if k.split(" ")[0] in ("POST", "PATCH", "PUT", "DELETE") and "token" not in k}


@pytest.mark.slow
def test_a_deleted_opportunitys_authorised_invoice_is_voided_once_after_approval(
        make_sandbox, staging, tmp_path, monkeypatch, capsys):
    config = tmp_path / "sfxero.yaml"
    config.write_text("recipes:\n  R2: {status: AUTHORISED}\n")  # deletes: the default (posted: hold_for_approval)
    monkeypatch.setenv("SFXERO_CONFIG", str(config))
    monkeypatch.setenv("SFXERO_STAGING_URL", staging.url)
    server = make_sandbox(fixtures=FIXTURES, xero_limits=FAST_XERO)
    cycle = Cycle(server, staging)
    cycle.plan_to_push()
    assert cycle.stage("push")[0]
    [inv] = _invoice(server)
    assert inv["Status"] == "AUTHORISED"

    [other] = _invoice(server, O2)
    sf = raw_sf(server)
    sf.Opportunity.delete(O)
    sf.Opportunity.delete(O2)
    summary = cycle.plan_to_push()
    assert summary["R2"]["held"] == 2 and summary["R2"]["delete"] == 0, summary
    with staging.engine.connect() as conn:
        rows = {r.source_id: r for r in load_latest(conn).itertuples() if r.source_id in (O, O2)}
    row_id, row2_id = (row_diff(rows[o].diff)["approval"] for o in (O, O2))
    assert rows[O].action == "held" and rows[O].target_id == inv["InvoiceID"]

    capsys.readouterr()
    run_plan(as_json=False)
    shown = capsys.readouterr().out
    assert "Delete policy: 2 change(s) wait for approval" in shown
    assert f"  {row_id}  R2 void AUTHORISED Xero invoice {inv['InvoiceNumber']}" in shown
    run_plan(as_json=True)
    assert sorted(json.loads(capsys.readouterr().out)["rows_waiting_for_approval"]) == sorted([row_id, row2_id])
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    run_status()
    shown = capsys.readouterr().out
    assert "Deletes held for approval by a delete policy (2)" in shown and f"  {row2_id}  R2 void AUTHORISED" in shown

    # The push skips them (and is not stopped: a held row is not a write the mass-change guard counts).
    posts = _xero_posts(server)
    assert cycle.stage("push")[0]
    assert _invoice(server)[0]["Status"] == "AUTHORISED" and _xero_posts(server) == posts

    assert run_approve((row_id,)) == 0
    assert capsys.readouterr().out.startswith(f"approved: {row_id} (R2 void AUTHORISED Xero invoice {inv['InvoiceNumber']})")
    assert cycle.stage("push")[0]
    [inv] = _invoice(server)
    assert inv["Status"] == "VOIDED" and _xero_posts(server) == posts + 1
    assert _invoice(server, O2)[0]["Status"] == "AUTHORISED", "only the approved row is written"

    # The other one approved from the UI: a launch of the push job with the check's run config.
    job = cycle.definitions.resolve_job_def("push_xero_job")
    result = job.execute_in_process(instance=cycle.instance, raise_on_error=False, run_config={
        "ops": {"sync_plan_r2_mass_change": {"config": {"approve": [row2_id]}}}})
    assert result.success
    assert _invoice(server, O2)[0]["Status"] == "VOIDED" and _xero_posts(server) == posts + 2
    with staging.engine.connect() as conn:
        assert approval_of(conn, ROW, row2_id)["approved_by"] == f"dagster run {result.run_id}"

    # The next cycle sees the void: nothing more to Xero (the Account's balance, now 0, flows back by R4).
    before = _stats(server)
    summary = cycle.plan_to_push()
    assert cycle.stage("push")[0]
    after = _stats(server)
    assert {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0) and k.startswith("xero")} == {}
    assert summary["R4"]["update"] == 1 and "R2" not in summary, summary
    assert [i["Status"] for i in _invoice(server) + _invoice(server, O2)] == ["VOIDED", "VOIDED"]
    with staging.engine.connect() as conn:
        assert not [r for r in load_latest(conn).itertuples() if r.source_id in (O, O2)]
        voids = conn.exec_driver_sql("SELECT count(*) FROM sync_ledger WHERE recipe = 'R2' AND target_id = "
                                     f"'{inv['InvoiceID']}' AND outcome = 'succeeded'").scalar_one()
    assert voids == 2, "the create and the one void"
