"""R1 (Account → Xero Contact), R4 (balances → Account) and R5 (Xero-owned fields → Account).

The three recipes share one matching of Salesforce Accounts to Xero Contacts, so they are planned
together, from R1's pass: `read_sides` (live Accounts with link and primary Contact, Xero Contacts; on
PostgreSQL the linked pairs identical in the database settled in the read) → `match_sides` (link, then
`recipes.R1.match`) → `settled_pairs`. The declared-recipe engine plans the rest of R1's and R5's rows
on that pass (`engine_pass`, declared.plan_xero_pass) from R1's mapping declared
(config/r1_declared.py), in R1's and R5's words: R1 rows go sf_to_xero (create/update/skip/conflict/held,
plus the ContactID write-back as an R1 xero_to_sf row); R5 rows go xero_to_sf for linked pairs only. R4's
declaration rides the pairs the engine compared.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from ..config import SfxeroConfig
from ..config.declared import DeclaredRecipe
from ..config.r1_declared import r1_declaration, r1_wording
from ..errors import ConfigError
from ..extract.xero_objects import XERO_OBJECTS
from ..recipes import R1, R4, R5
from ..staging.schema import column_name
from ..staging.state import holds as state_holds
from ..staging.state import links
from . import load, normalize, plan, primary_contact, routing
from .declared import PRIMARY_CONTACT_ID, XeroPass, field_plans, plan_xero_pass
from .deletes import deleted_linked
from .match import MatchResult, match
from .xero_contact_fields import xero_path
from .steps import link_pairs

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
    # A settled Contact's Name is kept: an Account named like it is held, not created over it
    # (declared._name_clashes), on either backend.
    out += [f"j.{q('x_' + c)}" if c in ("id", "name") else f"CASE WHEN j._fast THEN NULL ELSE j.{q('x_' + c)} END"
            for c in x_names]
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
    #: Xero Contacts.
    xero: pd.DataFrame
    #: Open holds on sf_account, xero_contact, sf_contact (table → id → reason).
    holds: dict[str, dict[str, str]]
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
    return ContactSides(sf, sf_links, xc, holds, balances or [])


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


def engine_pass(conn: sa.Connection, cfg: SfxeroConfig, r: DeclaredRecipe) -> XeroPass:
    """R1's read and match steps as the pass the declared-recipe engine plans R1's declaration `r` on
    (`config/r1_declared.r1_declaration`; declared.plan_xero_pass): the Accounts and Xero Contacts in the
    engine's columns, matched by R1's rules, and on PostgreSQL the linked pairs the read settled as
    identical (`read_linked`), which are never compared. R1's filters are applied here (`ne`/`not_in`
    keep an empty field), and R4's fields this pass reads are carried into the pairs R4 rides."""
    sides = read_sides(conn, cfg)
    m = match_sides(sides, cfg.recipes.R1.match)
    settled, pairs = settled_pairs(m.pairs.reset_index(drop=True), sides.accounts)
    fields_cfg = cfg.mapping.contact_fields
    # Renamed, not rebuilt: a rename shares the columns (copy on write) instead of copying a side of 1M.
    src = sides.accounts.rename(columns={**{_sf_col(f): f.sf for f in fields_cfg if f.sf.startswith("Contact.")},
                                         "pc_id": PRIMARY_CONTACT_ID})
    nested = [f.xero for f in fields_cfg if f.xero not in XERO_COLUMNS]
    xr = sides.xero.rename(columns={**{c: f"x:{f}" for f, c in XERO_COLUMNS.items() if c in sides.xero.columns},
                                    **{f"nx_{i}": f"x:{path}" for i, path in enumerate(nested)},
                                    **{x_col: f"x:{path}" for _, path, _, x_col in sides.balances}})
    xr["_active"] = _active(sides.xero).to_numpy()
    xr["x:ContactID"] = xr.id
    # R1's key pair: a create is found again by its ContactNumber, the Account Id.
    return XeroPass(src, field_plans(conn, cfg, R1, r, src), xr, dataclasses.replace(m, pairs=pairs),
                    sides.holds, create_key=src.id, settled=settled,
                    carried_src={f"s:{sf_field}": s_col for sf_field, _, s_col, _ in sides.balances},
                    carried_x={f"x:{path}": f"x:{path}" for _, path, _, _ in sides.balances},
                    # R1 reads live Accounts: those deleted since their Contact was linked are read apart, for
                    # `deletes.salesforce` (a Contact archived is in `xr`, for `deletes.xero`).
                    gone={i: "Account deleted in Salesforce" for i in deleted_linked(conn, R1, "sf_account")}
                    if r.delete_policy("salesforce") != "ignore" else {})


def plan_contacts(conn: sa.Connection, cfg: SfxeroConfig) -> plan.FamilyPlan:
    """R1/R4/R5: R1's pass (read → match, pairs identical in the database settled on PostgreSQL), on which
    the declared-recipe engine pairs, compares and emits R1's mapping declared (config/r1_declared.py) in
    R1's and R5's words, and R4's declaration rides the pairs it compared."""
    rc = cfg.recipes
    declaration = r1_declaration(cfg.mapping, rc.R1)
    p = engine_pass(conn, cfg, declaration)
    planned = plan_xero_pass(conn, cfg, R1, declaration, r1_wording(cfg.mapping), p)
    # One pass plans both directions; a recipe switched off has its rows left out.
    rows = planned.rows[planned.rows.recipe.isin([code for code in (R1, R5) if getattr(rc, code).enabled]).to_numpy()]
    stats = {"matched_by": p.result.by_rule, "accounts": len(p.src), "xero_contacts": len(p.xr),
             "settled_in_database": len(p.settled)}
    parts = [rows.reset_index(drop=True)]
    if rc.R4.enabled:
        from .declared_sf import plan_on_pass

        # R4 on the declared-recipe engine: its declaration planned on the pairs of R1's pass that were
        # compared (a pair settled in the database has R4's fields identical: nothing to write).
        r4 = plan_on_pass(conn, cfg, R4, p.compared)
        parts.append(r4.rows)
        stats[R4] = r4.stats
    return plan.FamilyPlan(rows=plan.concat(parts), stats=stats)
