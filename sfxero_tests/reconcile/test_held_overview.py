"""Held records as a person meets them: `sfxero status` prints each hold's sentence, rule and links;
the `held_records_overview` asset gathers check, reconcile and push holds as markdown with counts."""

from __future__ import annotations

import dagster as dg

from sfxero_pipelines.checks.holds import sync_holds
from sfxero_pipelines.defs.reconciliation.assets import plan_assets
from sfxero_pipelines.defs.reconciliation.held import held_records_overview
from sfxero_pipelines.staging.state import holds

from ..test_cli import sfxero
from .conftest import Stager

OPP = "0065Hs000000001QAA"
ACC = "0015Hs000000001QAA"


def test_status_prints_the_sentence_rule_and_links(tmp_path):
    env = {"SFXERO_STAGING_URL": f"sqlite:///{tmp_path / 'staging.db'}", "DAGSTER_HOME": str(tmp_path / "home"),
           "SALESFORCE_INSTANCE_URL": "https://acme.my.salesforce.com"}
    from sfxero_pipelines.defs.staging.resources import StagingDatabase

    db = StagingDatabase(url=env["SFXERO_STAGING_URL"])
    with db.begin() as conn:
        holds.hold(conn, [{"table_name": "sf_opportunity", "record_id": OPP,
                           "reason": "Xero rejected the R2 create of Invoice: Item code 'X' is not valid",
                           "detail": {"target_system": "xero"}}], run_id="r1")
    db.dispose()
    out = sfxero("status", env=env)
    assert out.returncode == 1
    assert (f"push/sf_opportunity {OPP}: Xero refused to create the Invoice (R2): Item code 'X' is not valid. "
            "Xero has no Item with code 'X'. Create the Item 'X' in Xero") in out.stdout
    assert "rule: Xero rejected the R2 create of Invoice: Item code 'X' is not valid" in out.stdout
    assert f"https://acme.my.salesforce.com/lightning/r/Opportunity/{OPP}/view" in out.stdout


def test_overview_gathers_every_stage_with_sentences_and_counts(sqlite_staging, monkeypatch):
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", "https://acme.my.salesforce.com")
    world = Stager(sqlite_staging)
    dup1 = world.sf("Account", Id=ACC, Name="Gaillard Analytics SA")
    world.sf("Opportunity", Name="No lines", AccountId=dup1, StageName="Closed Won", CloseDate="2025-01-01",
             Amount=10.0, IsWon=True, CurrencyIsoCode="EUR")
    with sqlite_staging.begin() as conn:
        sync_holds(conn, table_name="sf_account", suite="sf_account", run_id="r", failures={ACC: [{
            "expectation": "expect_column_values_to_be_unique", "column": "name", "value": "Gaillard Analytics SA",
            "why": "Xero needs unique contact names"}]})
        holds.hold(conn, [{"table_name": "sf_opportunity", "record_id": OPP,
                           "reason": "Xero rejected the R2 create of Invoice: Item code 'X' is not valid"}], run_id="r")
    result = dg.materialize([*plan_assets, held_records_overview], resources={"staging": sqlite_staging})
    [event] = [e for e in result.get_asset_materialization_events()
               if e.asset_key == dg.AssetKey("held_records_overview")]
    meta = event.materialization.metadata
    md = meta["overview"].value
    assert "Two Salesforce Accounts are named 'Gaillard Analytics SA'; Xero needs unique contact names." in md
    assert f"(https://acme.my.salesforce.com/lightning/r/Account/{ACC}/view)" in md
    assert "Create the Item 'X' in Xero" in md
    assert "has no line items, so there is nothing to invoice" in md  # the plan's own hold (reconcile)
    assert meta["held_check"].value == 1 and meta["held_push"].value == 1 and meta["held_reconcile"].value >= 1
    by_reason = meta["by_reason"].value
    assert by_reason["push: Xero rejected"] == 1 and by_reason["reconcile: no line items"] >= 1
    assert "unrecognised" not in by_reason
