"""R2 (won Opportunity + line items → Xero ACCREC invoice), R3 (invoice status/payments → Opportunity)
and R7 (activated Order + OrderItems → Xero ACCREC invoice).

R2 and R7 are the same recipe over two Salesforce objects (`Source` says which table, lines,
amount, date and write-back fields): matching by link (sync_link R2/R7, or Xero_Invoice_Id__c
written back) → invoice Reference = record Id; creates and updates carry the full invoice lines, at
the precision Xero keeps (`xero_amounts`). A record is held with the reason, and no invoice is
created or updated from it, when one of its lines is held (at check or since), names a product with
no Xero Item, or has figures beyond Xero's limits, or when it has no lines. The amount is compared
as Xero computes it: an invoice already holding what the lines make, yet differing from the
record's amount, is a conflict (sending the lines again would change nothing). An approved
(AUTHORISED/PAID) invoice whose amount or currency no longer matches is a conflict: Xero does not
allow editing it, a person decides. With both R2 and R7 on, an Order whose Opportunity R2 invoices
is held instead of created, so one sale is never invoiced twice.

Each source is read and matched here (`read_source` → `match_source`) and planned by the declared-recipe
engine (`declared.plan_xero_pass`) on that pass, from its declaration (config/invoice_declared.py): the
engine pairs, holds (`hold_checks`), plans pairs in sync, the invoice id/number written back, broken links
and ambiguous matches. What no declaration expresses is `InvoiceCode`, at the engine's extension point
(`declared.DocumentCode`): `compare_amounts` / `decide_changed` for pairs, `_creates` for unmatched
records. R3 is planned on the pairs of R2's pass by the engine too (`declared_sf.plan_on_pass`: its
shipped declaration, config/builtin_recipes.yaml).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..config import SfxeroConfig
from ..config.declared import paired_write_backs
from ..config.invoice_declared import WRITE_BACK, invoice_declaration, invoice_wording
from ..config.recipes import InvoiceRecipe
from ..recipes import R1, R2, R3, R7
from ..staging.schema import column_name
from ..staging.state import links
from . import load, normalize, plan, routing
from .contacts import apply_filters
from .declared import Decided, XeroPass, pair_xero_pass, plan_xero_pass, planned_items
from .deletes import gone_pairs
from .fields import value_mapper
from .match import MatchResult, match
from .steps import HoldCheck, held_by, link_pairs, staged_invalid
from .xero_amounts import MAX_AMOUNT, beyond, xero_line

EDITABLE = {"DRAFT", "SUBMITTED"}


@dataclass(frozen=True)
class Source:
    """What differs between R2 (Opportunities) and R7 (Orders); everything else is shared."""

    recipe: str
    sobject: str
    table: str
    lines_table: str
    #: Line column holding the record's Id.
    parent: str
    #: Salesforce fields (API names): compared with the invoice amount, giving the invoice Date,
    #: and read by `recipes.<R>.status_map`.
    amount: str
    date: str
    stage: str
    #: "won Opportunity": names the records in reasons.
    label: str
    #: Line columns (staged names); None when the object has no such field.
    line_sort: str
    line_name: str | None
    line_code: str | None
    line_discount: str | None
    #: Extra record columns read (R7: the Order's Opportunity, for the R2/R7 overlap check).
    related: tuple[str, ...] = ()
    #: The line object's name, for reasons ("OpportunityLineItem").
    line_sobject: str = ""

    def where(self, conn: sa.Connection, have: set[str]) -> str:
        if self.recipe == R2:
            return load.bool_true(conn, "o.iswon") if "iswon" in have else "(1 = 0)"
        # Order.StatusCode is the status category (Status can be a custom label in an Activated category).
        return f"({activated(have, 'o')})"


def activated(have: set[str], alias: str) -> str:
    """SQL: the Order is activated (StatusCode is the category; Status may be a custom label in it)."""
    status = [f"{alias}.{c}" for c in ("statuscode", "status") if c in have]
    if not status:
        return "1 = 0"
    return f"{'coalesce(' + ', '.join(status) + ')' if len(status) > 1 else status[0]} = 'Activated'"


OPPORTUNITIES = Source(R2, "Opportunity", "sf_opportunity", "sf_opportunity_line_item", "opportunityid", "Amount",
                       "CloseDate", "StageName", "won Opportunity", line_sort="sortorder", line_name="name",
                       line_code="productcode", line_discount="discount",
                       line_sobject="OpportunityLineItem")
ORDERS = Source(R7, "Order", "sf_order", "sf_order_item", "orderid", "TotalAmount", "EffectiveDate", "Status",
                "activated Order", line_sort="orderitemnumber", line_name=None, line_code=None, line_discount=None,
                related=("opportunityid",), line_sobject="OrderItem")


#: Invoice recipe → its Salesforce source.
SOURCES = {s.recipe: s for s in (OPPORTUNITIES, ORDERS)}


def waiting(conn: sa.Connection, src: Source) -> dict[str, str]:
    """Record id → why no invoice may be written from it now: its own open hold, else a held line (a
    record is invoiced from all its lines or not at all), named with that line's reason."""
    own = load.open_holds(conn, [src.table])[src.table]
    lines = load.held_parts(conn, src.lines_table, src.parent, src.line_sobject)
    out = {i: f"{src.sobject} {i} waits for its {why}" for i, why in lines.items()}
    out.update({i: f"{src.sobject} {i} {why}" for i, why in own.items()})
    return out


