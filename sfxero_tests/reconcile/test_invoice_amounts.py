"""Invoice amounts as Xero holds them, on both backends: a record with a held line is held (never
invoiced from its other lines), lines are sent at the precision Xero keeps (Quantity and UnitAmount
4 dp with `unitdp=4`, line amounts rounded to 2 dp) so an invoice in sync compares equal, a
difference Xero cannot represent is a conflict rather than an update planned forever, and amounts
beyond what Xero accepts are held before anything is sent."""

from types import SimpleNamespace

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.reconcile.build import build_plan

from .conftest import diff_of

R7_ONLY = {"recipes": {"R2": {"enabled": False}, "R3": {"enabled": False}, "R7": {"enabled": True}}}


def plan(world, cfg=None):
    with world.db.engine.connect() as conn:
        p = build_plan(conn, parse_config(cfg or {}), families=("invoices",))
    return {(r["recipe"], r["direction"], r["source_id"]): SimpleNamespace(**r) for r in p.rows.to_dict("records")}


def items(world):
    world.xero("Items", Code="SUB-PRO", Name="Pro", SalesDetails={"AccountCode": "200", "TaxType": "OUTPUT2"})
    return world.sf("Product2", Name="Pro", ProductCode="SUB-PRO")


def won(world, account, amount, **kw):
    return world.sf("Opportunity", Name="Deal", AccountId=account, StageName="Closed Won", CloseDate="2025-02-01",
                    Amount=amount, IsWon=True, CurrencyIsoCode="GBP", **kw)


def deal(world, amount):
    """A Xero Item with its Product2, and a won Opportunity of `amount` for a new Account."""
    product = items(world)
    return product, won(world, world.sf("Account", Name="Acme"), amount)


def line(world, opp, product, quantity, unit_price, total=None, **kw):
    return world.sf("OpportunityLineItem", OpportunityId=opp, Product2Id=product, Quantity=quantity,
                    UnitPrice=unit_price, TotalPrice=total, Name="Pro", **kw)


def draft(world, opp, sub_total, status="DRAFT"):
    return world.xero("Invoices", Type="ACCREC", Reference=opp, Contact={"ContactID": "c1"}, Status=status,
                      SubTotal=sub_total, Total=sub_total, AmountDue=sub_total, CurrencyCode="GBP")


# -- a held line holds its Opportunity / Order -----------------------------------------------------

ZERO_QUANTITY = "expect_column_values_to_be_between(quantity): 0.0"


def assert_waits(row, record: str, part: str) -> None:
    assert row.action == "held", row
    assert row.reason == f"{record} waits for its {part}, held at check: {ZERO_QUANTITY}"


def test_opportunity_with_a_line_held_at_check_is_held_not_invoiced(world):
    p2, o = deal(world, 100.0)
    line(world, o, p2, 1, 100, 100.0, SortOrder="1")
    bad = line(world, o, p2, 0, 50, 0.0, SortOrder="2")
    world.hold("sf_opportunity_line_item", bad, ZERO_QUANTITY)
    assert_waits(plan(world)[("R2", "sf_to_xero", o)], f"Opportunity {o}", f"OpportunityLineItem {bad}")


def test_invoiced_opportunity_with_a_held_line_is_not_updated(world):
    p2, o = deal(world, 300.0)
    line(world, o, p2, 1, 300, 300.0)
    bad = line(world, o, p2, -2, 50, -100.0)
    draft(world, o, 100.0)
    world.hold("sf_opportunity_line_item", bad, "expect_column_values_to_be_between(quantity): -2.0")
    rows = plan(world)
    assert rows[("R2", "sf_to_xero", o)].action == "held"
    assert f"OpportunityLineItem {bad}, held at check" in rows[("R2", "sf_to_xero", o)].reason
    assert all(r.action != "update" for r in rows.values())


def test_released_or_deleted_held_lines_do_not_hold_the_opportunity(world):
    p2, o = deal(world, 100.0)
    line(world, o, p2, 1, 100, 100.0)
    fixed = line(world, o, p2, 1, 0, 0.0)
    gone = line(world, o, p2, 0, 5, 0.0, deleted=True)
    world.hold("sf_opportunity_line_item", fixed, "was bad", released=True)
    world.hold("sf_opportunity_line_item", gone, ZERO_QUANTITY)
    assert plan(world)[("R2", "sf_to_xero", o)].action == "create"


