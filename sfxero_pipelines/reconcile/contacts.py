"""R1 (Account → Xero Contact), R4 (balances → Account) and R5 (Xero-owned fields → Account).

The three recipes share one matching of Salesforce Accounts to Xero Contacts, so they are planned
together: R1 rows go sf_to_xero (create/update/skip/conflict/held, plus the ContactID write-back
as an R1 xero_to_sf row); R4 and R5 rows go xero_to_sf for linked pairs only.

`plan_contacts` runs the steps (shared ones in steps.py): `read_sides` → `match_sides` →
`settled_pairs` / `pair_sides` / `hold_checks` → `compare_pairs` → `emit_pairs`, `emit_unpaired`
and `_creates` for unmatched Accounts.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..config import SfxeroConfig
from ..config.declared import paired_write_backs
from ..config.r1_declared import CREATE_REASON, KEY_RULE, WRITE_BACK_REASON, WRITE_BACK_RULE, r1_wording
from ..errors import ConfigError
from ..extract.xero_objects import XERO_OBJECTS
from ..recipes import R1, R4, R5
from ..staging.schema import column_name
from ..staging.state import holds as state_holds
from ..staging.state import links
from . import load, normalize, plan, primary_contact, routing, transforms
from .declared import PRIMARY_CONTACT_ID, XeroPass, field_plans, plan_xero_pass
from .fields import FieldRule, compare, inverse_mapper, same_key, transform, value_mapper
from .match import MatchResult, match
from .xero_contact_fields import xero_path, xero_payload
from .steps import (HoldCheck, ambiguous, broken_link_rows, brought_back, changes_by_row, conflict_rows, held_by,
                    held_pair_rows, hold_reasons, in_sync, link_pairs, pair_frame, sf_update_rows, split_held,
                    staged_invalid, xero_owned)

XERO_COLUMNS = {"Name": "name", "ContactNumber": "contact_number", "AccountNumber": "account_number",
                "EmailAddress": "email_address", "FirstName": "first_name", "LastName": "last_name",
                "TaxNumber": "tax_number", "DefaultCurrency": "default_currency"}
LINK_FIELD = "Xero_Contact_Id__c"


# ---- reading -----------------------------------------------------------------------------------

def _xero_groups(nested: list[str]) -> dict[str, str]:
    """Nested Xero fields grouped by the array element they read: group alias → jsonpath
    (one element per phone/address type, so each is found once per row, not once per field)."""
    groups: dict[str, str] = {}
    for f in nested:
        parts = f.split(".")
        kind = "PhoneType" if parts[0] == "Phones" else "AddressType"
        groups.setdefault(f"{parts[0]}.{parts[1]}",
                          f"'$.{parts[0]}[*] ? (@.{kind} == \"{parts[1]}\")'")
    return groups


def _xero_expr(xero_field: str, group: str) -> str:
    """SQL for a nested Xero field on PostgreSQL, from its group's element (`n.<group>`)."""
    parts = xero_field.split(".")
    g = f"n.{group}"
    if parts[0] == "Phones":
        return (f"CASE WHEN coalesce({g}->>'PhoneNumber', '') <> '' THEN concat_ws(' ', '+' || "
                f"nullif({g}->>'PhoneCountryCode', ''), nullif({g}->>'PhoneAreaCode', ''), {g}->>'PhoneNumber') END")
    return f"({g}->>'{parts[2]}')"


XERO_BASE = ["id", "modified_at", "invalid_reason", "contact_status", "contact_number", "name", "email_address",
             "ar_outstanding", "ar_overdue"]


def _xero_columns(nested_fields: list[str]) -> list[str]:
    """Typed xero_contact columns read: what matching and R4 need, and the mapped plain fields."""
    mapped = {XERO_COLUMNS[f] for f in nested_fields if f in XERO_COLUMNS}
    return [*XERO_BASE, *sorted(mapped - set(XERO_BASE))]


def _xero_select(conn: sa.Connection, nested: list[str], mapped: list[str],
                 where: str = "") -> tuple[list[str], list[str], str]:
    """(select expressions, column names, FROM clause) of the Xero Contact read. On PostgreSQL the
    nested fields come out of `raw` in the server (parsed once per row); elsewhere `raw` is read.
    `where`: a condition on `xc` (a partition of the table)."""
    load.require_table(conn, "xero_contact")
    have = load.table_columns(conn, "xero_contact")
    base = _xero_columns(mapped)
    sel = [f"x.{load.q(conn, c)}" if c in have else "NULL" for c in base]
    names = list(base)
    if nested and conn.dialect.name == "postgresql":
        groups = _xero_groups(nested)
        alias = {key: f"g{i}" for i, key in enumerate(groups)}
        sel += [_xero_expr(f, alias[".".join(f.split(".")[:2])]) for f in nested]
        names += [f"nx_{i}" for i in range(len(nested))]
        lateral = ", ".join(f"jsonb_path_query_first(x.j, {path}) AS {alias[key]}" for key, path in groups.items())
        # OFFSET 0 keeps both subqueries from being flattened: raw is parsed once per row and each
        # array element found once, however many fields read it.
        src = (f"(SELECT xc.*, xc.raw::jsonb AS j FROM xero_contact xc{' WHERE ' + where if where else ''} OFFSET 0) x "
               f"CROSS JOIN LATERAL (SELECT {lateral} OFFSET 0) n")
    else:
        if nested:
            sel.append("x.raw")
            names.append("raw")
        src = f"xero_contact x{' WHERE ' + where.replace('xc.', 'x.') if where else ''}"
    return sel, names, src