def _col(have: set[str], alias: str, c: str | None, conn) -> str:
    return f"{alias}.{load.q(conn, c)}" if c and c in have else "NULL"


def read_records(conn: sa.Connection, src: Source, extra: list[str]) -> pd.DataFrame:
    """The recipe's live records (won Opportunities / activated Orders) with their own link (sync_link
    R2/R7), the Account's R1 link, and the Account's written-back Xero ContactID. Canonical columns
    `stage`, `close`, `amount` whatever the object calls them."""
    load.require_table(conn, src.table)
    have = load.table_columns(conn, src.table)
    canon = {"id": "id", "modified_at": "modified_at", "invalid_reason": "invalid_reason", "name": "name",
             "accountid": "accountid", "stage": column_name(src.stage), "close": column_name(src.date),
             "amount": column_name(src.amount), "currencyisocode": "currencyisocode"}
    more = [*(column_name(f) for f in WRITE_BACK), *src.related, *extra]
    more = [c for c in dict.fromkeys(more) if c not in canon]
    sel = [_col(have, "o", c, conn) for c in [*canon.values(), *more]]
    names = [*canon, *more]
    joins = ""
    for alias, recipe, on in (("l", src.recipe, "o.id"), ("al", R1, "o.accountid")):
        if links.has_links_table(conn):
            joins += links.link_join_sql(alias, recipe, on)
            sel.append(f"{alias}.xero_id")
        else:
            sel.append("NULL")
    names += ["link_id", "contact_link"]
    if load.has_table(conn, "sf_account"):
        ahave = load.table_columns(conn, "sf_account")
        joins += " LEFT JOIN sf_account a ON a.id = o.accountid"
        sel.append(_col(ahave, "a", "xero_contact_id__c", conn))
    else:
        sel.append("NULL")
    names.append("contact_field")
    return load.frame(conn, f"SELECT {', '.join(sel)} FROM {src.table} o{joins} WHERE NOT o.is_deleted AND "
                         f"{src.where(conn, have)}", names)


def read_invoices(conn: sa.Connection) -> pd.DataFrame:
    cols = ["id", "modified_at", "invalid_reason", "invoice_number", "reference", "contact_id", "status", "sub_total",
            "total", "currency_code", "line_amount_types"]
    if not load.has_table(conn, "xero_invoice"):
        return pd.DataFrame({c: pd.Series([], dtype="object") for c in cols})
    have = load.table_columns(conn, "xero_invoice")
    return load.frame(conn, f"SELECT {', '.join(_col(have, 'x', c, conn) for c in cols)} FROM xero_invoice x", cols)


LINE_COLUMNS = ["id", "parent", "product2id", "productcode", "name", "quantity", "unitprice", "discount",
                "totalprice", "description", "sortorder", "p_code", "p_name"]


