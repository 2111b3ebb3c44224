"""Read what a suite validates into a pandas frame, plus the suite's run-time parameters.

Contract:
- only live rows are checked (`is_deleted` false): a deleted record is never pushed, so it is never held;
- a frame holds `id` and the suite's columns that the table actually has (a column a source does not
  send is reported as skipped, not failed); dates become datetimes so range rules compare correctly;
- derived columns are computed here, in one place, from typed columns or `raw`:
  `total_mismatch` (invoices/bills; line sums computed in SQL from `raw`), `name_key` (contacts), and the accounting pre-validation frames;
- parameters (`{"$PARAMETER": name}` in a suite) come from the reference file, `checks:` config and
  the staged tables (foreign-key id sets, active account codes and tax types). A parameter whose
  source table is not staged is `None`, and the expectations that need it are skipped.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..config import ChecksConfig
from ..recipes import R1, R2
from ..staging.schema import column_name, snake
from ..staging.state import links
from .suites import columns_of, reference

_SPACES = re.compile(r"\s+")
# Xero foreign keys may point at archived/voided records (they are statuses, not deletions);
# Salesforce deletes are real, so a Salesforce reference must resolve to a live row.
_FK_TABLES = {"xero_document_ids": ("xero_invoice", "xero_bill")}


def _q(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def staged_columns(conn: sa.Connection, table: str) -> set[str] | None:
    """Columns of a staged table, or None when it has not been staged yet."""
    inspector = sa.inspect(conn)
    if not inspector.has_table(table):
        return None
    return {c["name"] for c in inspector.get_columns(table)}


def name_key(value) -> str | None:
    """Normalised name for uniqueness: case and whitespace do not make two names different."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return _SPACES.sub(" ", str(value)).strip().casefold() or None


def _read(conn: sa.Connection, table: str, columns: list[str], where: str = "NOT is_deleted") -> pd.DataFrame:
    cols = ", ".join(_q(conn, c) for c in columns)
    # Bound-free SQL is fine here: table and column names come from the repo's suite files and are quoted.
    result = conn.execute(sa.text(f"SELECT {cols} FROM {_q(conn, table)} WHERE {where}"))
    frame = pd.DataFrame(result.fetchall(), columns=columns)
    for column in frame.columns:
        # PostgreSQL NUMERIC arrives as Decimal through plain SQL; compare money as floats on both backends.
        first = frame[column].first_valid_index()
        if first is not None and isinstance(frame[column][first], Decimal):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def _line_sums_sql(conn: sa.Connection, alias: str) -> tuple[str, str]:
    """SQL for Σ LineAmount and Σ TaxAmount of a document's `raw.LineItems`, summed in the database
    (parsing 200k JSON documents in Python costs more than the whole rest of the check)."""
    if conn.dialect.name == "postgresql":
        each = f"json_array_elements(CASE WHEN json_typeof({alias}.raw->'LineItems') = 'array' THEN {alias}.raw->'LineItems' ELSE '[]'::json END) li"
        return (f"(SELECT sum((li->>'LineAmount')::float8) FROM {each})",
                f"(SELECT sum(COALESCE((li->>'TaxAmount')::float8, 0)) FROM {each})")
    each = f"json_each({alias}.raw, '$.LineItems')"
    return (f"(SELECT sum(json_extract(value, '$.LineAmount')) FROM {each})",
            f"(SELECT sum(COALESCE(json_extract(value, '$.TaxAmount'), 0)) FROM {each})")


