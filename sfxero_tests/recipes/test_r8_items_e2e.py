"""R8 (examples/r8_products_to_items.yaml) end to end on the sandbox, through the real `sfxero sync`
in its own process (the code location loads the declared recipe from SFXERO_CONFIG as a deployment
would): the first sync converges (its verifying pass plans nothing to write), every active Product's
code is one Xero Item at the standard USD price, and a Product first sold today gets its Item created
before its invoice in the same push — the invoice is not held for "Item code is not valid". Run under
`deletes: archive`: a Product deleted in Salesforce has its Item deleted in Xero by the next cycle,
which still converges."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..conftest import FAST_XERO
from ..extract.test_salesforce_extract import simple_salesforce
from ..push.conftest import live, records

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "r8_products_to_items.yaml"


def _sfxero(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sfxero_pipelines.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=900)


def example_world(make_sandbox, tmp_path, backend: str, request, config: Path) -> tuple:
    """A sandbox (size 30, seed 7) and the environment of `sfxero` runs staging on `backend` with `config`."""
    server = make_sandbox(size="30", seed=7, xero_limits=FAST_XERO)
    url = f"sqlite:///{tmp_path / 'staging.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    env = {**server.env, "SFXERO_STAGING_URL": url, "DAGSTER_HOME": str(tmp_path / "home"), "SFXERO_CONFIG": str(config)}
    (tmp_path / "home").mkdir()
    return server, env


def _standard_usd_prices(server) -> dict[str, float]:
    standard = {p["Id"] for p in records(server, "sf", "Pricebook2") if p.get("IsStandard")}
    out: dict[str, float] = {}
    for e in sorted(records(server, "sf", "PricebookEntry"), key=lambda e: e["Id"]):
        if e["Pricebook2Id"] in standard and e.get("CurrencyIsoCode") == "USD" and e.get("IsActive"):
            out.setdefault(e["Product2Id"], round(float(e["UnitPrice"]), 2))
    return out


def _items_by_code(server) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for item in live(records(server, "xero", "Items")):
        out.setdefault(item["Code"], []).append(item)
    return out


# Two full syncs (each with its verifying pass) in their own processes: about 40 s a backend.
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_r8_converges_and_a_new_product_gets_its_item_before_its_invoice(make_sandbox, tmp_path, backend, request):
    server, env = example_world(make_sandbox, tmp_path, backend, request, EXAMPLE)
    declared = yaml.safe_load(EXAMPLE.read_text())
    declared["recipes"]["R8"]["deletes"] = "archive"
    declared["push"] = {"max_deletes": 1}  # the mass-change guard lets one delete through unapproved
    (tmp_path / "r8.yaml").write_text(yaml.safe_dump(declared))
    env["SFXERO_CONFIG"] = str(tmp_path / "r8.yaml")

    first = _sfxero(env, "sync")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "NOT converged" not in first.stdout
    prices = _standard_usd_prices(server)
    products = {p["Id"]: p for p in records(server, "sf", "Product2") if p.get("IsActive") and p.get("ProductCode")}
    items = _items_by_code(server)
    for pid, p in products.items():
        assert len(items.get(p["ProductCode"], [])) == 1, f"{p['ProductCode']}: one Item, not {items.get(p['ProductCode'])}"
        item = items[p["ProductCode"]][0]
        assert item["Name"] == p["Name"][:50]
        if pid in prices:
            assert item["SalesDetails"]["UnitPrice"] == prices[pid]
    planned = json.loads(_sfxero(env, "plan", "--json").stdout)
    assert planned["summary"]["R8"]["create"] == planned["summary"]["R8"]["update"] == 0, planned["summary"]
    assert planned["summary"]["R8"]["skip"] == len(products)

    # A product first sold today: new code, standard USD price, a won Opportunity with one line of it.
    sf = simple_salesforce(server)
    standard = next(p["Id"] for p in records(server, "sf", "Pricebook2") if p.get("IsStandard"))
    account = next(a for a in records(server, "sf", "Account")
                   if a.get("CurrencyIsoCode") == "USD" and a.get("Xero_Contact_Id__c") and not a.get("IsDeleted"))
    product = sf.Product2.create({"Name": "Telemetry add-on", "ProductCode": "NEW-TELEMETRY-1", "IsActive": True,
                                  "CurrencyIsoCode": "USD"})["id"]
    entry = sf.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 123.45,
                                      "IsActive": True, "CurrencyIsoCode": "USD"})["id"]
    opp = sf.Opportunity.create({"Name": "Telemetry for " + account["Name"], "AccountId": account["Id"],
                                 "StageName": "Closed Won", "CloseDate": "2026-12-01", "CurrencyIsoCode": "USD",
                                 "Pricebook2Id": standard})["id"]
    sf.OpportunityLineItem.create({"OpportunityId": opp, "PricebookEntryId": entry, "Quantity": 2, "UnitPrice": 123.45})
    # A product no Opportunity sells, deleted: its Item goes under `deletes: archive`.
    sold = {e["Product2Id"] for e in records(server, "sf", "PricebookEntry")
            if e["Id"] in {li.get("PricebookEntryId") for li in records(server, "sf", "OpportunityLineItem")}}
    retired = next(p for pid, p in sorted(products.items()) if pid not in sold)
    sf.Product2.delete(retired["Id"])

    second = _sfxero(env, "sync")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "NOT converged" not in second.stdout
    items = _items_by_code(server)
    assert [i["SalesDetails"]["UnitPrice"] for i in items["NEW-TELEMETRY-1"]] == [123.45]
    assert retired["ProductCode"] not in items, "the deleted Product's Item is deleted in the same cycle"
    invoices = [i for i in live(records(server, "xero", "Invoices")) if i.get("Reference") == opp]
    assert len(invoices) == 1, "the won Opportunity is invoiced in the same cycle as its product's Item"
    assert [line["ItemCode"] for line in invoices[0]["LineItems"]] == ["NEW-TELEMETRY-1"]
    planned = json.loads(_sfxero(env, "plan", "--json").stdout)
    held = [r["reason"] for r in planned["rows"] if r["action"] == "held"]
    assert not [h for h in held if "Item" in h], held
    assert planned["summary"]["R8"]["skip"] == len(products), "one product retired, one new"
    assert planned["summary"]["R8"].get("delete", 0) == 0, "the delete is done: nothing left to plan for it"