def read_lines(conn: sa.Connection, src: Source) -> pd.DataFrame:
    """Live lines of the source object in canonical columns, with the Product2 code and name."""
    if not load.has_table(conn, src.lines_table):
        return pd.DataFrame({c: pd.Series([], dtype="object") for c in LINE_COLUMNS})
    have = load.table_columns(conn, src.lines_table)
    own = [("id", "id"), ("parent", src.parent), ("product2id", "product2id"), ("productcode", src.line_code),
           ("name", src.line_name), ("quantity", "quantity"), ("unitprice", "unitprice"),
           ("discount", src.line_discount), ("totalprice", "totalprice"), ("description", "description"),
           ("sortorder", src.line_sort)]
    sel = [_col(have, "li", c, conn) for _, c in own]
    join = ""
    if load.has_table(conn, "sf_product2"):
        phave = load.table_columns(conn, "sf_product2")
        join = " LEFT JOIN sf_product2 p ON p.id = li.product2id"
        sel += [_col(phave, "p", "productcode", conn), _col(phave, "p", "name", conn)]
    else:
        sel += ["NULL", "NULL"]
    return load.frame(conn, f"SELECT {', '.join(sel)} FROM {src.lines_table} li{join} WHERE NOT li.is_deleted",
                      LINE_COLUMNS)


def read_items(conn: sa.Connection) -> dict[str, dict]:
    if not load.has_table(conn, "xero_item"):
        return {}
    df = load.frame(conn, "SELECT code, sales_account_code, sales_tax_type FROM xero_item WHERE NOT is_deleted",
                    ["code", "account", "tax"])
    return {r.code: {"account": r.account, "tax": r.tax} for r in df.itertuples()}


@dataclass
class InvoiceLines:
    """A source's invoice lines by record id: the Xero LineItems to send, why a record cannot be
    invoiced (a line unmappable or beyond Xero's limits), and the amount Xero will compute from them
    (the SubTotal, or the Total with tax-inclusive lines)."""

    items: dict[str, list]
    bad: dict[str, str]
    totals: dict[str, float]


def _line_items(lines: pd.DataFrame, items: dict, rc) -> InvoiceLines:
    out: dict[str, list] = {}
    bad: dict[str, str] = {}
    sums: dict = {}
    # Numeric order where the sort field is a number ("10" after "9"), then the line id.
    lines = lines.assign(_sort=pd.to_numeric(lines.sortorder, errors="coerce")).sort_values(
        ["parent", "_sort", "sortorder", "id"], kind="mergesort", na_position="last")
    for r in lines.itertuples(index=False):
        code = r.productcode or r.p_code
        item = items.get(code) if code else None
        if item is None:
            bad.setdefault(r.parent, f"line {r.id}: ProductCode {code!r} has no Xero Item" if code else
                           f"line {r.id} has no ProductCode to map to a Xero Item")
            continue
        x = xero_line(r.quantity, r.unitprice, r.discount, r.totalprice)
        if x.problem:
            bad.setdefault(r.parent, f"line {r.id}: {x.problem}")
            continue
        description = r.description or r.name or r.p_name or code
        line = {"ItemCode": code, "Description": f"{description} ({x.note})" if x.note else description,
                "Quantity": float(x.quantity), "UnitAmount": float(x.unit_amount),
                "AccountCode": item["account"] or rc.default_account_code}
        if x.discount:
            line["DiscountRate"] = float(x.discount)
        tax = item["tax"] or rc.default_tax_type
        if tax:
            line["TaxType"] = tax
        out.setdefault(r.parent, []).append(line)
        sums[r.parent] = sums.get(r.parent, 0) + x.amount
    basis = "Total" if rc.line_amount_types == "Inclusive" else "SubTotal"
    for parent, total in sums.items():
        if abs(total) > MAX_AMOUNT:
            bad.setdefault(parent, f"invoice {beyond(basis, total, MAX_AMOUNT)}")
    return InvoiceLines(out, bad, {p: float(t) for p, t in sums.items()})