def table_frame(conn: sa.Connection, suite: dict, staged: set[str]) -> pd.DataFrame:
    """The frame for a per-table suite (derived columns included when their sources are staged)."""
    table = suite["meta"]["table"]
    suite_columns = columns_of(suite)
    wanted = [c for c in suite_columns if c in staged and c != "id"]
    numeric = {c["name"] for c in sa.inspect(conn).get_columns(table) if isinstance(c["type"], (sa.Numeric, sa.Float))}
    # Money as floats on both backends (PostgreSQL NUMERIC → Decimal, SQLite whole values → int).
    exprs = [f"t.{_q(conn, c)}" if c not in numeric else f"CAST(t.{_q(conn, c)} AS DOUBLE PRECISION)"
             for c in ["id", *wanted]]
    names = ["id", *wanted]
    mismatch = "total_mismatch" in suite_columns and {"total", "line_amount_types"} <= staged
    if mismatch:
        lines, tax = _line_sums_sql(conn, "t")
        exprs += [lines, tax, "CAST(t.total AS DOUBLE PRECISION)", "t.line_amount_types"]
        names += ["_lines", "_tax", "_total", "_lat"]
    if "name_key" in suite_columns and "name" in staged and "name" not in wanted:
        exprs.append("t.name")
        names.append("name")
    result = conn.execute(sa.text(f"SELECT {', '.join(exprs)} FROM {_q(conn, table)} t WHERE NOT t.is_deleted"))
    frame = pd.DataFrame(result.fetchall(), columns=names)
    for column in numeric & set(frame.columns):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    if mismatch:
        lines_sum = pd.to_numeric(frame.pop("_lines"), errors="coerce").astype(float)
        tax_sum = pd.to_numeric(frame.pop("_tax"), errors="coerce").astype(float)
        total = pd.to_numeric(frame.pop("_total"), errors="coerce").astype(float)
        kind = frame.pop("_lat")
        expected = lines_sum + tax_sum.where(kind.isna() | (kind == "Exclusive"), 0.0)
        # NaN when a record has no line items (nothing to compare): range rules ignore it.
        frame["total_mismatch"] = (total - expected).abs().round(4)
    if "name_key" in suite_columns and "name" in frame:
        frame["name_key"] = frame["name"].map(name_key)
    return frame


def prepare(frame: pd.DataFrame, suite: dict) -> pd.DataFrame:
    """Normalise columns the way the suite compares them (dates → datetimes, countries → lower case)."""
    for exp in suite["expectations"]:
        kwargs, column = exp["kwargs"], exp["kwargs"].get("column")
        if column not in frame:
            continue
        params = {v["$PARAMETER"] for v in kwargs.values() if isinstance(v, dict) and "$PARAMETER" in v}
        if params & {"min_date", "max_date"}:
            frame[column] = pd.to_datetime(frame[column], errors="coerce", utc=False)
            if getattr(frame[column].dt, "tz", None) is not None:
                frame[column] = frame[column].dt.tz_localize(None)
        if "country_names" in params:
            frame[column] = frame[column].map(lambda v: v.strip().casefold() if isinstance(v, str) else v)
    return frame


def other_organisations_refs_cleared(frame: pd.DataFrame, suite: dict, foreign_ids: frozenset[str]) -> pd.DataFrame:
    """With several Xero organisations, a Salesforce row routed to another one (`foreign_ids`) carries
    that organisation's Xero ids (its write-back): the expectations comparing them with this
    organisation's staged Xero ids (a `xero_*` parameter) leave them to that organisation's runs."""
    if not foreign_ids or "id" not in frame:
        return frame
    theirs = frame["id"].isin(foreign_ids)
    for exp in suite["expectations"]:
        kwargs, column = exp["kwargs"], exp["kwargs"].get("column")
        params = {v["$PARAMETER"] for v in kwargs.values() if isinstance(v, dict) and "$PARAMETER" in v}
        if column in frame and any(p.startswith("xero_") for p in params):
            frame[column] = frame[column].where(~theirs, None)
    return frame


def _ids(conn: sa.Connection, table: str, live: bool) -> list[str]:
    where = " WHERE NOT is_deleted" if live else ""
    return [r[0] for r in conn.execute(sa.text(f"SELECT id FROM {_q(conn, table)}{where}"))]


