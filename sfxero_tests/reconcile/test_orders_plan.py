"""R7 planning: activated Orders + OrderItems ↔ ACCREC invoices (link → Reference = Order Id), on
both backends. The same code as R2; these pin what differs (object, lines through Product2, dates,
write-back fields) and how R2 and R7 coexist."""

from types import SimpleNamespace

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.reconcile.build import build_plan

from .conftest import diff_of

R7_ONLY = {"recipes": {"R2": {"enabled": False}, "R3": {"enabled": False}, "R7": {"enabled": True}}}


def cfg(data=None):
    return parse_config(data or R7_ONLY)


def plan(world, config=None):
    with world.db.engine.connect() as conn:
        p = build_plan(conn, config or cfg(), families=("invoices",))
    return [SimpleNamespace(**r) for r in p.rows.to_dict("records")], p


def rows_of(world, config=None):
    return plan(world, config)[0]


def setup_items(world):
    world.xero("Items", Code="SUB-PRO", Name="Pro", SalesDetails={"AccountCode": "200", "TaxType": "OUTPUT2"})
    world.xero("Items", Code="ONBOARD", Name="Onboarding", SalesDetails={"AccountCode": "260"})
    return (world.sf("Product2", Name="Pro subscription", ProductCode="SUB-PRO"),
            world.sf("Product2", Name="Onboarding", ProductCode="ONBOARD"))


def order(world, account, total=1000.0, status="Activated", **kw):
    return world.sf("Order", AccountId=account, Status=status, EffectiveDate="2025-02-10", TotalAmount=total,
                    CurrencyIsoCode="EUR", **kw)


def test_activated_order_becomes_a_create_with_the_full_invoice_and_write_back(world):
    pro, onboard = setup_items(world)
    x = world.xero("Contacts", Name="Acme", ContactStatus="ACTIVE")
    a = world.sf("Account", Name="Acme")
    world.link("R1", a, x)
    o = order(world, a)
    # Items ordered by OrderItemNumber (numerically), described by the line or else the product.
    world.sf("OrderItem", OrderId=o, Product2Id=onboard, Quantity=1, UnitPrice=200, OrderItemNumber="0000000010")
    world.sf("OrderItem", OrderId=o, Product2Id=pro, Quantity=2, UnitPrice=400, OrderItemNumber="0000000009",
             Description="Pro, 12 months")
    order(world, a, status="Draft")  # not activated: not invoiced
    [row] = rows_of(world)
    assert (row.recipe, row.direction, row.action, row.source_id, row.target_id) == ("R7", "sf_to_xero", "create", o, None)
    d = diff_of(row)
    assert d["target_object"] == "Invoice" and d["link"] is True and d["depends_on"] is None
    assert d["payload"] == {
        "Type": "ACCREC", "Reference": o, "Status": "DRAFT", "LineAmountTypes": "Exclusive", "Contact": {"ContactID": x},
        "Date": "2025-02-10", "DueDate": "2025-03-12", "CurrencyCode": "EUR",
        "LineItems": [{"ItemCode": "SUB-PRO", "Description": "Pro, 12 months", "Quantity": 2.0, "UnitAmount": 400.0,
                       "AccountCode": "200", "TaxType": "OUTPUT2"},
                      {"ItemCode": "ONBOARD", "Description": "Onboarding", "Quantity": 1.0, "UnitAmount": 200.0,
                       "AccountCode": "260"}]}
    assert d["write_back"] == {"sobject": "Order", "id": o,
                               "fields": {"Xero_Invoice_Id__c": "InvoiceID", "Xero_Invoice_Number__c": "InvoiceNumber"}}
    assert all(set(f) == {"old", "new", "rule"} and f["rule"] == "R7 mapping" for f in d["fields"].values())
    assert row.reason == "activated Order has no Xero invoice (link, Reference)"


