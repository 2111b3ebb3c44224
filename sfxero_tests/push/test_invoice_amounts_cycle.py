"""Invoice amounts through real extract → check → reconcile → push runs on the sandbox, both staging
backends: an Opportunity or Order with a line held at check is held (no invoice is created from its
other lines), so is one whose unit price is beyond what Xero takes, and a fractional line (3.3333333 x 0.123456789 = 0.41 in Salesforce) is written at
Xero's 4 dp so the invoice Xero computes is 0.41 and the verifying pass plans nothing for it."""

from __future__ import annotations

from sfxero_pipelines.staging.state.plans import load_latest
from sfxero_pipelines.sandbox.salesforce.store import normalize_id

from ..extract.conftest import FAST_XERO, salesforce_resource
from .conftest import Cycle, live, records

XC = "11111111-1111-4111-8111-111111111111"


def sfid(prefix: str, n: int) -> str:
    return normalize_id(f"{prefix}5Hs{n:09d}")


A, P = sfid("001", 1), sfid("01t", 1)
O_HELD, O_FRAC, O_HUGE, ORDER = sfid("006", 1), sfid("006", 2), sfid("006", 3), sfid("801", 1)
LINE_ZERO, ITEM_ZERO = sfid("00k", 2), sfid("802", 2)
PB, PBE = sfid("01s", 1), sfid("01u", 1)


def _opp(oid: str) -> dict:
    return {"Id": oid, "Name": f"Deal {oid[-4:]}", "AccountId": A, "StageName": "Closed Won", "CloseDate": "2025-06-30",
            "CurrencyIsoCode": "USD"}


FIXTURES = {
    "salesforce": {
        "Account": [{"Id": A, "Name": "Good Corp", "BillingCountry": "United States", "Xero_Contact_Id__c": XC}],
        "Product2": [{"Id": P, "Name": "Consulting", "ProductCode": "GOOD", "IsActive": True}],
        "Pricebook2": [{"Id": PB, "Name": "Standard Price Book", "IsStandard": True, "IsActive": True}],
        "PricebookEntry": [{"Id": PBE, "Pricebook2Id": PB, "Product2Id": P, "UnitPrice": 10, "IsActive": True,
                            "CurrencyIsoCode": "USD"}],
        "Opportunity": [_opp(O_HELD), _opp(O_FRAC), _opp(O_HUGE)],
        "OpportunityLineItem": [
            {"Id": sfid("00k", 1), "OpportunityId": O_HELD, "Product2Id": P, "Quantity": 1, "UnitPrice": 100},
            {"Id": LINE_ZERO, "OpportunityId": O_HELD, "Product2Id": P, "Quantity": 0, "UnitPrice": 50},
            {"Id": sfid("00k", 3), "OpportunityId": O_FRAC, "Product2Id": P, "Quantity": 3.3333333,
             "UnitPrice": 0.123456789},
            {"Id": sfid("00k", 4), "OpportunityId": O_HUGE, "Product2Id": P, "Quantity": 1, "UnitPrice": 2e11},
        ],
        "Order": [{"Id": ORDER, "AccountId": A, "Status": "Activated", "EffectiveDate": "2025-06-30",
                   "CurrencyIsoCode": "USD", "Pricebook2Id": PB}],
        "OrderItem": [
            {"Id": sfid("802", 1), "OrderId": ORDER, "PricebookEntryId": PBE, "Quantity": 1, "UnitPrice": 10},
            {"Id": ITEM_ZERO, "OrderId": ORDER, "PricebookEntryId": PBE, "Quantity": 0, "UnitPrice": 10},
        ],
    },
    "xero": {
        "Contacts": [{"ContactID": XC, "Name": "Good Corp"}],
        "Items": [{"Code": "GOOD", "Name": "Consulting", "IsSold": True,
                   "SalesDetails": {"UnitPrice": 100, "AccountCode": "200", "TaxType": "OUTPUT"}}],
    },
}


