"""R2/R3 planning: won Opportunities ↔ ACCREC invoices (link → Reference), full invoice body on
create, holds for unmappable lines, conflicts for approved invoices that changed, payments back."""

from types import SimpleNamespace

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.reconcile.build import build_plan

from .conftest import diff_of


def plan(world, cfg=None):
    with world.db.engine.connect() as conn:
        p = build_plan(conn, cfg or parse_config({}), families=("invoices",))
    return [SimpleNamespace(**r) for r in p.rows.to_dict("records")]


def setup_items(world):
    world.xero("Items", Code="SUB-PRO", Name="Pro", SalesDetails={"AccountCode": "200", "TaxType": "OUTPUT2"})
    return world.sf("Product2", Name="Pro", ProductCode="SUB-PRO")


def won(world, account, amount=4800.0, **kw):
    return world.sf("Opportunity", Name="Deal", AccountId=account, StageName="Closed Won", CloseDate="2025-02-01",
                    Amount=amount, IsWon=True, CurrencyIsoCode="GBP", **kw)


def test_won_opportunity_becomes_a_create_with_the_full_invoice(world):
    p2 = setup_items(world)
    x = world.xero("Contacts", Name="Acme", ContactStatus="ACTIVE")
    a = world.sf("Account", Name="Acme", Xero_Contact_Id__c=x)
    o = won(world, a)
    world.sf("OpportunityLineItem", OpportunityId=o, Product2Id=p2, Quantity=2, UnitPrice=2400, Name="Pro", SortOrder="1")
    world.sf("Opportunity", Name="Lost", AccountId=a, StageName="Closed Lost", CloseDate="2025-02-01", IsWon=False)
    [row] = plan(world)
    assert (row.recipe, row.action, row.source_id) == ("R2", "create", o)
    body = diff_of(row)["payload"]
    assert body == {"Type": "ACCREC", "Reference": o, "Status": "DRAFT", "LineAmountTypes": "Exclusive",
                    "Contact": {"ContactID": x}, "Date": "2025-02-01", "DueDate": "2025-03-03", "CurrencyCode": "GBP",
                    "LineItems": [{"ItemCode": "SUB-PRO", "Description": "Pro", "Quantity": 2.0, "UnitAmount": 2400.0,
                                   "AccountCode": "200", "TaxType": "OUTPUT2"}]}


def test_status_from_config_and_unlinked_account_depends_on_r1(world):
    cfg = parse_config({"mapping": {"value_maps": {"stage": {"Closed Won": "AUTHORISED"}}},
                        "recipes": {"R2": {"status_map": "stage", "due_days": 14}}})
    p2 = setup_items(world)
    a = world.sf("Account", Name="Unlinked")
    o = won(world, a)
    world.sf("OpportunityLineItem", OpportunityId=o, Product2Id=p2, Quantity=1, UnitPrice=4800)
    [row] = plan(world, cfg)
    d = diff_of(row)
    assert d["payload"]["Status"] == "AUTHORISED" and d["payload"]["DueDate"] == "2025-02-15"
    assert d["payload"]["Contact"] == {"ContactNumber": a} and d["depends_on"] == {"recipe": "R1", "source_id": a}


def test_unknown_product_code_and_missing_lines_are_held(world):
    setup_items(world)
    a = world.sf("Account", Name="Acme")
    bad = world.sf("Product2", Name="Mystery", ProductCode="NOPE")
    o1 = won(world, a)
    li = world.sf("OpportunityLineItem", OpportunityId=o1, Product2Id=bad, Quantity=1, UnitPrice=10)
    o2 = won(world, a)
    rows = {r.source_id: r for r in plan(world)}
    assert rows[o1].action == "held" and rows[o1].reason == f"line {li}: ProductCode 'NOPE' has no Xero Item"
    assert rows[o2].action == "held" and "no line items" in rows[o2].reason