def parameters(conn: sa.Connection, names: set[str], cfg: ChecksConfig, now: dt.datetime) -> dict:
    """Values for the parameters a suite uses; None when the data behind one is not staged."""
    ref = reference()
    out: dict = {}
    for name in names:
        if name in ref:
            out[name] = ref[name]
        elif name == "min_date":
            out[name] = dt.datetime.combine(cfg.min_date, dt.time())
        elif name == "max_date":
            out[name] = (now + dt.timedelta(days=cfg.max_future_days)).replace(tzinfo=None)
        elif name == "total_tolerance":
            out[name] = cfg.total_tolerance
        elif name == "active_account_codes":
            out[name] = (None if staged_columns(conn, "xero_account") is None else
                         [r[0] for r in conn.execute(sa.text(
                             "SELECT code FROM xero_account WHERE status = 'ACTIVE' AND NOT is_deleted AND code IS NOT NULL"))])
        elif name == "active_tax_types":
            out[name] = (None if staged_columns(conn, "xero_tax_rate") is None else
                         [r[0] for r in conn.execute(sa.text(
                             "SELECT tax_type FROM xero_tax_rate WHERE status = 'ACTIVE' AND NOT is_deleted"))])
        elif name.endswith("_ids"):
            tables = _FK_TABLES.get(name, (name[: -len("_ids")],))
            present = [t for t in tables if staged_columns(conn, t) is not None]
            out[name] = (None if not present else
                         [i for t in present for i in _ids(conn, t, live=t.startswith("sf_"))])
        else:
            raise KeyError(f"unknown suite parameter {name!r}")
    return out


# --- accounting pre-validation frames -------------------------------------------------------------

def _frame_or_empty(conn, table: str, columns: list[str], where: str = "NOT is_deleted") -> pd.DataFrame:
    staged = staged_columns(conn, table)
    if staged is None:
        return pd.DataFrame(columns=columns)
    present = [c for c in columns if c in staged]
    frame = _read(conn, table, present, where)
    for c in columns:
        if c not in frame:
            frame[c] = None
    # These frames are walked in Python: missing values must be None (pandas' NaN is truthy).
    return frame.astype(object).where(frame.notna(), None)


def _links(conn, recipe: str) -> dict[str, str]:
    return links.links_of(conn, recipe)


def _joined(values) -> str | None:
    values = sorted({str(v) for v in values if v is not None and v == v})
    return ", ".join(values) or None


def _planned_item_codes(conn: sa.Connection) -> set[str]:
    """Codes a declared recipe (R8: Product2 → Items) writes as Xero Items in the push before the
    invoices: not unknown to an invoice line, though not staged yet."""
    from ..config import load_config
    from ..config.declared import item_code_sources

    codes: set[str] = set()
    for sobject, field in item_code_sources(load_config().recipes.declared):
        table = "sf_" + snake(sobject)
        if staged_columns(conn, table) is not None and column_name(field) in staged_columns(conn, table):
            codes |= {c for c in _frame_or_empty(conn, table, [column_name(field)])[column_name(field)] if c}
    return codes