def _plan(staging) -> dict:
    with staging.engine.connect() as conn:
        return {(r.recipe, r.source_id): r for r in load_latest(conn).itertuples() if r.direction == "sf_to_xero"}


def _config(tmp_path, monkeypatch) -> None:
    config = tmp_path / "sfxero.yaml"
    # R7 on (Orders); many lines are bad on purpose, above the default blocking share.
    config.write_text("recipes:\n  R7: {enabled: true}\nchecks:\n  max_bad_share: 0.9\n")
    monkeypatch.setenv("SFXERO_CONFIG", str(config))


def test_held_lines_hold_their_record_and_fractional_prices_converge(make_sandbox, staging, tmp_path, monkeypatch):
    _config(tmp_path, monkeypatch)
    server = make_sandbox(fixtures=FIXTURES, xero_limits=FAST_XERO)
    cycle = Cycle(server, staging)
    cycle.plan_to_push()
    plan = _plan(staging)
    held, order = plan[("R2", O_HELD)], plan[("R7", ORDER)]
    assert held.action == "held", held
    assert held.reason.startswith(f"Opportunity {O_HELD} waits for its OpportunityLineItem {LINE_ZERO}, held at "
                                  "check: expect_column_values_to_be_between(quantity)"), held.reason
    assert order.action == "held" and f"waits for its OrderItem {ITEM_ZERO}, held at check" in order.reason, order
    assert plan[("R2", O_FRAC)].action == "create"
    huge = plan[("R2", O_HUGE)]
    assert huge.action == "held" and "UnitAmount 200000000000 is beyond what Xero accepts" in huge.reason, huge

    ok, _ = cycle.stage("push")
    invoices = {i.get("Reference"): i for i in live(records(server, "xero", "Invoices"))}
    assert O_HELD not in invoices and ORDER not in invoices and O_HUGE not in invoices
    made = invoices[O_FRAC]
    assert made["SubTotal"] == 0.41
    assert (made["LineItems"][0]["Quantity"], made["LineItems"][0]["UnitAmount"]) == (3.3333, 0.1235)

    for name in ("extract", "check", "reconcile"):
        cycle.stage(name)
    again = _plan(staging)
    assert again[("R2", O_FRAC)].action == "skip", again[("R2", O_FRAC)]
    assert again[("R2", O_HELD)].action == "held" and again[("R7", ORDER)].action == "held"
    converged, counts = cycle.converged()
    assert converged, counts


def test_a_line_held_after_the_plan_stops_its_invoice_at_push(make_sandbox, staging, tmp_path, monkeypatch):
    """A check that holds a line between reconcile and push (a stale plan): the push sends nothing for
    that Opportunity, and the next plan holds it with the line's reason."""
    _config(tmp_path, monkeypatch)
    fixtures = {"salesforce": {k: FIXTURES["salesforce"][k] for k in ("Account", "Product2")},
                "xero": FIXTURES["xero"]}
    fixtures["salesforce"]["Opportunity"] = [_opp(O_FRAC)]
    late = sfid("00k", 9)
    fixtures["salesforce"]["OpportunityLineItem"] = [{"Id": late, "OpportunityId": O_FRAC, "Product2Id": P,
                                                      "Quantity": 2, "UnitPrice": 10}]
    server = make_sandbox(fixtures=fixtures, xero_limits=FAST_XERO)
    cycle = Cycle(server, staging)
    cycle.plan_to_push()
    assert _plan(staging)[("R2", O_FRAC)].action == "create"

    with salesforce_resource(server).get_client() as sf:
        [result] = sf.update_collection([{"Id": late, "Quantity": 0}], sobject="OpportunityLineItem")
        assert result["success"], result
    for name in ("extract", "check"):
        cycle.stage(name)
    ok, rows = cycle.stage("push")
    assert O_FRAC not in {i.get("Reference") for i in live(records(server, "xero", "Invoices"))}

    cycle.stage("reconcile")
    row = _plan(staging)[("R2", O_FRAC)]
    assert row.action == "held" and f"waits for its OpportunityLineItem {late}, held at check" in row.reason, row