def read_xero_contacts(conn: sa.Connection, nested: list[str], mapped: list[str] = ()) -> pd.DataFrame:
    sel, names, src = _xero_select(conn, nested, list(mapped))
    sql = f"SELECT {', '.join(sel)} FROM {src}"
    if names[-1] != "raw":
        return load.frame(conn, sql, names)
    return load.frame(conn, sql, [*names[:-1], *(f"nx_{i}" for i in range(len(nested)))],
                      each_row=load.from_raw([lambda r, f=f: xero_path(r, f) for f in nested]))


def _read_xero_async(conn: sa.Connection, nested: list[str], mapped: list[str]):
    if conn.dialect.name != "postgresql":
        return None
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sfxero-xero-read")

    def read() -> pd.DataFrame:
        with conn.engine.connect() as other:
            return read_xero_contacts(other, nested, mapped)

    future = pool.submit(read)
    pool.shutdown(wait=False)
    return future.result


def _account_select(conn: sa.Connection, columns: list[str], contact_columns: list[str]) -> tuple[list[str], list[str], str]:
    """(select expressions, column names, FROM ... WHERE) of the Account read."""
    load.require_table(conn, "sf_account")
    have = load.table_columns(conn, "sf_account")
    cols = ["id", "modified_at", "invalid_reason", *[c for c in dict.fromkeys(columns) if c not in ("id", "modified_at", "invalid_reason")]]
    sel = [f"a.{load.q(conn, c)}" if c in have else "NULL" for c in cols]
    names = list(cols)
    joins = ""
    if links.has_links_table(conn):
        sel.append("l.xero_id")
        joins += links.link_join_sql("l", R1, "a.id")
    else:
        sel.append("NULL")
    names.append("_link")
    pc_cols = ["id", "email", *[c for c in dict.fromkeys(contact_columns) if c not in ("id", "email")]]
    if load.has_table(conn, primary_contact.TABLE):
        joins += f" LEFT JOIN ({primary_contact.ranked_sql(conn, pc_cols)}) pc ON pc.accountid = a.id AND pc.rn = 1"
        sel += [f"pc.{load.q(conn, c)}" for c in pc_cols]
    else:
        sel += ["NULL"] * len(pc_cols)
    names += [f"pc_{c}" for c in pc_cols]
    return sel, names, f"sf_account a{joins} WHERE NOT a.is_deleted"


def read_accounts(conn: sa.Connection, columns: list[str], contact_columns: list[str]) -> pd.DataFrame:
    """Live Accounts with their R1 link (sync_link) and primary Contact (`pc_*` columns) joined in
    the database: the earliest-created Contact with an email, else the earliest."""
    sel, names, src = _account_select(conn, columns, contact_columns)
    return load.frame(conn, f"SELECT {', '.join(sel)} FROM {src}", names)


#: Concurrent partitions of the PostgreSQL read (one server process each; most of the cost is the
#: server parsing Xero's JSON).
READ_PARTITIONS = 2 if (os.cpu_count() or 1) > 1 else 1