def invoice_push_frame(conn: sa.Connection, cfg: ChecksConfig) -> pd.DataFrame | None:
    """Won opportunities (R2) with what Xero would reject: archived contact, unknown item codes,
    inactive account codes or tax types on the items' sales details, a PAID invoice being changed."""
    staged = staged_columns(conn, "sf_opportunity")
    if staged is None or "iswon" not in staged:
        return None
    opps = _frame_or_empty(conn, "sf_opportunity", ["id", "accountid", "amount", "xero_invoice_id__c"],
                           "NOT is_deleted AND iswon")
    accounts = _frame_or_empty(conn, "sf_account", ["id", "xero_contact_id__c"])
    contact_of = dict(zip(accounts["id"], accounts["xero_contact_id__c"]))
    contact_of.update(_links(conn, R1))
    contacts = _frame_or_empty(conn, "xero_contact", ["id", "name", "contact_status"], "1 = 1")
    contact_info = {cid: (name, status) for cid, name, status in zip(contacts["id"], contacts["name"], contacts["contact_status"])}

    lines = _frame_or_empty(conn, "sf_opportunity_line_item", ["opportunityid", "product2id", "productcode"])
    products = _frame_or_empty(conn, "sf_product2", ["id", "productcode"])
    product_code = dict(zip(products["id"], products["productcode"]))
    lines["code"] = [c if c else product_code.get(p) for c, p in zip(lines["productcode"], lines["product2id"])]
    items = _frame_or_empty(conn, "xero_item", ["code", "sales_account_code", "sales_tax_type"])
    item_of = {code: (acc, tax) for code, acc, tax in zip(items["code"], items["sales_account_code"], items["sales_tax_type"])}
    accounts_staged = staged_columns(conn, "xero_account") is not None
    taxes_staged = staged_columns(conn, "xero_tax_rate") is not None
    active_accounts = set(_frame_or_empty(conn, "xero_account", ["code"], "status = 'ACTIVE' AND NOT is_deleted")["code"])
    active_taxes = set(_frame_or_empty(conn, "xero_tax_rate", ["id"], "status = 'ACTIVE' AND NOT is_deleted")["id"])
    items_staged = staged_columns(conn, "xero_item") is not None
    planned = _planned_item_codes(conn)

    unknown, bad_accounts, bad_taxes = {}, {}, {}
    for opp_id, code in zip(lines["opportunityid"], lines["code"]):
        if not code:
            continue
        if code not in item_of:
            if items_staged and code not in planned:
                unknown.setdefault(opp_id, set()).add(code)
            continue
        account_code, tax_type = item_of[code]
        if accounts_staged and account_code and account_code not in active_accounts:
            bad_accounts.setdefault(opp_id, set()).add(f"{code}→{account_code}")
        if taxes_staged and tax_type and tax_type not in active_taxes:
            bad_taxes.setdefault(opp_id, set()).add(f"{code}→{tax_type}")

    invoices = _frame_or_empty(conn, "xero_invoice", ["id", "status", "sub_total", "invoice_number"], "1 = 1")
    invoice_info = {i: (s, t, n) for i, s, t, n in zip(invoices["id"], invoices["status"], invoices["sub_total"], invoices["invoice_number"])}
    invoice_of = dict(zip(opps["id"], opps["xero_invoice_id__c"]))
    invoice_of.update({k: v for k, v in _links(conn, R2).items() if k in invoice_of})

    archived, paid_change = [], []
    for opp_id, account_id, amount in zip(opps["id"], opps["accountid"], opps["amount"]):
        name, status = contact_info.get(contact_of.get(account_id), (None, None))
        archived.append(f"{contact_of.get(account_id)} ({name}) is ARCHIVED" if status == "ARCHIVED" else None)
        status, sub_total, number = invoice_info.get(invoice_of.get(opp_id), (None, None, None))
        changed = (status == "PAID" and amount is not None and sub_total is not None
                   and abs(float(amount) - float(sub_total)) > cfg.total_tolerance)
        paid_change.append(f"{number} is PAID at {float(sub_total):.2f}; opportunity amount is {float(amount):.2f}"
                           if changed else None)
    return pd.DataFrame({
        "id": opps["id"], "archived_xero_contact": archived,
        "unknown_item_codes": [_joined(unknown.get(i, ())) for i in opps["id"]],
        "inactive_account_codes": [_joined(bad_accounts.get(i, ())) for i in opps["id"]],
        "inactive_tax_types": [_joined(bad_taxes.get(i, ())) for i in opps["id"]],
        "paid_invoice_change": paid_change,
    }, dtype=object)


def contact_push_frame(conn: sa.Connection, cfg: ChecksConfig) -> pd.DataFrame | None:
    """Accounts (R1) whose name would collide in Xero, where contact names are unique: two accounts
    with one normalised name, or a name held by a Xero contact already linked to another account."""
    if staged_columns(conn, "sf_account") is None:
        return None
    accounts = _frame_or_empty(conn, "sf_account", ["id", "name", "xero_contact_id__c"])
    link = {a: x for a, x in zip(accounts["id"], accounts["xero_contact_id__c"]) if x}
    link.update(_links(conn, R1))
    owner = {x: a for a, x in link.items()}
    contacts = _frame_or_empty(conn, "xero_contact", ["id", "name"], "1 = 1")
    by_name: dict[str, list[tuple[str, str]]] = {}
    for cid, name in zip(contacts["id"], contacts["name"]):
        by_name.setdefault(name_key(name), []).append((cid, name))
    keys = accounts["name"].map(name_key)
    clashes = []
    for account_id, key in zip(accounts["id"], keys):
        # R1 matches an unlinked Xero contact by normalised name (no clash); one linked to a
        # different account cannot take this account too.
        taken = [f"{cid} ({name}) is linked to {owner[cid]}" for cid, name in by_name.get(key, ())
                 if cid in owner and owner[cid] != account_id and link.get(account_id) != cid]
        clashes.append(taken[0] if taken else None)
    return pd.DataFrame({"id": accounts["id"], "name_key": keys, "clashing_xero_contact": clashes}, dtype=object)


ACCOUNTING_FRAMES = {"accounting_invoice_push": invoice_push_frame, "accounting_contact_push": contact_push_frame}