class _Lines:
    """The source's invoice lines, read once and only when a create or update needs them."""

    def __init__(self, conn: sa.Connection, src: Source, rc, shared: dict) -> None:
        self.conn, self.src, self.rc, self.shared = conn, src, rc, shared
        self._value: InvoiceLines | None = None

    def get(self) -> InvoiceLines:
        if self._value is None:
            if "items" not in self.shared:  # Xero Items: read once for both sources
                self.shared["items"] = read_items(self.conn)
            self._value = _line_items(read_lines(self.conn, self.src), self.shared["items"], self.rc)
        return self._value


def plan_invoices(conn: sa.Connection, cfg: SfxeroConfig) -> plan.FamilyPlan:
    """R2/R3 (won Opportunities) and R7 (activated Orders) against the staged ACCREC invoices."""
    rr = cfg.recipes
    inv = read_invoices(conn)
    shared: dict = {}  # Xero Items, read once for both sources
    if rr.declared:
        # Items a declared recipe (R8) creates in the same push, before the invoices: their lines
        # are planned, not held for a missing item (staged Items win over planned ones).
        if planned := planned_items(conn, cfg):
            shared["items"] = {**planned, **read_items(conn)}
    parts: list[pd.DataFrame] = []
    stats: dict = {"xero_invoices": len(inv)}
    invoiced_by_r2: set[str] = set()
    routed = routing.routed_here(conn, cfg)
    if rr.R2.enabled or rr.R3.enabled:
        rows, st, ids, pairs = _plan_source(conn, cfg, OPPORTUNITIES, rr.R2, inv, shared, routed=routed)
        parts.append(rows)
        stats.update({"matched_by": st["matched_by"], "won_opportunities": st["records"]})
        if rr.R2.enabled:
            invoiced_by_r2 = ids
        if rr.R3.enabled:
            from .declared_sf import plan_on_pass

            # R3 on the declared-recipe engine: its declaration planned on the pairs of R2's pass (the
            # Opportunities matched to an invoice and not held), whether R2 itself is enabled or not.
            r3 = plan_on_pass(conn, cfg, R3, pairs)
            parts.append(r3.rows)
            stats[R3] = r3.stats
    if rr.R7.enabled:
        rows, st, _, _ = _plan_source(conn, cfg, ORDERS, rr.R7, inv, shared, invoiced_by_r2=invoiced_by_r2,
                                      routed=routed)
        parts.append(rows)
        stats[R7] = {"matched_by": st["matched_by"], "activated_orders": st["records"]}
    return plan.FamilyPlan(rows=plan.concat(parts), stats=stats)


@dataclass
class SourceSides:
    """What one source's planning reads besides the invoices: its records and what holds them."""

    #: Live records (recipes.<R>.filters applied) with `link_id` (their sync_link) and the Account's links.
    records: pd.DataFrame
    #: Record id → why no invoice may be written from it now (`waiting`).
    waits: dict[str, str]
    #: Open holds on xero_invoice (id → reason).
    invoice_holds: dict[str, str]
    #: Salesforce field → Xero's invoice path (`InvoiceID`) of the id/number write-backs the object has staged.
    back_fields: dict[str, str]


def read_source(conn: sa.Connection, src: Source, rc, routed: routing.Routed | None = None) -> SourceSides:
    """Read step: the source's live records that pass its filters, and what holds them or their invoices.
    With `routed` (several organisations), only the records whose Account is this organisation's."""
    filter_cols = [column_name(f.field) for f in rc.filters]
    rec = read_records(conn, src, filter_cols)
    rec = rec[apply_filters(rec, rc.filters, f"recipes.{src.recipe}")].reset_index(drop=True)
    waits = waiting(conn, src)
    if routed is not None:
        rec = rec[rec.accountid.map(routed.covers).to_numpy(dtype=bool)].reset_index(drop=True)
        for record_id, account_id in zip(rec.id, rec.accountid):
            if account_id in routed.held and record_id not in waits:
                why = f"Account {account_id} held at reconcile: {routed.held[account_id]}"
                waits[record_id] = why
    have = load.table_columns(conn, src.table)
    return SourceSides(rec, waits, load.open_holds(conn, ["xero_invoice"])["xero_invoice"],
                       {f: path for f, path in WRITE_BACK.items() if column_name(f) in have})