def test_order_with_an_item_held_at_check_is_held(world):
    p2 = items(world)
    a = world.sf("Account", Name="Acme")
    o = world.sf("Order", AccountId=a, Status="Activated", EffectiveDate="2025-02-10", TotalAmount=100.0,
                 CurrencyIsoCode="GBP")
    world.sf("OrderItem", OrderId=o, Product2Id=p2, Quantity=1, UnitPrice=100, OrderItemNumber="1")
    bad = world.sf("OrderItem", OrderId=o, Product2Id=p2, Quantity=0, UnitPrice=100, OrderItemNumber="2")
    world.hold("sf_order_item", bad, ZERO_QUANTITY)
    assert_waits(plan(world, R7_ONLY)[("R7", "sf_to_xero", o)], f"Order {o}", f"OrderItem {bad}")


# -- precision: what Xero keeps, and comparing as Xero computes ------------------------------------

def test_fractional_line_is_sent_at_four_decimals(world):
    p2, o = deal(world, 0.41)
    line(world, o, p2, 3.3333333, 0.123456789, 0.41)
    d = diff_of(plan(world)[("R2", "sf_to_xero", o)])
    [li] = d["payload"]["LineItems"]
    assert (li["Quantity"], li["UnitAmount"]) == (3.3333, 0.1235)


def test_invoice_xero_computed_from_the_lines_is_in_sync(world):
    p2, o = deal(world, 0.41)
    line(world, o, p2, 3.3333333, 0.123456789, 0.41)
    draft(world, o, 0.41)
    assert plan(world)[("R2", "sf_to_xero", o)].action == "skip"


def test_invoice_written_at_two_decimals_is_updated_once(world):
    """An invoice from before (UnitAmount rounded to 0.12, Xero computed 0.40) is corrected."""
    p2, o = deal(world, 0.41)
    line(world, o, p2, 3.3333333, 0.123456789, 0.41)
    draft(world, o, 0.40)
    row = plan(world)[("R2", "sf_to_xero", o)]
    assert row.action == "update"
    assert diff_of(row)["payload"]["LineItems"][0]["UnitAmount"] == 0.1235


def test_line_xero_cannot_price_is_sent_as_its_total(world):
    """1000 x 0.123456 is 123.46 in Salesforce; at 4 dp Xero would make it 123.50: the line goes as
    one unit at its total, its quantity in the description (Xero's documented way)."""
    p2, o = deal(world, 123.46)
    line(world, o, p2, 1000, 0.123456, 123.46, Description="Usage")
    [li] = diff_of(plan(world)[("R2", "sf_to_xero", o)])["payload"]["LineItems"]
    assert (li["Quantity"], li["UnitAmount"]) == (1.0, 123.46)
    assert li["Description"] == "Usage (1000 units)"


def test_amount_the_lines_cannot_make_is_a_conflict_not_an_endless_update(world):
    """The Opportunity's Amount differs from its lines; Xero already holds what the lines make, so
    sending them again changes nothing: a person decides."""
    p2, o = deal(world, 250.0)
    line(world, o, p2, 2, 100, 200.0)
    draft(world, o, 200.0)
    row = plan(world)[("R2", "sf_to_xero", o)]
    assert row.action == "conflict"
    assert row.reason.startswith("Opportunity.Amount 250.00 differs from its lines, which make 200.00 as Xero "
                              "rounds them")


# -- Xero's limits ----------------------------------------------------------------------------------

def test_unit_amount_beyond_xero_limit_is_held_before_sending(world):
    p2, o = deal(world, 2e11)
    li = line(world, o, p2, 1, 2e11, 2e11)
    row = plan(world)[("R2", "sf_to_xero", o)]
    assert row.action == "held"
    assert row.reason.startswith(f"line {li}: UnitAmount 200000000000") and "99999999999.9999" in row.reason


def test_line_total_beyond_xero_limit_is_held_also_on_update(world):
    p2, o = deal(world, 2e13)
    li = line(world, o, p2, 4e6, 5e6, 2e13)
    draft(world, o, 100.0)
    row = plan(world)[("R2", "sf_to_xero", o)]
    assert row.action == "held"
    assert row.reason.startswith(f"line {li}: LineAmount 20000000000000") and "9999999999999.99" in row.reason


def test_invoice_total_beyond_xero_limit_is_held(world):
    p2, o = deal(world, 1.2e13)
    for _ in range(2):
        line(world, o, p2, 100, 6e10, 6e12)
    row = plan(world)[("R2", "sf_to_xero", o)]
    assert row.action == "held" and "invoice SubTotal 12000000000000" in row.reason


def test_xero_rounding_is_decimal_with_midpoints_away_from_zero():
    from decimal import Decimal

    from sfxero_pipelines.reconcile.xero_amounts import xero_line

    # 2.675 is 2.67499999... as a binary float, which round() takes down; Xero rounds the decimal.
    assert xero_line(1, 2.675, None, None).amount == Decimal("2.68")
    assert xero_line(-1, 2.675, None, None).amount == Decimal("-2.68")
    assert xero_line(3, 19.99, 12.5, None).amount == Decimal("52.47")  # 59.97 less 12.5% = 52.47375