def test_status_map_and_an_unlinked_account_depends_on_r1(world):
    pro, _ = setup_items(world)
    a = world.sf("Account", Name="Unlinked")
    o = order(world, a)
    world.sf("OrderItem", OrderId=o, Product2Id=pro, Quantity=1, UnitPrice=1000)
    config = cfg({"mapping": {"value_maps": {"order_status": {"Activated": "AUTHORISED"}}},
                  "recipes": {"R2": {"enabled": False}, "R7": {"enabled": True, "status_map": "order_status",
                                                                "due_days": 7}}})
    [row] = rows_of(world, config)
    d = diff_of(row)
    assert d["payload"]["Status"] == "AUTHORISED" and d["payload"]["DueDate"] == "2025-02-17"
    assert d["payload"]["Contact"] == {"ContactNumber": a} and d["depends_on"] == {"recipe": "R1", "source_id": a}


def test_orders_without_items_or_with_unknown_products_are_held(world):
    setup_items(world)
    a = world.sf("Account", Name="Acme")
    mystery = world.sf("Product2", Name="Mystery", ProductCode="NOPE")
    o1 = order(world, a)
    item = world.sf("OrderItem", OrderId=o1, Product2Id=mystery, Quantity=1, UnitPrice=10)
    o2 = order(world, a)
    o3 = order(world, a, invalid="TotalAmount: not a number")
    o4 = order(world, a)
    world.hold("sf_order", o2, "push failed: INVALID_FIELD", released=False)
    rows = {r.source_id: r for r in rows_of(world)}
    assert rows[o4].action == "held" and rows[o4].reason == "activated Order has no line items to invoice"
    assert rows[o1].action == "held" and rows[o1].reason == f"line {item}: ProductCode 'NOPE' has no Xero Item"
    assert rows[o2].action == "held" and rows[o2].reason == f"Order {o2} held at check: push failed: INVALID_FIELD"
    assert rows[o3].action == "held" and rows[o3].reason == "Order staged invalid: TotalAmount: not a number"


def test_reference_match_skips_and_writes_the_invoice_back_to_the_order(world):
    a = world.sf("Account", Name="Acme")
    o = order(world, a, total=500.0)
    x = world.xero("Invoices", Type="ACCREC", Reference=o, InvoiceNumber="INV-70", Contact={"ContactID": "c1"},
                   Status="AUTHORISED", SubTotal=500.0, Total=600.0, AmountDue=600.0, CurrencyCode="EUR")
    rows = rows_of(world)
    by = {(r.recipe, r.direction): r for r in rows}
    assert set(by) == {("R7", "sf_to_xero"), ("R7", "xero_to_sf")}  # no R3 for Orders
    assert by[("R7", "sf_to_xero")].action == "skip" and by[("R7", "sf_to_xero")].target_id == x
    assert diff_of(by[("R7", "sf_to_xero")]) == {"match": "reference", "link": True}
    back = diff_of(by[("R7", "xero_to_sf")])
    assert back["target_object"] == "Order" and by[("R7", "xero_to_sf")].target_id == o
    assert back["payload"] == {"Order": {"Id": o, "Xero_Invoice_Id__c": x, "Xero_Invoice_Number__c": "INV-70"}}
    assert back["fields"]["Xero_Invoice_Id__c"] == {"old": None, "new": x, "rule": "R7 write-back of the invoice id; owner xero"}


def test_amount_change_updates_a_draft_and_conflicts_on_an_approved_invoice(world):
    pro, _ = setup_items(world)
    a = world.sf("Account", Name="Acme")
    o1, o2 = order(world, a, total=800.0), order(world, a, total=900.0)
    world.sf("OrderItem", OrderId=o1, Product2Id=pro, Quantity=2, UnitPrice=400)
    x1 = "inv-draft-7"
    world.link("R7", o1, x1)
    world.xero("Invoices", InvoiceID=x1, Type="ACCREC", Reference="edited by hand", Contact={"ContactID": "c1"},
               Status="DRAFT", SubTotal=400.0, Total=400.0, CurrencyCode="EUR")
    world.xero("Invoices", Type="ACCREC", Reference=o2, Contact={"ContactID": "c1"}, Status="PAID",
               SubTotal=100.0, Total=100.0, CurrencyCode="GBP")
    rows = {r.source_id: r for r in rows_of(world) if r.direction == "sf_to_xero"}
    assert rows[o1].action == "update" and diff_of(rows[o1])["match"] == "link"
    d = diff_of(rows[o1])
    assert d["fields"]["SubTotal"] == {"old": 400.0, "new": 800.0, "rule": "R7: Order.TotalAmount → invoice amount"}
    assert d["payload"]["InvoiceID"] == x1 and [li["ItemCode"] for li in d["payload"]["LineItems"]] == ["SUB-PRO"]
    assert rows[o2].action == "conflict" and "PAID" in rows[o2].reason
    assert set(diff_of(rows[o2])["fields"]) == {"SubTotal", "CurrencyCode"}