def match_source(records: pd.DataFrame, inv: pd.DataFrame) -> MatchResult:
    """Match step: records to live invoices by link (sync_link, else the written-back invoice id),
    then by Reference = record Id."""
    active = ~inv.status.isin(["DELETED", "VOIDED"])
    return match(records, inv, links=link_pairs(records, "link_id"), sf_link_col="xero_invoice_id__c", active=active,
                 keys=[("reference", lambda d: d.id, lambda d: normalize.v_text(d.reference))],
                 target_label="Xero invoice")


def hold_checks(src: Source, sides: SourceSides) -> list[HoldCheck]:
    """A waiting record (its own hold or a held line), a held invoice or an invalid record holds the pair."""
    return [("sf_id", sides.waits.get), ("xero_id", held_by(sides.invoice_holds, "Xero invoice")),
            ("s_invalid", staged_invalid(src.sobject))]


@dataclass
class AmountDiff:
    """Compare step's view of the invoice itself: the record's amount and currency against the invoice's."""

    amount_sf: pd.Series
    amount_xero: pd.Series
    currency_sf: pd.Series
    currency_xero: pd.Series
    amount_differs: np.ndarray
    currency_differs: np.ndarray

    @property
    def changed(self) -> np.ndarray:
        return self.amount_differs | self.currency_differs


def compare_amounts(ok: pd.DataFrame, line_amount_types: str) -> AmountDiff:
    """The record's amount against the invoice subtotal (Exclusive) or total (Inclusive), and the currencies."""
    basis = ok.total if line_amount_types == "Inclusive" else ok.sub_total
    amt_s, amt_x = normalize.v_money(ok.amount), normalize.v_money(basis)
    cur_s, cur_x = normalize.v_text(ok.s_cur).str.upper(), normalize.v_text(ok.x_cur).str.upper()
    amt_diff = ~((amt_s == amt_x) | (amt_s.isna() & amt_x.isna())).to_numpy()
    cur_diff = (cur_s.notna() & cur_x.notna() & (cur_s != cur_x)).to_numpy()
    return AmountDiff(amt_s, amt_x, cur_s, cur_x, amt_diff, cur_diff)


def decide_changed(src: Source, rc, ok: pd.DataFrame, diff: AmountDiff,
                   lines: _Lines) -> dict[str, tuple[list, list, list]]:
    """action (update | conflict | held) → (pair rows, diffs, reasons) of the invoices whose amount
    or currency differs: an approved invoice is a conflict, one whose lines cannot be sent is held,
    one already holding what the lines make is a conflict, the rest are updated with their lines."""
    recipe = src.recipe
    amount_rule = f"{recipe}: {src.sobject}.{src.amount} → invoice amount"
    # Arrays read by position: a pandas .iloc per value is the slow way to walk the pairs that differ.
    amt_s, amt_x, cur_s, cur_x = (v.to_numpy(dtype=object) for v in (diff.amount_sf, diff.amount_xero,
                                                                      diff.currency_sf, diff.currency_xero))
    amt_diff, cur_diff = diff.amount_differs, diff.currency_differs
    editable = ok.status.isin(list(EDITABLE)).to_numpy()
    sf_ids, x_ids, statuses = ok.sf_id.to_numpy(), ok.xero_id.to_numpy(), ok.status.to_numpy()
    matches, links = ok["match"].to_numpy(), ok.link.to_numpy()
    decided: dict[str, tuple[list, list, list]] = {a: ([], [], []) for a in ("update", "conflict", "held")}
    for i in np.flatnonzero(diff.changed):
        sid = sf_ids[i]
        fields = {}
        if amt_diff[i]:
            fields["SubTotal" if rc.line_amount_types != "Inclusive" else "Total"] = {
                "old": amt_x[i], "new": amt_s[i], "rule": amount_rule}
        if cur_diff[i]:
            fields["CurrencyCode"] = {"old": cur_x[i], "new": cur_s[i],
                                      "rule": f"{recipe}: {src.sobject}.CurrencyIsoCode → CurrencyCode"}
        d = {"match": matches[i], "link": bool(links[i]), "target_object": "Invoice", "fields": fields}
        if not editable[i]:
            action, why = "conflict", (f"invoice is {statuses[i]} in Xero and can no longer be edited; "
                                       "amount or currency differs — raise a credit note or correct by hand")
        else:
            made = lines.get()
            made_total = made.totals.get(sid)
            why = made.bad.get(sid) or (None if sid in made.items else f"{src.label} has no line items to invoice")
            if why:
                action = "held"
            elif amt_diff[i] and not cur_diff[i] and made_total is not None and round(made_total, 2) == amt_x[i]:
                action = "conflict"
                # Sending the lines again would change nothing: an update here would be planned forever.
                why = (f"{src.sobject}.{src.amount} {float(amt_s[i]):.2f} differs from its lines, which make "
                       f"{float(amt_x[i]):.2f} as Xero rounds them, and the invoice already holds that: "
                       f"correct the {src.sobject}'s amount or its lines")
            else:
                # The full replacement lines, as for creates.
                action, why = "update", "amount or currency changed; invoice is still editable"
                d["payload"] = {"InvoiceID": x_ids[i], "LineItems": made.items[sid]}
        for bucket, value in zip(decided[action], (int(i), d, why)):
            bucket.append(value)
    return decided


