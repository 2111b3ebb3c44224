"""The reconciliation report explains its difference per currency: won not invoiced, invoiced with no
source, linked with other amounts, held, each with the records behind it; every enabled recipe is listed."""

from __future__ import annotations

import dagster as dg

from sfxero_pipelines.defs.reconciliation.assets import plan_assets, reconciliation_report

from .conftest import Stager


def seed(world: Stager) -> dict:
    x = world.xero("Contacts", Name="Acme", ContactStatus="ACTIVE")
    a = world.sf("Account", Name="Acme", Xero_Contact_Id__c=x)
    world.link("R1", a, x)
    world.xero("Items", Code="SUB", Name="Sub", SalesDetails={"AccountCode": "200"})
    p2 = world.sf("Product2", Name="Sub", ProductCode="SUB")
    linked = world.sf("Opportunity", Name="Linked deal", AccountId=a, StageName="Closed Won", CloseDate="2025-01-01",
                      Amount=150.0, IsWon=True, CurrencyIsoCode="GBP")
    world.sf("OpportunityLineItem", OpportunityId=linked, Product2Id=p2, Quantity=1, UnitPrice=150)
    inv = world.xero("Invoices", Type="ACCREC", Reference=linked, Contact={"ContactID": x}, Status="AUTHORISED",
                     SubTotal=150.0, Total=180.0, CurrencyCode="GBP")
    new = world.sf("Opportunity", Name="New deal", AccountId=a, StageName="Closed Won", CloseDate="2025-01-01",
                   Amount=40.0, IsWon=True, CurrencyIsoCode="USD")
    world.sf("OpportunityLineItem", OpportunityId=new, Product2Id=p2, Quantity=1, UnitPrice=40)
    held = world.sf("Opportunity", Name="No lines deal", AccountId=a, StageName="Closed Won",
                    CloseDate="2025-01-01", Amount=50.0, IsWon=True, CurrencyIsoCode="USD")
    orphan = world.xero("Invoices", Type="ACCREC", Reference="typed by hand", Contact={"ContactID": x},
                        Status="AUTHORISED", SubTotal=70.0, Total=70.0, CurrencyCode="USD", InvoiceNumber="INV-77")
    return {"linked": linked, "inv": inv, "new": new, "held": held, "orphan": orphan}


def test_the_difference_per_currency_is_split_into_causes_with_their_records(staging, monkeypatch, tmp_path):
    (tmp_path / "c.yaml").write_text("recipes:\n  R4: {enabled: false}\n")
    monkeypatch.setenv("SFXERO_CONFIG", str(tmp_path / "c.yaml"))
    ids = seed(Stager(staging))
    result = dg.materialize([*plan_assets, reconciliation_report], resources={"staging": staging},
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    report = next({k: getattr(v, "value", v) for k, v in e.event_specific_data.materialization.metadata.items()}
                  for e in result.get_asset_materialization_events()
                  if e.event_specific_data.materialization.asset_key.to_user_string() == "reconciliation_report")
    amounts = {r.data["currency"]: r.data for r in report["amounts"].records}
    assert amounts["USD"]["difference"] == 20.0  # 40 + 50 won, 70 invoiced
    assert report["USD_won_not_invoiced"] == 40.0
    assert report["USD_held"] == 50.0
    assert report["USD_invoiced_without_source"] == -70.0
    assert report["USD_amounts_differ"] == 0
    assert report["GBP_amounts_differ"] == -30.0 and amounts["GBP"]["difference"] == -30.0
    text = report["report"]
    assert "### Why the amounts differ" in text
    assert f"- New deal: 40.00 (Salesforce {ids['new']})" in text
    assert f"- No lines deal: 50.00 (Salesforce {ids['held']})" in text
    assert f"- INV-77: -70.00 (Xero {ids['orphan']})" in text
    assert f"(Salesforce {ids['linked']}) (Xero {ids['inv']})" in text
    assert "Not explained" not in text
    # Every enabled recipe is listed, a disabled one is not (R4 off here; R6, R7 off by default).
    listed = [r.data["recipe"] for r in report["recipes"].records]
    assert listed == ["R1", "R2", "R3", "R5"]