def test_duplicate_reference_conflicts_and_a_broken_link_is_held(world):
    a = world.sf("Account", Name="Acme")
    o1, o2 = order(world, a), order(world, a)
    c1 = world.xero("Invoices", Type="ACCREC", Reference=o1, Contact={"ContactID": "c"}, Status="DRAFT", SubTotal=1000.0)
    c2 = world.xero("Invoices", Type="ACCREC", Reference=o1, Contact={"ContactID": "c"}, Status="DRAFT", SubTotal=1000.0)
    world.link("R7", o2, "inv-gone")
    rows = {r.source_id: r for r in rows_of(world)}
    assert rows[o1].action == "conflict" and diff_of(rows[o1])["candidates"] == sorted([c1, c2])
    assert rows[o2].action == "held" and "inv-gone not found" in rows[o2].reason


def test_r2_and_r7_together_never_invoice_one_sale_twice(world):
    pro, _ = setup_items(world)
    a = world.sf("Account", Name="Acme")
    opp = world.sf("Opportunity", Name="Deal", AccountId=a, StageName="Closed Won", CloseDate="2025-02-01",
                   Amount=800.0, IsWon=True, CurrencyIsoCode="EUR")
    world.sf("OpportunityLineItem", OpportunityId=opp, Product2Id=pro, Quantity=2, UnitPrice=400, Name="Pro")
    from_opp = order(world, a, total=800.0, OpportunityId=opp)
    world.sf("OrderItem", OrderId=from_opp, Product2Id=pro, Quantity=2, UnitPrice=400)
    alone = order(world, a, total=400.0)
    world.sf("OrderItem", OrderId=alone, Product2Id=pro, Quantity=1, UnitPrice=400)
    both = cfg({"recipes": {"R7": {"enabled": True}}})
    rows = {(r.recipe, r.source_id): r for r in rows_of(world, both)}
    assert rows[("R2", opp)].action == "create"
    assert rows[("R7", alone)].action == "create"
    held = rows[("R7", from_opp)]
    assert held.action == "held" and f"its Opportunity {opp} is invoiced by R2" in held.reason
    # R7 alone invoices that Order; R2 alone (the default) plans no R7 rows at all.
    r7 = {(r.recipe, r.source_id): r.action for r in rows_of(world)}
    assert r7 == {("R7", from_opp): "create", ("R7", alone): "create"}
    assert {r.recipe for r in rows_of(world, parse_config({}))} == {"R2"}


def test_same_staging_gives_the_identical_plan(world):
    pro, _ = setup_items(world)
    a = world.sf("Account", Name="Acme")
    o = order(world, a)
    world.sf("OrderItem", OrderId=o, Product2Id=pro, Quantity=1, UnitPrice=1000)
    o2 = order(world, a, total=10.0)
    world.sf("OrderItem", OrderId=o2, Product2Id=pro, Quantity=1, UnitPrice=10)
    world.xero("Invoices", Type="ACCREC", Reference=o2, Contact={"ContactID": "c"}, Status="DRAFT", SubTotal=5.0)
    (first, p1), (_, p2) = plan(world), plan(world)
    assert p1.plan_ids == p2.plan_ids and p1.rows.equals(p2.rows)
    assert sorted((r.action, r.direction) for r in first) == [("create", "sf_to_xero"), ("update", "sf_to_xero"),
                                                             ("update", "xero_to_sf")]
