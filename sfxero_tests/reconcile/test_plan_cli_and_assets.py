"""`sfxero plan` prints the plan (summary, then rows; --json) and writes nothing; the Dagster plan
assets store it once per recipe and report counts; the report asset gives counts and amounts."""

import json

import dagster as dg
import sqlalchemy as sa

from sfxero_pipelines.cli import main
from sfxero_pipelines.defs.reconciliation.assets import plan_assets, reconciliation_report

from .conftest import Stager


def seed(world: Stager) -> dict:
    x = world.xero("Contacts", Name="Acme Old", ContactStatus="ACTIVE")
    a = world.sf("Account", Name="Acme", Xero_Contact_Id__c=x)
    world.link("R1", a, x)
    new = world.sf("Account", Name="NewCo")
    o = world.sf("Opportunity", Name="D", AccountId=a, StageName="Closed Won", CloseDate="2025-01-01", Amount=150.0,
                 IsWon=True, CurrencyIsoCode="GBP")
    world.sf("Opportunity", Name="E", AccountId=a, StageName="Closed Won", CloseDate="2025-01-01", Amount=50.0,
             IsWon=True, CurrencyIsoCode="USD")
    world.xero("Invoices", Type="ACCREC", Reference=o, Contact={"ContactID": x}, Status="AUTHORISED",
               SubTotal=150.0, Total=180.0, CurrencyCode="GBP")
    return {"x": x, "a": a, "new": new}


def count_plan_rows(db) -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM sync_plan")).scalar_one()


def test_plan_command_prints_summary_and_rows_and_writes_nothing(sqlite_staging, monkeypatch, capsys, tmp_path):
    ids = seed(Stager(sqlite_staging))
    monkeypatch.setenv("SFXERO_STAGING_URL", sqlite_staging.url)
    monkeypatch.setenv("SFXERO_CONFIG", str(tmp_path / "none.yaml"))
    (tmp_path / "none.yaml").write_text("{}\n")
    try:
        main(["plan"])
    except SystemExit as exc:
        assert exc.code == 1  # the Opportunity without line items is held
    out = capsys.readouterr().out
    assert out.startswith("Sync plan (dry run: nothing was written)")
    assert f"R1 UPDATE   {ids['a']} 'Acme' → Xero {ids['x']} 'Acme Old'" in out
    assert "Name: 'Acme Old' → 'Acme'   [Name→Name; owner salesforce]" in out
    assert f"R1 CREATE   {ids['new']} 'NewCo' → Xero (new)" in out
    try:
        main(["plan", "--json"])
    except SystemExit:
        pass
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["summary"]["R1"]["update"] == 1 and data["summary"]["R1"]["create"] == 1
    row = next(r for r in data["rows"] if r["recipe"] == "R1" and r["action"] == "update")
    assert row["diff"]["fields"]["Name"]["new"] == "Acme" and row["plan_id"] == data["plan_ids"]["R1"]
    assert count_plan_rows(sqlite_staging) == 0


def test_bad_mapping_config_is_a_one_line_error_naming_the_key(sqlite_staging, monkeypatch, capsys, tmp_path):
    cfg = tmp_path / "sfxero.yaml"
    cfg.write_text("mapping:\n  contact_fields:\n    - {sf: Phone, xero: Phones.DEFAULT, owner: nobody}\n")
    monkeypatch.setenv("SFXERO_CONFIG", str(cfg))
    monkeypatch.setenv("SFXERO_STAGING_URL", sqlite_staging.url)
    try:
        main(["plan"])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"sfxero: {cfg}: mapping.contact_fields[0].owner:") and "\n" not in err


def test_assets_store_each_recipe_plan_once_and_report(staging, monkeypatch, tmp_path):
    (tmp_path / "c.yaml").write_text("{}\n")
    monkeypatch.setenv("SFXERO_CONFIG", str(tmp_path / "c.yaml"))
    seed(Stager(staging))

    def run():
        result = dg.materialize([*plan_assets, reconciliation_report], resources={"staging": staging},
                                instance=dg.DagsterInstance.ephemeral())
        assert result.success
        return {e.event_specific_data.materialization.asset_key.to_user_string():
                {k: getattr(v, "value", v) for k, v in e.event_specific_data.materialization.metadata.items()}
                for e in result.get_asset_materialization_events()}

    first = run()
    assert first["sync_plan_r1"]["stored"] == "written"
    assert first["sync_plan_r1"]["rows_update"] == 1 and first["sync_plan_r1"]["rows_create"] == 1
    assert first["sync_plan_r2"]["rows_held"] == 1 and first["sync_plan_r2"]["rows_skip"] == 1
    stored = count_plan_rows(staging)
    second = run()
    assert second["sync_plan_r1"]["stored"] == "unchanged"
    assert second["sync_plan_r1"]["plan_id"] == first["sync_plan_r1"]["plan_id"]
    assert count_plan_rows(staging) == stored
    report = second["reconciliation_report"]
    assert report["R1_to_update"] == 1 and report["R1_to_create"] == 1 and report["R2_in_sync"] == 1
    amounts = {r.data["currency"]: r.data for r in report["amounts"].records}
    assert amounts["GBP"]["salesforce_won"] == 150.0 and amounts["GBP"]["xero_invoiced"] == 180.0
    assert amounts["USD"] == {"currency": "USD", "salesforce_won": 50.0, "xero_invoiced": 0.0, "difference": 50.0}
    assert "| R1 |" in report["report"]