def _plan_source(conn: sa.Connection, cfg: SfxeroConfig, src: Source, rc, inv: pd.DataFrame, shared: dict, *,
                 invoiced_by_r2: set[str] = frozenset(),
                 routed: routing.Routed | None = None) -> tuple[pd.DataFrame, dict, set[str], pd.DataFrame]:
    """One source's rows: its read and match here, then the engine on its declaration
    (config/invoice_declared.py) with this module's code for what the declaration cannot express
    (`InvoiceCode`). Returns rows (none when the recipe is off), stats, the ids of the records taking part,
    and the pairs compared (sf_id, xero_id, match: what R3 is planned on)."""
    sides = read_source(conn, src, rc, routed)
    m = match_source(sides.records, inv)
    code = InvoiceCode(cfg, src, rc, _Lines(conn, src, rc, shared), sides, invoiced_by_r2)
    p = engine_pass(conn, m, inv, code)
    declaration = invoice_declaration(src.recipe, rc, sides.back_fields)
    if rc.enabled:
        rows = plan_xero_pass(conn, cfg, src.recipe, declaration, invoice_wording(src.recipe), p).rows
    else:
        rows = plan.empty()
        pair_xero_pass(conn, src.recipe, declaration, p)  # R3's pairs only
    return (rows, {"matched_by": m.by_rule, "records": len(sides.records)}, set(sides.records.id),
            p.compared[["sf_id", "xero_id", "match"]])


def engine_pass(conn: sa.Connection, m: MatchResult, inv: pd.DataFrame, code: InvoiceCode) -> XeroPass:
    """The engine's view of a source's read and match (declared.XeroPass): the records, the invoices with
    what the write-back reads (`x:InvoiceID`, `x:InvoiceNumber`), R2's hold checks, the amount, currency
    and status carried into each pair for `InvoiceCode.decide`, and R2's gone pairs (read when planned)."""
    sides = code.sides
    xr = inv.rename(columns={"invoice_number": "x:InvoiceNumber"}).assign(**{"x:InvoiceID": inv.id})
    # An Opportunity (Order) deleted or an invoice voided: the recipe's policies for both sides (an approved
    # invoice voided, one with payments held).
    removals = lambda: gone_pairs(conn, code.cfg, code.src.recipe)  # noqa: E731
    return XeroPass(sides.records, [], xr, m, {},
                    carried_src={"amount": "amount", "s_cur": "currencyisocode"},
                    carried_x={"status": "status", "sub_total": "sub_total", "total": "total", "x_cur": "currency_code"},
                    checks=hold_checks(code.src, sides), documents=code, removals=removals)