def test_reference_match_in_sync_skips_and_writes_ids_back(world):
    a = world.sf("Account", Name="Acme")
    o = won(world, a, amount=100.0, Xero_Invoice_Status__c="AUTHORISED", Xero_Amount_Paid__c=0.0, Xero_Amount_Due__c=120.0)
    x = world.xero("Invoices", Type="ACCREC", Reference=o, InvoiceNumber="INV-7", Contact={"ContactID": "c1"},
                   Status="AUTHORISED", SubTotal=100.0, Total=120.0, AmountDue=120.0, AmountPaid=0.0, CurrencyCode="GBP")
    rows = plan(world)
    by = {(r.recipe, r.direction): r for r in rows}
    assert by[("R2", "sf_to_xero")].action == "skip" and by[("R2", "sf_to_xero")].target_id == x
    back = diff_of(by[("R2", "xero_to_sf")])
    assert back["fields"]["Xero_Invoice_Id__c"]["new"] == x and back["fields"]["Xero_Invoice_Number__c"]["new"] == "INV-7"
    assert ("R3", "xero_to_sf") not in by  # status and amounts already match


def test_payment_in_xero_flows_to_the_opportunity(world):
    a = world.sf("Account", Name="Acme")
    x = "inv-paid-1"
    o = won(world, a, amount=100.0, Xero_Invoice_Id__c=x, Xero_Invoice_Number__c="INV-8",
            Xero_Invoice_Status__c="AUTHORISED", Xero_Amount_Paid__c=0.0, Xero_Amount_Due__c=120.0)
    world.link("R2", o, x)
    world.xero("Invoices", InvoiceID=x, Type="ACCREC", Reference=o, InvoiceNumber="INV-8", Contact={"ContactID": "c1"},
               Status="PAID", SubTotal=100.0, Total=120.0, AmountDue=0.0, AmountPaid=120.0, CurrencyCode="GBP",
               FullyPaidOnDate="2025-03-01T00:00:00")
    [r3] = [r for r in plan(world) if r.recipe == "R3"]
    fields = diff_of(r3)["fields"]
    assert set(fields) == {"Xero_Invoice_Status__c", "Xero_Amount_Paid__c", "Xero_Amount_Due__c", "Xero_Fully_Paid_On__c"}
    assert fields["Xero_Invoice_Status__c"]["old"] == "AUTHORISED" and fields["Xero_Invoice_Status__c"]["new"] == "PAID"
    assert fields["Xero_Amount_Paid__c"]["new"] == 120.0 and fields["Xero_Fully_Paid_On__c"]["new"] == "2025-03-01"
    assert (r3.direction, r3.source_id, r3.target_id) == ("xero_to_sf", x, o)


def test_amount_change_updates_a_draft_but_conflicts_on_an_approved_invoice(world):
    p2 = setup_items(world)
    a = world.sf("Account", Name="Acme")
    o1, o2 = won(world, a, amount=200.0), won(world, a, amount=300.0)
    world.sf("OpportunityLineItem", OpportunityId=o1, Product2Id=p2, Quantity=1, UnitPrice=200)
    for o, status in ((o1, "DRAFT"), (o2, "AUTHORISED")):
        world.xero("Invoices", Type="ACCREC", Reference=o, Contact={"ContactID": "c1"}, Status=status,
                   SubTotal=100.0, Total=100.0, AmountDue=100.0, CurrencyCode="GBP")
    rows = {r.source_id: r for r in plan(world) if r.direction == "sf_to_xero"}
    assert rows[o1].action == "update"
    d = diff_of(rows[o1])
    assert d["fields"]["SubTotal"]["old"] == 100.0 and d["fields"]["SubTotal"]["new"] == 200.0
    assert d["payload"]["LineItems"][0]["ItemCode"] == "SUB-PRO"
    assert rows[o2].action == "conflict" and "AUTHORISED" in rows[o2].reason


def test_two_invoices_with_the_same_reference_conflict(world):
    a = world.sf("Account", Name="Acme")
    o = won(world, a)
    x1 = world.xero("Invoices", Type="ACCREC", Reference=o, Contact={"ContactID": "c"}, Status="DRAFT", SubTotal=4800.0)
    x2 = world.xero("Invoices", Type="ACCREC", Reference=o, Contact={"ContactID": "c"}, Status="DRAFT", SubTotal=4800.0)
    [row] = plan(world)
    assert row.action == "conflict" and diff_of(row)["candidates"] == sorted([x1, x2])