R6_R7_CONFIG = ("recipes:\n  R6: {enabled: true, campaign: Dunning}\n  R7: {enabled: true}\n")


def seed_r6_r7(world: Stager) -> dict:
    camp = world.sf("Campaign", Name="Dunning", IsActive=True)
    x = world.xero("Contacts", Name="Paid Up", ContactStatus="ACTIVE")
    a = world.sf("Account", Name="Paid Up")
    world.link("R1", a, x)
    c = world.sf("Contact", AccountId=a, LastName="P", Email="p@paid.example")
    member = world.sf("CampaignMember", CampaignId=camp, ContactId=c)
    world.xero("Items", Code="SUB", Name="Sub", SalesDetails={"AccountCode": "200"})
    p2 = world.sf("Product2", Name="Sub", ProductCode="SUB")
    order = world.sf("Order", AccountId=a, Status="Activated", EffectiveDate="2025-02-01", TotalAmount=70.0,
                     CurrencyIsoCode="GBP")
    world.sf("OrderItem", OrderId=order, Product2Id=p2, Quantity=1, UnitPrice=70)
    return {"x": x, "member": member, "order": order}


def test_plan_command_shows_deletes_and_order_invoices(sqlite_staging, monkeypatch, capsys, tmp_path):
    ids = seed_r6_r7(Stager(sqlite_staging))
    (tmp_path / "c.yaml").write_text(R6_R7_CONFIG)
    monkeypatch.setenv("SFXERO_STAGING_URL", sqlite_staging.url)
    monkeypatch.setenv("SFXERO_CONFIG", str(tmp_path / "c.yaml"))
    try:
        main(["plan"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1].split() == ["recipe", "create", "update", "delete", "skip", "conflict", "held", "plan", "id"]
    r6 = next(line for line in lines if line.startswith("R6 "))
    assert r6.split()[1:7] == ["0", "0", "1", "0", "0", "0"]
    assert f"R6 DELETE   {ids['x']} 'Paid Up' → Salesforce {ids['member']}" in out
    assert ": no longer overdue in Xero" in out
    assert f"R7 CREATE   {ids['order']} → Xero (new)" in out
    try:
        main(["plan", "--json"])
    except SystemExit:
        pass
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["summary"]["R6"]["delete"] == 1 and data["summary"]["R7"]["create"] == 1
    row = next(r for r in data["rows"] if r["recipe"] == "R6")
    assert row["diff"]["payload"] == {"CampaignMember": {"Id": ids["member"]}}
    assert count_plan_rows(sqlite_staging) == 0


def test_assets_store_r6_and_r7_plans_and_report_deletes(staging, monkeypatch, tmp_path):
    (tmp_path / "c.yaml").write_text(R6_R7_CONFIG)
    monkeypatch.setenv("SFXERO_CONFIG", str(tmp_path / "c.yaml"))
    seed_r6_r7(Stager(staging))
    result = dg.materialize([*plan_assets, reconciliation_report], resources={"staging": staging},
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    meta = {e.event_specific_data.materialization.asset_key.to_user_string():
            {k: getattr(v, "value", v) for k, v in e.event_specific_data.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}
    assert meta["sync_plan_r6"]["stored"] == "written" and meta["sync_plan_r6"]["rows_delete"] == 1
    assert meta["sync_plan_r7"]["rows_create"] == 1
    report = meta["reconciliation_report"]
    assert report["R6_to_delete"] == 1 and report["R7_to_create"] == 1
    amounts = {r.data["currency"]: r.data for r in report["amounts"].records}
    assert amounts["GBP"] == {"currency": "GBP", "salesforce_won": 0.0, "salesforce_orders": 70.0,
                              "xero_invoiced": 0.0, "difference": 70.0}