def read_linked(conn: sa.Connection, columns: list[str], contact_columns: list[str], nested: list[str],
                mapped: list[str], same: list[tuple[str, str]], keep: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PostgreSQL: Accounts FULL JOIN Xero Contacts on the R1 sync_link, with `_fast` true where the
    pair cannot produce a row other than an R1 skip: linked in sync_link to a staged, active Xero
    Contact, neither side (nor the primary Contact) invalid or held, and every compared value
    (`same`: Account column, Xero column) identical as text — the raw-equality prefilter of
    fields.compare, decided in the database. Such rows come back with only their ids, link and
    `keep` columns (filters): the bulk of an in-sync organisation never crosses to Python.

    Read as READ_PARTITIONS queries over disjoint halves of the join key, run at once on their own
    connections under this transaction's snapshot (pg_export_snapshot), so they see exactly what
    one query would. Returns (accounts, xero contacts) as read_accounts / read_xero_contacts would,
    plus `_fast` on the accounts."""
    n = READ_PARTITIONS
    queries = [_linked_sql(conn, columns, contact_columns, nested, mapped, same, keep, k, n) for k in range(n)]
    sql0, names, s_names, x_names = queries[0]
    if n == 1:
        frames = [load.frame(conn, sql0, names)]
    else:
        from concurrent.futures import ThreadPoolExecutor

        snapshot = conn.connection.driver_connection.execute("SELECT pg_export_snapshot()").fetchone()[0]

        def read(sql: str) -> pd.DataFrame:
            with conn.engine.connect() as other:
                raw = other.connection.driver_connection
                raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                raw.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                try:
                    return load.frame(other, sql, names)
                finally:
                    other.rollback()

        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="sfxero-read") as pool:
            frames = list(pool.map(read, [q[0] for q in queries]))
    sfs, xcs = [], []
    for j in frames:
        fast = j.pop("_fast").eq("t").to_numpy()
        has_s, has_x = j.s_id.notna().to_numpy(), j.x_id.notna().to_numpy()
        # dtype object, as load.frame reads: pandas would otherwise infer its (slower) str dtype.
        sf = pd.DataFrame({c: j[f"s_{c}"].to_numpy()[has_s] for c in s_names}, dtype="object")
        sf["_fast"] = fast[has_s]
        sfs.append(sf)
        xcs.append(pd.DataFrame({c: j[f"x_{c}"].to_numpy()[has_x] for c in x_names}, dtype="object"))
    del frames, j
    if n == 1:
        return sfs[0], xcs[0]
    return pd.concat(sfs, ignore_index=True), pd.concat(xcs, ignore_index=True)


def _linked_sql(conn: sa.Connection, columns, contact_columns, nested, mapped, same, keep, part: int,
                parts: int) -> tuple[str, list[str], list[str], list[str]]:
    s_sel, s_names, s_src = _account_select(conn, columns, contact_columns)
    # Both sides of a pair fall in the same partition: it is chosen by the join key.
    x_where = f"((hashtext(xc.id) & 2147483647) % {parts}) = {part}" if parts > 1 else ""
    x_sel, x_names, x_src = _xero_select(conn, nested, mapped, where=x_where)
    if parts > 1:
        s_src += f" AND ((hashtext(coalesce(l.xero_id, 'unlinked:' || a.id)) & 2147483647) % {parts}) = {part}"

    def q(name: str) -> str:
        return load.q(conn, name)

    s_sub = "SELECT " + ", ".join(f"{e} AS {q('s_' + c)}" for e, c in zip(s_sel, s_names)) + f" FROM {s_src}"
    x_sub = "SELECT " + ", ".join(f"{e} AS {q('x_' + c)}" for e, c in zip(x_sel, x_names)) + f" FROM {x_src}"
    cond = ["s.s__link IS NOT NULL", "x.x_id IS NOT NULL", "s.s_invalid_reason IS NULL", "x.x_invalid_reason IS NULL",
            "coalesce(x.x_contact_status, 'ACTIVE') NOT IN ('ARCHIVED', 'GDPRREQUEST')"]
    cond += [f"s.{q('s_' + a)}::text IS NOT DISTINCT FROM x.{q('x_' + b)}::text" for a, b in same]
    holds = ""
    if state_holds.has_holds_table(conn):
        for alias, table, col in (("ha", "sf_account", "s.s_id"), ("hx", "xero_contact", "x.x_id"),
                                  ("hc", "sf_contact", "s.s_pc_id")):
            holds += f" LEFT JOIN ({state_holds.open_hold_ids_sql(table)}) {alias} ON {alias}.record_id = {col}"
            cond.append(f"{alias}.record_id IS NULL")
    kept = {"id", "_link", *keep}
    out = [f"j.{q('s_' + c)}" if c in kept else f"CASE WHEN j._fast THEN NULL ELSE j.{q('s_' + c)} END" for c in s_names]
    out += [f"j.{q('x_' + c)}" if c == "id" else f"CASE WHEN j._fast THEN NULL ELSE j.{q('x_' + c)} END" for c in x_names]
    # OFFSET 0: `_fast` is computed once per row, not once per column that tests it. Unlinked
    # Accounts join on a key of their own: thousands of NULL keys in one hash bucket make PostgreSQL
    # split its hash table into millions of batches (minutes instead of seconds at 1M).
    sql = (f"SELECT {', '.join(out)}, j._fast FROM (SELECT s.*, x.*, coalesce({' AND '.join(cond)}, false) AS _fast "
           f"FROM ({s_sub}) s FULL JOIN ({x_sub}) x ON x.x_id = coalesce(s.s__link, 'unlinked:' || s.s_id){holds} "
           "OFFSET 0) j")
    return sql, [*(f"s_{c}" for c in s_names), *(f"x_{c}" for c in x_names), "_fast"], s_names, x_names


def apply_filters(df: pd.DataFrame, filters, key: str) -> pd.Series:
    keep = pd.Series(True, index=df.index)
    for i, f in enumerate(filters):
        col = column_name(f.field)
        if col not in df.columns:
            raise ConfigError(f"{key}.filters[{i}].field", f"'{f.field}' is not staged for this object")
        s = df[col]
        if isinstance(f.value, bool) or (isinstance(f.value, list) and f.value and isinstance(f.value[0], bool)):
            s = s.map(lambda v: None if v is None else str(v).lower() in ("t", "true", "1"))
        elif isinstance(f.value, (int, float)) and f.op in ("gte", "lte", "eq", "ne"):
            s = pd.to_numeric(s, errors="coerce")
        vals = f.value if isinstance(f.value, list) else [f.value]
        vals = [v if isinstance(v, (bool, int, float)) else str(v) for v in vals]
        cond = {"eq": lambda: s == vals[0], "ne": lambda: s != vals[0], "in": lambda: s.isin(vals),
                "not_in": lambda: ~s.isin(vals), "is_null": lambda: s.isna(), "not_null": lambda: s.notna(),
                "gte": lambda: s >= vals[0], "lte": lambda: s <= vals[0]}[f.op]()
        keep &= cond.fillna(False).astype(bool)
    return keep


# ---- planning ------------------------------------------------------------------------------------

def _rules(cfg: SfxeroConfig, pairs: pd.DataFrame, country_col: str | None) -> list[FieldRule]:
    m = cfg.mapping
    countries = transforms.country_names(m)
    ctx = None
    if country_col:
        ctx = normalize.v_country(normalize.v_text(pairs[country_col]), countries)
    out = []
    for i, f in enumerate(m.contact_fields):
        t = transform(f.transform, country=ctx, default_country=m.default_phone_country, countries=countries)
        vm = value_mapper(m.value_maps.get(f.value_map)) if f.value_map else (lambda s: s)
        inv = inverse_mapper(m.value_maps.get(f.value_map)) if f.value_map else (lambda s: s)
        default = f.default

        def to_xero(s, t=t, vm=vm, default=default):
            v = t(vm(s))
            return v if default is None else v.where(v.notna(), default).astype("object")

        to_sf = (lambda s, t=t, inv=inv: inv(t(s))) \
            if f.transform in ("phone", "email", "currency", "upper", "lower", "money") \
            else (lambda s, inv=inv: inv(normalize.v_text(s)))
        out.append(FieldRule(key=f.xero, sf_field=f.sf, s_col=f"s_{i}", x_col=f"x_{i}", to_xero=to_xero,
                             compare=t, to_sf=to_sf, owner=f.owner, label=f.rule,
                             prefilter=f.value_map is None and f.default is None, same_key=same_key(f.transform)))
    return out


_IN_SYNC = {rule: in_sync(rule) for rule in ("link", "contact_number", "email", "name")}


def _sf_col(f) -> str:
    """The read column holding a mapped Salesforce field (`pc_*` for the primary Contact's)."""
    return f"pc_{column_name(f.sf.split('.', 1)[1])}" if f.sf.startswith("Contact.") else column_name(f.sf)


def _fast_path(conn: sa.Connection, fields_cfg, balances: list[tuple[str, str, str, str]] | None) -> bool:
    """Whether in-sync pairs can be settled in the database: PostgreSQL, every mapped field one where
    identical raw values cannot differ once mapped (no value map, no default), and R4's fields read
    from staged columns (`balance_columns`)."""
    return (conn.dialect.name == "postgresql" and links.has_links_table(conn) and FAST_PATH and balances is not None
            and all(f.value_map is None and f.default is None for f in fields_cfg))


_XERO_CONTACT_COLUMNS = {f.source: f.column for f in XERO_OBJECTS["contacts"].fields}


def balance_columns(cfg: SfxeroConfig) -> list[tuple[str, str, str, str]] | None:
    """(Account field, Xero path, Account column, xero_contact column) of each field R4's declaration
    compares, read by this pass: settled in the database when identical, and handed to the engine with
    the pairs. None when one is not a column the pass reads as it is (a path extract does not type, a
    transform, a default, a template): then R4 is compared in Python only, on records it reads itself."""
    r4 = cfg.recipes.R4
    if not r4.enabled:
        return []
    out = []
    for sf_field, spec in r4.fields.items():
        column = _XERO_CONTACT_COLUMNS.get(spec.source or "")
        if column not in XERO_BASE or spec.transforms or spec.default is not None or "." in sf_field:
            return None
        out.append((sf_field, spec.source, column_name(sf_field), column))
    return out


#: Settle identical linked pairs in the database (tests switch it off to compare both paths).
#: Kept as a second read path (`read_linked` beside `read_accounts` + `read_xero_contacts`) for large
#: in-sync organisations, what it was made for: on `sfxero bench reconcile --size 100000` (PostgreSQL,
#: quiet machine) it plans 1.0-1.35x as fast and peaks at 0.78x the memory (two pairs); at the default
#: 10k it gains nothing. Memory is the gain that holds; re-measure at 1M before removing it.
FAST_PATH = True


@dataclass
class ContactSides:
    """What the contacts planner reads: both sides of the R1 matching and what decides a pair."""

    #: Live Accounts (R1 filters applied) with `_link` (sync_link R1), `pc_*` (primary Contact) and,
    #: when PostgreSQL settled pairs (`read_linked`), `_fast`.
    accounts: pd.DataFrame
    #: sync_link R1 rows (sf_id, xero_id) of every live Account, filtered or not.
    links: pd.DataFrame
    #: Xero Contacts (None once paired).
    xero: pd.DataFrame | None
    #: Open holds on sf_account, xero_contact, sf_contact (table → id → reason).
    holds: dict[str, dict[str, str]]
    #: The mapped fields' pair columns: Account read column and Xero read column, per mapped field.
    field_columns: list[tuple[str, str]]
    #: The Account's country column (phones are read in its region), None when not staged.
    country_col: str | None
    #: R4's fields this pass reads (`balance_columns`), handed to the engine with the pairs.
    balances: list[tuple[str, str, str, str]] = field(default_factory=list)


def read_sides(conn: sa.Connection, cfg: SfxeroConfig) -> ContactSides:
    """Read step: live Accounts (with link and primary Contact) and Xero Contacts, as the mapping
    needs them; on PostgreSQL (`_fast_path`) pairs already identical are settled in the read."""
    rc = cfg.recipes
    fields_cfg = cfg.mapping.contact_fields
    acct_cols = [column_name(f.sf) for f in fields_cfg if not f.sf.startswith("Contact.")]
    filter_cols = [column_name(f.field) for f in rc.R1.filters]
    link_col = column_name(LINK_FIELD)
    have = load.table_columns(conn, "sf_account")
    for i, f in enumerate(fields_cfg):
        if not f.sf.startswith("Contact.") and have and column_name(f.sf) not in have:
            raise ConfigError(f"mapping.contact_fields[{i}].sf", f"Account field '{f.sf}' is not in staging (sf_account)")
    country_col = "billingcountry" if "billingcountry" in have else None
    nested = [f.xero for f in fields_cfg if f.xero not in XERO_COLUMNS]
    mapped = [f.xero for f in fields_cfg if f.xero in XERO_COLUMNS]
    field_columns = [(_sf_col(f), XERO_COLUMNS[f.xero] if f.xero in XERO_COLUMNS else f"nx_{nested.index(f.xero)}")
                     for f in fields_cfg]
    balances = balance_columns(cfg)
    acct_read = [*acct_cols, *filter_cols, link_col, *(a for _, _, a, _ in balances or []),
                 *([country_col] if country_col else [])]
    contact_read = [column_name(f.sf.split(".", 1)[1]) for f in fields_cfg if f.sf.startswith("Contact.")]
    if _fast_path(conn, fields_cfg, balances):
        # PostgreSQL: pairs whose every compared value is identical (R4's too) are settled in the database.
        same = [*field_columns, *((a, x) for _, _, a, x in balances), (link_col, "id")]
        sf, xc = read_linked(conn, acct_read, contact_read, nested, mapped, same, keep=filter_cols)
    else:
        # On PostgreSQL the Xero read (JSON extraction runs in the server) overlaps with reading and
        # preparing the Salesforce side here; each uses its own connection.
        xc_future = _read_xero_async(conn, nested, mapped)
        sf = read_accounts(conn, acct_read, contact_read)
        xc = None
    routed = routing.routed_here(conn, cfg)
    if routed is not None:
        # Several organisations: this plan covers the Accounts routed to this run's one (and holds those
        # no rule takes); the others are other organisations' runs' to plan.
        sf = sf[sf.id.map(routed.covers).to_numpy(dtype=bool)].reset_index(drop=True)
        if "_fast" in sf.columns and routed.held:
            # A pair the database settled as in sync is still held when no rule takes its Account now.
            sf["_fast"] = sf["_fast"].to_numpy(dtype=bool) & ~sf.id.isin(list(routed.held)).to_numpy(dtype=bool)
    sf_links = link_pairs(sf, "_link")
    if rc.R1.filters:
        sf = sf[apply_filters(sf, rc.R1.filters, f"recipes.{R1}")].reset_index(drop=True)
    if xc is None:
        xc = xc_future() if xc_future else read_xero_contacts(conn, nested, mapped)
    holds = load.open_holds(conn, ["sf_account", "xero_contact", "sf_contact"])
    if routed is not None and routed.held:
        holds["sf_account"] = {**{i: f"held at reconcile: {why}" for i, why in routed.held.items()},
                               **holds["sf_account"]}
    return ContactSides(sf, sf_links, xc, holds, field_columns, country_col, balances or [])


#: R1's match rules after the link: rule → (Account key, Xero Contact key).
MATCH_KEYS = {
    "contact_number": (lambda d: d.id, lambda d: normalize.v_text(d.contact_number)),
    "email": (lambda d: normalize.v_email(d.pc_email), lambda d: normalize.v_email(d.email_address)),
    "name": (lambda d: normalize.v_name(d.name), lambda d: normalize.v_name(d.name)),
}


def match_sides(sides: ContactSides, rules: list[str]) -> MatchResult:
    """Match step: Accounts to active Xero Contacts by link, then `rules` (recipes.R1.match) in order."""
    keys = [(rule, *MATCH_KEYS[rule]) for rule in rules[1:] if rule in MATCH_KEYS]
    return match(sides.accounts, sides.xero, links=sides.links, sf_link_col=column_name(LINK_FIELD),
                 active=_active(sides.xero), keys=keys, target_label="Xero Contact")


def _active(xc: pd.DataFrame) -> pd.Series:
    """Xero Contacts R1 may pair with: not archived, not erased on a GDPR request."""
    return xc.contact_status.fillna("ACTIVE").ne("ARCHIVED") & xc.contact_status.fillna("").ne("GDPRREQUEST")


def settled_pairs(pairs: pd.DataFrame, accounts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pairs settled in the read: matched by their sync_link, not a new link, nothing differs;
    the other pairs), both renumbered. No pair is settled unless the read flagged `_fast`."""
    if "_fast" not in accounts.columns:
        return pairs.iloc[:0], pairs
    fast_ids = accounts.id[accounts._fast.to_numpy(dtype=bool)]
    settled = (pairs.sf_id.isin(fast_ids).to_numpy() & (pairs["match"] == "link").to_numpy()
               & ~pairs.link.to_numpy(dtype=bool))
    return pairs[settled].reset_index(drop=True), pairs[~settled].reset_index(drop=True)


def engine_pass(conn: sa.Connection, cfg: SfxeroConfig, name: str) -> XeroPass:
    """R1's read and match steps as the pass the declared-recipe engine plans R1's mapping declared on
    (`config/r1_declared.r1_as_declared`, recipe `name` in `cfg`; declared.plan_xero_pass): the Accounts
    and Xero Contacts in the engine's columns, matched by R1's rules, and on PostgreSQL the linked pairs
    the read settled as identical (`read_linked`), which are never compared. R1's filters are applied
    here, as R1 applies them (`ne`/`not_in` keep an empty field)."""
    sides = read_sides(conn, cfg)
    m = match_sides(sides, cfg.recipes.R1.match)
    settled, pairs = settled_pairs(m.pairs.reset_index(drop=True), sides.accounts)
    fields_cfg = cfg.mapping.contact_fields
    contact = {_sf_col(f): f.sf for f in fields_cfg if f.sf.startswith("Contact.")}
    src = sides.accounts.rename(columns={**contact, "pc_id": PRIMARY_CONTACT_ID})
    xc = sides.xero
    nested = [f.xero for f in fields_cfg if f.xero not in XERO_COLUMNS]
    xr = pd.DataFrame({"id": xc.id, "modified_at": xc.modified_at, "invalid_reason": xc.invalid_reason,
                       "x:ContactID": xc.id, **{f"x:{f}": xc[c] for f, c in XERO_COLUMNS.items() if c in xc.columns},
                       **{f"x:{path}": xc[f"nx_{i}"] for i, path in enumerate(nested)}})
    xr["_active"] = _active(xc).to_numpy()
    fps = field_plans(conn, cfg, name, cfg.recipes.declared[name], src)
    # R1's key pair: a create is found again by its ContactNumber, the Account Id.
    return XeroPass(src, fps, xr, sides.links, dataclasses.replace(m, pairs=pairs), sides.holds,
                    create_key=src.id, settled=settled)


def pair_sides(pairs: pd.DataFrame, sides: ContactSides) -> pd.DataFrame:
    """Pair step: `s_<i>` / `x_<i>` per mapped field, `s:<Field>` / `x:<path>` per R4 field read here, the
    link written back, the primary Contact, modified stamps and invalid reasons, one row per pair."""
    sf_cols = {"s_modified_at": "modified_at", "s_invalid": "invalid_reason", f"s_{LINK_FIELD}": column_name(LINK_FIELD),
               "pc_id": "pc_id"}
    x_cols = {"x_modified_at": "modified_at", "x_invalid": "invalid_reason"}
    if sides.country_col:
        sf_cols["s_country"] = sides.country_col
    for i, (s_col, x_col) in enumerate(sides.field_columns):
        sf_cols[f"s_{i}"], x_cols[f"x_{i}"] = s_col, x_col
    for sf_field, path, s_col, x_col in sides.balances:
        sf_cols[f"s:{sf_field}"], x_cols[f"x:{path}"] = s_col, x_col
    return pair_frame(pairs, sides.accounts.set_index("id"), sides.xero.set_index("id"), sf_cols, x_cols)


def hold_checks(holds: dict[str, dict[str, str]]) -> list[HoldCheck]:
    """A held record on either side (or the primary Contact) holds the pair, as does an invalid one."""
    return [("sf_id", held_by(holds["sf_account"], "Account")), ("xero_id", held_by(holds["xero_contact"], "Xero Contact")),
            ("pc_id", held_by(holds["sf_contact"], "primary Contact")), ("s_invalid", staged_invalid("Account")),
            ("x_invalid", staged_invalid("Xero Contact"))]


@dataclass
class ContactChanges:
    """Compare step's result, pair row → {field: change} per recipe and direction."""

    r1: dict[int, dict]
    r5: dict[int, dict]
    back: dict[int, dict]
    #: pair row → {field: why an echo was not planned back}.
    suppressed: dict[int, dict[str, str]]
    rules: list[FieldRule]


#: R1's ContactID write-back only ever flows Xero → Salesforce.
BACK_RULE = xero_owned(LINK_FIELD, normalize.v_text, WRITE_BACK_RULE, x_col="xero_id")


def compare_pairs(ok: pd.DataFrame, rules: list[FieldRule], written_xero: dict, written_sf: dict) -> ContactChanges:
    """Compare step: the mapped fields (`rules`, both directions, with echo suppression) and the
    write-back of the ContactID."""
    entries, suppressed = compare(ok, rules, written_xero=written_xero, written_sf=written_sf)
    back, _ = compare(ok, [BACK_RULE], written_xero={}, written_sf={})
    return ContactChanges(r1=changes_by_row(entries, direction="sf_to_xero"),
                          r5=changes_by_row(entries, direction="xero_to_sf"), back=changes_by_row(back),
                          suppressed=suppressed, rules=rules)


def plan_contacts(conn: sa.Connection, cfg: SfxeroConfig) -> plan.FamilyPlan:
    """R1/R4/R5: read → match → pair → compare → emit."""
    rc = cfg.recipes
    sides = read_sides(conn, cfg)
    m = match_sides(sides, rc.R1.match)
    in_sync, pairs = settled_pairs(m.pairs.reset_index(drop=True), sides.accounts)
    pf = pair_sides(pairs, sides)
    stats = {"matched_by": m.by_rule, "accounts": len(sides.accounts), "xero_contacts": len(sides.xero),
             "settled_in_database": len(in_sync)}
    sides.xero = None  # paired: freed before comparing (at 1M it is a large share of peak memory)
    ok, held, held_why = split_held(pf, hold_reasons(pf, hold_checks(sides.holds)))
    rules = _rules(cfg, ok, "s_country" if sides.country_col else None)
    changes = compare_pairs(ok, rules, load.last_written(conn, "xero"), load.last_written(conn, "salesforce"))
    parts = [*emit_pairs(rc, ok, changes, in_sync), *emit_unpaired(rc, m, held, held_why)]
    if rc.R4.enabled:
        from .declared_sf import plan_on_pass

        # R4 on the declared-recipe engine: its declaration planned on the pairs of R1's pass that were
        # compared (a pair settled in the database has R4's fields identical: nothing to write).
        r4 = plan_on_pass(conn, cfg, R4, ok)
        parts.append(r4.rows)
        stats[R4] = r4.stats
    if rc.R1.enabled:
        unmatched = sides.accounts[sides.accounts.id.isin(m.unmatched).to_numpy()]
        parts.append(_creates(cfg, unmatched, sides.holds, rules_for_create=cfg.mapping.contact_fields,
                              country_col=sides.country_col))
    return plan.FamilyPlan(rows=plan.concat(parts), stats=stats)


def emit_pairs(rc, ok: pd.DataFrame, changes: ContactChanges, in_sync: pd.DataFrame) -> list[pd.DataFrame]:
    """Emit step for compared pairs: R1 updates and skips (settled pairs included), the ContactID
    write-back, R5's updates of the Account."""
    parts: list[pd.DataFrame] = []
    fwd, suppressed = changes.r1, changes.suppressed
    sf_ids, x_ids, matches, links_new = ok.sf_id.tolist(), ok.xero_id.tolist(), ok["match"].tolist(), ok.link.tolist()
    cur_cols = {r.key: ok[r.x_col].to_numpy() for r in changes.rules if r.key.startswith("Addresses.")}

    def current(row: int) -> dict:
        return {k: v[row] for k, v in cur_cols.items() if isinstance(v[row], str)}

    if rc.R1.enabled:
        upd = sorted(fwd)
        diffs = [{"match": matches[r], "link": bool(links_new[r]), "target_object": "Contact", "fields": fwd[r],
                  "payload": {"ContactID": x_ids[r], **xero_payload({k: v["new"] for k, v in fwd[r].items()}, current(r))},
                  **({"suppressed": suppressed[r]} if r in suppressed else {})} for r in upd]
        parts.append(plan.rows(R1, "sf_to_xero", "update", [sf_ids[r] for r in upd], [x_ids[r] for r in upd], diffs,
                               [f"{len(fwd[r])} field(s) differ; matched by {matches[r]}" for r in upd]))
        upd_set = set(upd)
        sk = np.flatnonzero(np.array([r not in upd_set for r in range(len(ok))], dtype=bool))
        # Most rows are in sync: build them as columns, not per-row dicts.
        sk_diff = [None] * len(sk)
        for j, r in enumerate(sk):
            if links_new[r] or r in suppressed:
                sk_diff[j] = {"match": matches[r], "link": bool(links_new[r]),
                              **({"suppressed": suppressed[r]} if r in suppressed else {})}
        sk_reason = ok["match"].iloc[sk].map(_IN_SYNC)  # one shared string per rule, not one per row
        parts.append(plan.rows(R1, "sf_to_xero", "skip", ok.sf_id.iloc[sk], ok.xero_id.iloc[sk], sk_diff,
                               sk_reason.tolist()))
        if len(in_sync):
            parts.append(plan.rows(R1, "sf_to_xero", "skip", in_sync.sf_id, in_sync.xero_id, None, _IN_SYNC["link"]))
        if changes.back:
            parts.append(sf_update_rows(R1, "Account", ok, changes.back, WRITE_BACK_REASON,
                                        payload=lambda r, _: {"Account": {"Id": sf_ids[r], LINK_FIELD: x_ids[r]}},
                                        with_link=True))
    pc_ids = ok.pc_id.tolist() if rc.R5.enabled and changes.r5 else []
    # An Account with no Contact has nowhere to take a Contact.<Field> from Xero.
    r5 = primary_contact.writable(changes.r5, pc_ids) if pc_ids else {}
    if r5:
        rr = sorted(r5)
        parts.append(sf_update_rows(R5, "Account", ok, r5, [brought_back(len(r5[r])) for r in rr],
                                    payload=lambda r, fields: primary_contact.payload(sf_ids[r], pc_ids[r], fields)))
    return parts


def emit_unpaired(rc, m: MatchResult, held: pd.DataFrame, held_why: list) -> list[pd.DataFrame]:
    """Emit step for what did not become a compared pair: held pairs, broken links, ambiguous matches."""
    if not rc.R1.enabled:
        return []
    parts = [held_pair_rows(R1, held, held_why)]
    if len(m.broken):
        parts.append(broken_link_rows(R1, m.broken, {"match": "link"}))
    if len(m.conflicts):
        parts.append(conflict_rows(R1, m.conflicts, functools.partial(
            ambiguous, many="Xero Contacts", one="Xero Contact", others="Account")))
    return parts


def write_back_fields(cfg: SfxeroConfig) -> dict[str, object]:
    """Account field → path (or {path, default}) in Xero's answer to the create, written back in the push step that
    creates the Contact (R1's ContactID; the fields R4 and the declared recipes that update the Accounts
    R1 links read as they are from Xero, so the next plan does not update them)."""
    return {**paired_write_backs(cfg.recipes.declarations, R1, "Account"), LINK_FIELD: "ContactID"}


def _creates(cfg: SfxeroConfig, acc: pd.DataFrame, holds: dict, *, rules_for_create, country_col) -> pd.DataFrame:
    """Unmatched Accounts: the full mapped Xero Contact (ContactNumber = Account Id, so a create the
    push made but did not record is matched by key next time instead of created twice)."""
    if acc.empty:
        return plan.empty()
    acc = acc.reset_index().rename(columns={"index": "id"}) if "id" not in acc.columns else acc.reset_index(drop=True)
    frame = pd.DataFrame(index=acc.index)
    for i, f in enumerate(rules_for_create):
        scol = f"pc_{column_name(f.sf.split('.', 1)[1])}" if f.sf.startswith("Contact.") else column_name(f.sf)
        frame[f"s_{i}"] = acc[scol].astype("object")
        frame[f"x_{i}"] = None
    if country_col:
        frame["s_country"] = acc[country_col].astype("object")
    rules = _rules(cfg, frame, "s_country" if country_col else None)
    values = {r.key: r.to_xero(frame[r.s_col]).tolist() for r in rules}
    ids = acc.id.tolist()
    invalid = acc.invalid_reason.tolist()
    label = {r.key: r.label for r in rules}
    h_acct = holds.get("sf_account", {})
    back = write_back_fields(cfg)
    rows_c, rows_h = [], []
    for j, sf_id in enumerate(ids):
        fields = {k: v[j] for k, v in values.items() if v[j] is not None and v[j] == v[j]}
        fields.setdefault("ContactNumber", sf_id)
        why = (f"Account {sf_id} {h_acct[sf_id]}" if sf_id in h_acct else
               f"Account staged invalid: {invalid[j]}" if isinstance(invalid[j], str) else
               "Name is required by Xero and the Account has none" if not fields.get("Name") else None)
        if why:
            rows_h.append((sf_id, why))
            continue
        rows_c.append((sf_id, {"match": None, "link": True, "target_object": "Contact",
                               "fields": {k: {"old": None, "new": v, "rule": label.get(k, KEY_RULE)}
                                          for k, v in sorted(fields.items())},
                               "payload": xero_payload(fields),
                               "write_back": {"sobject": "Account", "id": sf_id, "fields": back}}))
    out = [plan.rows(R1, "sf_to_xero", "create", [r[0] for r in rows_c], None, [r[1] for r in rows_c],
                     CREATE_REASON)]
    if rows_h:
        out.append(plan.rows(R1, "sf_to_xero", "held", [r[0] for r in rows_h], None, [None] * len(rows_h),
                             [r[1] for r in rows_h]))
    return pd.concat(out, ignore_index=True)


def plan_on_engine(conn: sa.Connection, cfg: SfxeroConfig, name: str) -> plan.FamilyPlan:
    """R1's and R5's rows planned by the declared-recipe engine on R1's pass (`engine_pass`), from R1's
    mapping declared as recipe `name` in `cfg`, in R1's and R5's words."""
    return plan_xero_pass(conn, cfg, name, r1_wording(cfg.mapping), engine_pass(conn, cfg, name))