@dataclass
class InvoiceCode:
    """R2's (R7's) code at the engine's extension point (declared.DocumentCode): the invoice compared as
    Xero computes it from the lines, and the create's body with its lines."""

    cfg: SfxeroConfig
    src: Source
    rc: InvoiceRecipe
    lines: _Lines
    sides: SourceSides
    invoiced_by_r2: set[str]

    def decide(self, ok: pd.DataFrame) -> Decided:
        return decide_changed(self.src, self.rc, ok, compare_amounts(ok, self.rc.line_amount_types), self.lines)

    def creates(self, unmatched: pd.Series) -> pd.DataFrame:
        records = self.sides.records.set_index("id").loc[unmatched].reset_index()
        return _creates(self.cfg, self.src, self.rc, records, self.sides.waits, self.lines, self.sides.back_fields,
                        self.invoiced_by_r2)


def write_back_fields(cfg: SfxeroConfig) -> dict[str, str]:
    """Opportunity field → path in Xero's answer to the invoice create, written back in the same
    push step (R2's id and number; the fields R3 and the declared recipes that update the Opportunities
    R2 links read as they are from Xero, so the next plan has nothing to add)."""
    return {**paired_write_backs(cfg.recipes.declarations, R2, "Opportunity"), **WRITE_BACK}


def _creates(cfg: SfxeroConfig, src: Source, rc, rec: pd.DataFrame, waits: dict[str, str], source_lines: _Lines,
             back_fields: dict[str, str], invoiced_by_r2: set[str]) -> pd.DataFrame:
    if rec.empty:
        return plan.empty()
    recipe = src.recipe
    got = source_lines.get()
    lines, bad = got.items, got.bad
    status_map = value_mapper(cfg.mapping.value_maps.get(rc.status_map)) if rc.status_map else None
    statuses = status_map(rec.stage).tolist() if status_map else [None] * len(rec)
    # R2's write-back (R3's fields included); R7's: the Order's invoice id/number fields that are staged.
    back = write_back_fields(cfg) if recipe == R2 else back_fields
    related = rec.opportunityid.tolist() if "opportunityid" in rec.columns else [None] * len(rec)
    created, held = [], []
    for j, r in enumerate(rec.itertuples(index=False)):
        contact_id = r.contact_link or r.contact_field
        why = (waits.get(r.id) or
               (f"{src.sobject} staged invalid: {r.invalid_reason}" if isinstance(r.invalid_reason, str) else None) or
               (f"its Opportunity {related[j]} is invoiced by R2 (R2 and R7 are both enabled): turn one of them off "
                f"or link this Order to that invoice in sync_link" if related[j] in invoiced_by_r2 else None) or
               bad.get(r.id) or (None if r.id in lines else f"{src.label} has no line items to invoice") or
               (None if r.accountid else f"{src.sobject} has no Account, so no Xero Contact to invoice"))
        if why:
            held.append((r.id, why))
            continue
        close = dt.date.fromisoformat(str(r.close)[:10]) if r.close else None
        status = statuses[j] if statuses[j] in ("DRAFT", "SUBMITTED", "AUTHORISED") else rc.status
        body = {"Type": "ACCREC", "Reference": r.id, "Status": status, "LineAmountTypes": rc.line_amount_types,
                # Contact by ContactID when linked; else by ContactNumber = Account Id (R1 creates it first).
                "Contact": {"ContactID": contact_id} if contact_id else {"ContactNumber": r.accountid},
                "LineItems": lines[r.id]}
        if close:
            body["Date"] = close.isoformat()
            body["DueDate"] = (close + dt.timedelta(days=rc.due_days)).isoformat()
        if r.currencyisocode:
            body["CurrencyCode"] = r.currencyisocode
        diff = {"match": None, "link": True, "target_object": "Invoice",
                "depends_on": None if contact_id else {"recipe": R1, "source_id": r.accountid},
                "fields": {k: {"old": None, "new": v, "rule": f"{recipe} mapping"} for k, v in sorted(body.items())},
                "payload": body}
        if back:
            diff["write_back"] = {"sobject": src.sobject, "id": r.id, "fields": back}
        created.append((r.id, diff))
    out = [plan.rows(recipe, "sf_to_xero", "create", [c[0] for c in created], None, [c[1] for c in created],
                     f"{src.label} has no Xero invoice (link, Reference)")]
    if held:
        out.append(plan.rows(recipe, "sf_to_xero", "held", [h[0] for h in held], None, None, [h[1] for h in held]))
    return pd.concat(out, ignore_index=True)
