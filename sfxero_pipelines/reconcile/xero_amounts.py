"""Invoice lines as Xero keeps them: its precision, its arithmetic and its limits.

- Precision: Quantity 4 dp; UnitAmount 4 dp when the write carries `unitdp=4` (the push always sends
  it for invoices; without it Xero rounds UnitAmount to 2 dp); DiscountRate 2 dp; LineAmount and
  every total 2 dp ("All summary values such as Total, LineAmount etc will remain at two decimal
  places only", Xero's rounding guide).
- Arithmetic: LineAmount = round(Quantity x UnitAmount x (100 - DiscountRate) / 100, 2), a midpoint
  rounded away from zero; the invoice's SubTotal (Exclusive, NoTax) or Total (Inclusive) is the sum
  of its LineAmounts. Computed in decimal, so the plan predicts Xero's cents exactly.
- A line whose Salesforce total Xero cannot reproduce from 4 dp figures (1000 x 0.123456 is 123.46
  in Salesforce, 123.50 in Xero) goes as one unit at that total with its quantity in the
  description: the representation Xero's rounding guide gives for such lines.
- Limits: the OpenAPI spec publishes no maximum for these fields; they travel as JSON doubles
  (`format: double`), exact to 15 significant digits. A value needing more digits at its precision
  would not reach Xero as planned, so it is held before sending: quantities and unit amounts below
  10^11 (4 dp), line amounts and invoice totals below 10^13 (2 dp).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

QUANTITY_DP = 4
UNIT_DP = 4  # with `unitdp=4` on the request
DISCOUNT_DP = 2
AMOUNT_DP = 2
#: Significant digits a JSON double carries exactly.
_DOUBLE_DIGITS = 15


def _max_at(dp: int) -> Decimal:
    return Decimal(10) ** (_DOUBLE_DIGITS - dp) - Decimal(10) ** -dp


MAX_QUANTITY = _max_at(QUANTITY_DP)     # 99,999,999,999.9999
MAX_UNIT_AMOUNT = _max_at(UNIT_DP)      # 99,999,999,999.9999
MAX_AMOUNT = _max_at(AMOUNT_DP)         # 9,999,999,999,999.99 (a LineAmount, a SubTotal or a Total)


def dec(value) -> Decimal | None:
    """A staged number (text, float or None) as the decimal it was written as."""
    if value is None or value == "":
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def xround(value: Decimal, dp: int) -> Decimal:
    """Xero's rounding: to `dp` places, a midpoint away from zero."""
    return value.quantize(Decimal(1).scaleb(-dp), rounding=ROUND_HALF_UP)


def plain(value: Decimal) -> str:
    """1000.0 → '1000', 0.1235 → '0.1235' (no exponent)."""
    return format(value.normalize(), "f")


def line_amount(quantity: Decimal, unit: Decimal, discount: Decimal) -> Decimal:
    return xround(quantity * unit * (100 - discount) / 100, AMOUNT_DP)


@dataclass(frozen=True)
class XeroLine:
    """The figures to send for one line and the LineAmount Xero will compute from them."""

    quantity: Decimal
    unit_amount: Decimal
    discount: Decimal
    amount: Decimal
    #: Appended to the description when the line goes as one unit at its total.
    note: str | None = None
    #: Why Xero cannot take the line (a figure beyond its limits); None when it can.
    problem: str | None = None


# Lines repeat a handful of (quantity, price) pairs (price-book prices times small quantities):
# decimal arithmetic once per distinct line, not once per line.
@lru_cache(maxsize=1 << 16)
def xero_line(quantity, unit_price, discount, total) -> XeroLine:
    """The line as Xero will hold it, from Salesforce's Quantity, UnitPrice, Discount (percent) and
    TotalPrice (None: computed from the others, as Salesforce does)."""
    q, u, d = dec(quantity) or Decimal(0), dec(unit_price) or Decimal(0), dec(discount) or Decimal(0)
    t = dec(total)
    want = xround(t if t is not None else q * u * (100 - d) / 100, AMOUNT_DP)
    xq, xu, xd = xround(q, QUANTITY_DP), xround(u, UNIT_DP), xround(d, DISCOUNT_DP)
    line = XeroLine(xq, xu, xd, line_amount(xq, xu, xd))
    if line.amount != want:
        # The quantity, not the price: staging keeps money to 4 dp, and a rounded price shown next to
        # a total it does not multiply to would mislead whoever reads the invoice.
        less = f" less {plain(d)}%" if d else ""
        line = XeroLine(Decimal(1), want, Decimal(0), want, note=f"{plain(q)} units{less}")
    return XeroLine(line.quantity, line.unit_amount, line.discount, line.amount, line.note, _beyond(line))


def _beyond(line: XeroLine) -> str | None:
    for name, value, limit in (("Quantity", line.quantity, MAX_QUANTITY), ("UnitAmount", line.unit_amount, MAX_UNIT_AMOUNT),
                               ("LineAmount", line.amount, MAX_AMOUNT)):
        if abs(value) > limit:
            return beyond(name, value, limit)
    return None


def beyond(name: str, value: Decimal, limit: Decimal) -> str:
    return (f"{name} {plain(value)} is beyond what Xero accepts (at most {plain(limit)} in absolute value: "
            f"more digits than a JSON number carries exactly)")
