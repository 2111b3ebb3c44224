"""The planner of declared recipes (config/declared.py): one generic read → match → pair → compare →
emit over any Salesforce object and the Xero collections the engine writes.

Same plan rows, diff format and ledger keys as the built-ins (steps.py, plan.py): `create` rows carry
the full mapped record, `update` rows the changed fields (with the rest of a changed nested group,
which Xero replaces whole), `skip` rows the pairs in sync (with `"link": true` when the push must
record a new sync_link), `held` / `conflict` rows their reason. A create's diff names what the push
looks it up by after a crash (`lookup_by`, the first key pair's Xero field) and its `write_back`;
each row names its `source_table` so a rejected write holds the right record.

- read: the source object's staged rows (only the columns the declaration names), its `where`,
  lookups through a related object (PricebookEntry.UnitPrice where Pricebook2.IsStandard = true,
  first by Id), references through another recipe's links; the target collection's staged records
  (fields read from `raw`: declared collections are reference-sized);
- match: `match.match` with the declared rules in order (link, key pairs, normalised email, name);
- compare: `fields.compare` with each field's owner (one-way: the source's; two-way: as declared)
  and echo suppression from the ledger; each value is brought to the target field's kind first
  (a Salesforce "12.50" and Xero's 12.5 are equal).

Declarations are checked against the staged describe here too (`salesforce_problems`): a field
sfxero.yaml names that the org does not have stops the plan with one line naming the key.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import NamedTuple, Protocol

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..config import SfxeroConfig
from ..config.declared import (ENGINE_TARGETS, TRACKING_PREFIX, XERO_REQUIRED, XERO_SOURCES, Condition, DeclaredRecipe,
                               group_of, paired_write_backs, parse_where, primary_contact_path, salesforce_problems,
                               template_fields, xero_field)
from ..config.mapping import typed_element
from ..config.wording import Wording
from ..errors import ConfigError
from ..extract.xero_objects import XERO_OBJECTS
from ..recipes import R1
from ..staging.schema import column_name, snake
from ..staging.state import links as state_links
from . import load, normalize, plan, primary_contact, routing, transforms
from .deletes import Gone, money, policy_rows
from .fields import FieldRule, compare
from .match import MatchResult, match
from .xero_contact_fields import split_typed, xero_path, xero_payload
from .steps import (HoldCheck, ambiguous, broken_link_rows, brought_back, changes_by_row, conflict_rows, held_by,
                    held_pair_rows, hold_reasons, in_sync, pair_frame, sf_update_rows, split_held, staged_invalid)


#: A document's Contact through R1's links, and how it is named until R1 has written that Contact.
CONTACT_REF, CONTACT_BY_NUMBER = "Contact.ContactID", "Contact.ContactNumber"


#: A true `is_deleted` in any form a staged frame holds it (PostgreSQL's text, SQLite's 1).
DELETED = ["true", "t", "1", True]


def sf_table(sobject: str) -> str:
    return "sf_" + snake(sobject)


def _col(field: str) -> str:
    return "id" if field == "Id" else "modified_at" if field == "SystemModstamp" else column_name(field)


def _sf_type(sql_type) -> str:
    """The describe type a staged column's SQL type stands for (extract/rows.COLUMN_TYPES, reversed)."""
    for cls, name in ((sa.Boolean, "boolean"), (sa.DateTime, "datetime"), (sa.Date, "date"), (sa.Integer, "int"),
                      (sa.Numeric, "double")):
        if isinstance(sql_type, cls):
            return name
    return "anyType"


def staged_describe(conn: sa.Connection) -> Callable[[str], dict[str, str] | None]:
    """describe(object) → {field: type} from what extract cached (extract_state.columns), or from the
    staged table's columns when no describe is cached; None when the object is not staged."""
    from ..staging.schema import extract_state

    cache: dict[str, dict[str, str] | None] = {}

    def describe(sobject: str) -> dict[str, str] | None:
        if sobject in cache:
            return cache[sobject]
        table = sf_table(sobject)
        row = conn.execute(sa.select(extract_state.c.columns).where(extract_state.c.table_name == table)).first() \
            if load.has_table(conn, extract_state.name) else None
        cols = row[0] if row else None
        if isinstance(cols, str):
            cols = json.loads(cols)
        if cols and cols.get("describe"):
            cache[sobject] = {name: type_ for name, type_ in cols["describe"]}
        elif load.has_table(conn, table):
            # No describe cached: the staged columns, each of the kind its SQL type was made from (the
            # extract types them from a describe), the rest as text.
            cache[sobject] = {c["name"]: _sf_type(c["type"]) for c in sa.inspect(conn).get_columns(table)} | {"Id": "id"}
        else:
            cache[sobject] = None
        return cache[sobject]

    return describe


# ---- read ---------------------------------------------------------------------------------------

def _conditions_mask(df: pd.DataFrame, conds, resolve: Callable[[str], pd.Series]) -> np.ndarray:
    keep = np.ones(len(df), dtype=bool)
    for c in conds:
        keep &= _holds(resolve(c.field), c)
    return keep


def _norm_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return v
    return None if v is None else str(v)


def _holds(values: pd.Series, c: Condition) -> np.ndarray:
    """Whether each staged (text) value satisfies the condition; SQL-like: null only equals null."""
    vals = values.astype("object").to_numpy()
    if c.op in ("=", "!=") and c.value is None:
        is_null = np.array([v is None or v == "" or (isinstance(v, float) and v != v) for v in vals], dtype=bool)
        return is_null if c.op == "=" else ~is_null
    want = c.value if c.op == "in" else (c.value,)
    want_n = [_norm_value(w) for w in want]

    def cmp(v) -> bool:
        if v is None or (isinstance(v, float) and v != v):
            return False
        text = str(v).strip()
        if isinstance(text, str) and text.lower() in ("true", "false", "t", "f", "1", "0") and \
                any(isinstance(w, bool) for w in want):
            text = "true" if text.lower() in ("true", "t", "1") else "false"
        if c.op in ("=", "in"):
            return any(_eq(text, w) for w in want_n)
        if c.op == "!=":
            return not _eq(text, want_n[0])
        try:
            a, b = float(text), float(want_n[0])
        except (TypeError, ValueError):
            a, b = text, str(want_n[0])
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[c.op]

    return np.array([cmp(v) for v in vals], dtype=bool)


def _eq(text: str, want) -> bool:
    if isinstance(want, float):
        try:
            return float(text) == want
        except ValueError:
            return False
    return text == want


def _read_sf(conn: sa.Connection, sobject: str, fields: set[str], key: str, only: set[str] | None = None) -> pd.DataFrame:
    """`only`: the ids wanted (a family's pairs), selected in the database."""
    table = sf_table(sobject)
    load.require_table(conn, table)
    have = load.table_columns(conn, table)
    cols = {"id", "modified_at", "invalid_reason", "is_deleted"}
    for f in sorted(fields):
        if primary_contact_path(sobject, f):
            continue  # read from its primary Contact (`_Resolver`)
        head = f.split(".")[0]
        col = _col(head + "Id" if "." in f else f)
        if col not in have:
            raise ConfigError(key, f"Salesforce {sobject} has no staged field {f} (is it in the describe? run extract)")
        cols.add(col)
    order = sorted(cols)
    where, params = load.among(conn, "id", only)
    return load.frame(conn, f"SELECT {', '.join(load.q(conn, c) for c in order)} FROM {load.q(conn, table)}{where}",
                      order, params)


class _Resolver:
    """Values of a field path on a frame of `sobject` records: `Name`, or `Pricebook2.IsStandard`
    (the field of the record a reference points to, read from its staged table)."""

    def __init__(self, conn: sa.Connection, sobject: str, df: pd.DataFrame, key: str) -> None:
        self.conn, self.sobject, self.df, self.key = conn, sobject, df, key

    def __call__(self, path: str) -> pd.Series:
        if "." not in path:
            return self.df[_col(path)]
        if primary_contact_path(self.sobject, path):
            if path in self.df.columns:  # read once by the planner (`_with_primary_contact`)
                return self.df[path]
            return _with_primary_contact(self.conn, self.df[["id"]], [path])[path]
        head, rest = path.split(".", 1)
        ref_col = _col(head + "Id")
        related = _read_sf(self.conn, head, {rest}, self.key)
        related = related[~related.is_deleted.isin(DELETED)]
        values = dict(zip(related.id, related[_col(rest)]))
        return self.df[ref_col].map(values).astype("object")


def _lookup(conn: sa.Connection, sobject: str, spec, key: str) -> dict[str, object]:
    """Parent id → the looked-up field of its first related record (by Id) meeting `where`."""
    obj, field = spec.lookup.split(".")
    conds = parse_where(spec.where) if spec.where else ()
    parent = f"{sobject}Id"
    rows = _read_sf(conn, obj, {parent, field, *(c.field for c in conds)}, key)
    rows = rows[~rows.is_deleted.isin(DELETED)].reset_index(drop=True)
    rows = rows[_conditions_mask(rows, conds, _Resolver(conn, obj, rows, key))]
    rows = rows.sort_values("id", kind="mergesort")
    first = rows.drop_duplicates(_col(parent), keep="first")
    return dict(zip(first[_col(parent)], first[_col(field)]))


def _dig(record: dict, path: str):
    value = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _xero_table(collection: str) -> str:
    """The staged table of a Xero collection, as extract names it."""
    return XERO_OBJECTS[XERO_SOURCES[collection]].table


def _read_xero(conn: sa.Connection, collection: str, paths: set[str],
               groups: dict[str, Group] | None = None, only: set[str] | None = None) -> pd.DataFrame:
    """`groups`: the staged contact groups when the caller has read them (`ContactGroups.<name>` paths);
    `only`: the ids wanted (a family's pairs), selected in the database."""
    table = _xero_table(collection)
    load.require_table(conn, table)
    where, params = load.among(conn, "id", only)
    grouped = sorted(p for p in paths if collection == "Contacts" and group_of(p))
    plain = sorted((paths | {"ContactStatus", "Status"}) - set(grouped))
    readers = [lambda r, p=p, read=xero_path if collection == "Contacts" and typed_element(p) else _dig: read(r, p)
               for p in plain]
    df = load.frame(conn, f"SELECT id, modified_at, invalid_reason, is_deleted, raw FROM {load.q(conn, table)}{where}",
                    ["id", "modified_at", "invalid_reason", "is_deleted", *(f"x:{p}" for p in plain)], params,
                    each_row=load.from_raw(readers))
    if grouped and groups is None:
        groups = contact_groups(conn)
    for p in grouped:
        group = (groups or {}).get(group_of(p).lower())
        members = group.members if group else frozenset()
        df[f"x:{p}"] = pd.Series(df.id.isin(members).to_numpy(), index=df.index, dtype="object")
    deleted = df.is_deleted.isin(DELETED).to_numpy()
    status = df["x:ContactStatus"].fillna(df["x:Status"]).fillna("ACTIVE").astype(str)
    df["_active"] = ~deleted & ~status.isin(["ARCHIVED", "DELETED", "VOIDED", "GDPRREQUEST"]).to_numpy()
    return df


# ---- values -------------------------------------------------------------------------------------

def _kind_fn(kind: str) -> Callable[[pd.Series], pd.Series]:
    """Brings values to a target field's kind, so both sides compare in one form."""
    if kind in ("number", "integer"):
        def num(s: pd.Series) -> pd.Series:
            n = pd.to_numeric(s.map(lambda v: None if isinstance(v, bool) else v), errors="coerce")
            if kind == "number":
                # Python's round only where 4 decimals change the value: a value np.round leaves alone is
                # one round(v, 4) leaves alone too, and that is nearly every amount (a million per side
                # at `sfxero bench reconcile --size 1000000`, where the per-value round was 6 s of 32).
                n = n.astype(float)
                out = n.astype(object).to_numpy().copy()
                for i in np.flatnonzero((n.round(4) != n).to_numpy() & n.notna().to_numpy()):
                    out[i] = round(out[i], 4)
                return pd.Series(out, index=s.index, dtype="object")
            out = n.map(lambda v: None if v != v else (int(v) if float(v).is_integer() else round(float(v), 4)))
            return out.astype("object")
        return num
    if kind == "bool":
        return transforms.build("bool")
    if kind in ("date", "datetime"):
        # Xero's "/Date(1573755038314+0000)/" and Salesforce's "2019-11-14" in one form.
        return transforms.build(kind)
    return lambda s: normalize.v_text(s.map(lambda v: v if not isinstance(v, bool) else ("true" if v else "false")))


@dataclass
class FieldPlan:
    name: str                        # target field path
    kind: str                        # its kind in the target's schema
    #: The value to write, per source row (target kind), or what computes it when first read (`values`).
    computed: pd.Series | Callable[[], pd.Series]
    source_field: str | None         # the Salesforce field it comes from (two-way flows back into it)
    owner: str
    label: str
    #: The target's value → the form `values` are in; `field` reads the paired source records' own fields
    #: where a transform takes one as its argument (`phone({BillingCountry})`), aligned by index.
    compare: Callable[[pd.Series, transforms.Fields | None], pd.Series]
    missing_ref: pd.Series | None = None   # why a reference has no link yet, per row
    by_number: pd.Series | None = None     # the Account Id whose R1 Contact is not linked yet, per row
    #: Two-way: the target's value → what is written to `source_field` (transforms.back); `field` as for
    #: `compare`. None: the field does not flow back.
    to_source: Callable[[pd.Series, transforms.Fields | None], pd.Series] | None = None
    #: When the value is its source field's own value mapped (a `from:` with no value map, truncation or
    #: default, so identical raw values map identically): that value per source row (`raw`) and the
    #: mapping (`mapped`, `field` as for `compare`, else the source records'). A pair whose raw values are
    #: identical is then never mapped: on `sfxero bench reconcile`'s world R1's mapping declared planned
    #: 100k Accounts in 19.1 s mapping every phone up front, 7.2 s with this (R1's code: 5.7 s; SQLite).
    raw: pd.Series | None = None
    mapped: Callable[[pd.Series, transforms.Fields | None], pd.Series] | None = None
    #: What two mapped values compare by when not themselves (`fields.FieldRule.same_key`: a phone's digits).
    same_key: Callable[[pd.Series], pd.Series] | None = None

    @property
    def values(self) -> pd.Series:
        if callable(self.computed):
            self.computed = self.computed()
        return self.computed

    def values_at(self, pos: np.ndarray) -> np.ndarray:
        """The values of the source rows at positions `pos`, mapping only those when not mapped yet."""
        if self.raw is not None and callable(self.computed):
            return self.mapped(self.raw.iloc[pos], None).to_numpy()
        return self.values.to_numpy()[pos]


def field_plans(conn: sa.Connection, cfg: SfxeroConfig, name: str, r: DeclaredRecipe,
                src: pd.DataFrame) -> list[FieldPlan]:
    coll = r.to.xero or ""
    out = []
    resolve = _Resolver(conn, r.source.salesforce or "", src, f"recipes.{name}")
    kw = transforms.options(cfg.mapping)
    for field, spec in r.fields.items():
        key = f"recipes.{name}.fields.{field}"
        kind = (xero_field(coll, field) or {}).get("kind", "text")
        chain = transforms.chain(spec.transforms, **kw, field=resolve) if spec.transforms else (lambda s: s)
        missing = by_number = None
        if spec.source:
            raw = resolve(spec.source)
            how = f"{spec.source}→{field}"
        elif spec.is_constant:
            raw = transforms.constant(spec.value, src.index)
            how = f"{field} = {spec.value!r}"
        elif spec.template:
            raw = transforms.template(spec.template, {f: resolve(f) for f in template_fields(spec.template)}, src.index)
            how = f"template {spec.template}→{field}"
        elif spec.lookup:
            found = _lookup(conn, r.source.salesforce or "", spec, key)
            raw = src.id.map(found).astype("object")
            how = f"{spec.lookup}{' where ' + spec.where if spec.where else ''}→{field}"
        else:
            ids = resolve(spec.ref)
            linked = state_links.links_of(conn, spec.via) if state_links.has_links_table(conn) else {}
            raw = ids.map(linked).astype("object")
            unlinked = [isinstance(i, str) and bool(i) and pd.isna(x) for i, x in zip(ids, raw)]
            if spec.via == R1 and field == CONTACT_REF:
                # As R2's invoices do: a Contact R1 creates (or first links) in the same push is named by
                # its ContactNumber, the Account Id, and the push puts in the ContactID once it is written.
                by_number = pd.Series([i if u else None for i, u in zip(ids, unlinked)], index=src.index, dtype="object")
            else:
                missing = pd.Series([f"{spec.ref} {i} has no {spec.via} link yet (its record is not in Xero)"
                                     if u else None for i, u in zip(ids, unlinked)], index=src.index, dtype="object")
            how = f"{spec.ref} via {spec.via}→{field}"
        norm = [t for t in spec.transforms if not t.startswith(("map", "truncate"))]
        mapped = None
        if spec.source and spec.default is None and len(norm) == len(spec.transforms) and not group_of(field):
            def mapped(s: pd.Series, field: transforms.Fields | None = None, kind=kind, texts=spec.transforms) -> pd.Series:
                chained = transforms.chain(texts, **kw, field=field or resolve)(s.astype("object")) if texts else s
                return _kind_fn(kind)(chained.astype("object"))
            values = functools.partial(mapped, raw)
        else:
            values = _kind_fn(kind)(transforms.with_default(chain(raw.astype("object")), spec.default))
        if group_of(field):
            # Membership is yes or no: an empty value (or one a value map leaves out) is not a member.
            values = values.map(lambda v: v is True).astype("object")

        def comparable(s: pd.Series, field: transforms.Fields | None = None, norm=norm, kind=kind) -> pd.Series:
            return _kind_fn(kind)(transforms.chain(norm, **kw, field=field)(s) if norm else s)

        label = spec.label(name, field, how)
        owner = spec.owner or r.source.system
        flows_back = spec.source and ("." not in spec.source or primary_contact_path(r.source.salesforce, spec.source))
        to_source = None
        if flows_back:
            def to_source(s: pd.Series, field: transforms.Fields | None = None, texts=spec.transforms) -> pd.Series:
                return transforms.back(texts, **kw, field=field)(s)
        out.append(FieldPlan(field, kind, values, spec.source if flows_back else None,
                             owner, label, comparable, missing, by_number, to_source,
                             raw if mapped else None, mapped, transforms.same_key(spec.transforms)))
    for array, spec in r.lines.items():
        out.append(_lines_plan(conn, cfg, name, r, src, array, spec))
    return out


def _lines_plan(conn: sa.Connection, cfg: SfxeroConfig, name: str, r: DeclaredRecipe, src: pd.DataFrame,
                array: str, spec) -> FieldPlan:
    """A Xero array (LineItems) per source record from its live child records, ordered by Id. Both sides
    compare as canonical JSON of the mapped line fields only (Xero adds LineItemID, LineAmount, …), so
    an unchanged document plans nothing; the payload carries the lines themselves."""
    key = f"recipes.{name}.lines.{array}"
    kinds = {f: info["kind"] for f, info in ((xero_field(r.to.xero or "", array) or {}).get("items") or {}).items()}
    kinds.update({f: "text" for f in spec.fields if f.startswith(TRACKING_PREFIX)})
    kw = transforms.options(cfg.mapping)
    child = _read_sf(conn, spec.source, spec.reads(), key)
    child = child[~child.is_deleted.isin(DELETED).to_numpy()].reset_index(drop=True)
    child = child[_conditions_mask(child, spec.conditions, _Resolver(conn, spec.source, child, f"{key}.where"))]
    child = child[child[_col(spec.parent)].isin(set(src.id)).to_numpy()].sort_values("id", kind="mergesort")
    child = child.reset_index(drop=True)
    resolve = _Resolver(conn, spec.source, child, key)
    columns = {}
    for field, fs in spec.fields.items():
        if fs.source:
            raw = resolve(fs.source)
        elif fs.is_constant:
            raw = transforms.constant(fs.value, child.index)
        else:
            raw = transforms.template(fs.template, {f: resolve(f) for f in template_fields(fs.template)}, child.index)
        chain = transforms.chain(fs.transforms, **kw, field=resolve) if fs.transforms else (lambda v: v)
        columns[field] = _kind_fn(kinds.get(field, "text"))(
            transforms.with_default(chain(raw.astype("object")), fs.default)).to_numpy()
    lines: dict[str, list[dict]] = {}
    for pos, parent in enumerate(child[_col(spec.parent)].tolist()):
        line = {f: _plain(v[pos]) for f, v in columns.items()}
        lines.setdefault(parent, []).append({f: v for f, v in line.items() if v is not None})
    values = src.id.map(lambda i: _canonical_lines(lines.get(i, []))).astype("object")
    fields = {f: kinds.get(f, "text") for f in spec.fields}
    options = _tracking_options(conn) if any(f.startswith(TRACKING_PREFIX) for f in fields) else None
    missing = None
    if options is not None:
        missing = src.id.map(lambda i: _tracking_problem(lines.get(i, []), options)).astype("object")

    def xero_lines(s: pd.Series, field: transforms.Fields | None = None) -> pd.Series:
        # Xero's lines are compared as they are projected: no line transform applies to them.
        return pd.Series([_canonical_lines(doc) for doc in _project_lines(s, fields)], index=s.index, dtype="object")

    return FieldPlan(array, "array", values, None, r.source.system,
                     f"{name} {spec.source} lines→{array} ({', '.join(spec.fields)})", xero_lines, missing)


class Group(NamedTuple):
    id: str                    # ContactGroupID
    name: str
    members: frozenset[str]    # ContactIDs


def _live_records(conn: sa.Connection, key: str) -> list[dict] | None:
    """The staged raw records of a reference collection (`extract.xero.objects` key) not flagged deleted;
    None when it is not staged."""
    table = XERO_OBJECTS[key].table
    if not load.has_table(conn, table):
        return None
    return [json.loads(raw) if isinstance(raw, str) else (raw or {})
            for (raw,) in conn.execute(sa.text(f"SELECT raw FROM {load.q(conn, table)} WHERE NOT is_deleted"))]


def contact_groups(conn: sa.Connection) -> dict[str, Group]:
    """Active contact groups by lower-case name (Xero keeps names unique regardless of case), with their
    members as staged: extract reads each group's `Contacts` while a recipe maps membership."""
    return {rec["Name"].lower(): Group(rec.get("ContactGroupID") or "", rec["Name"], frozenset(
                c.get("ContactID") for c in rec.get("Contacts") or [] if isinstance(c, dict)))
            for rec in _live_records(conn, "contact_groups") or []
            if rec.get("Status", "ACTIVE") == "ACTIVE" and rec.get("Name")}


def group_problems(fps: list["FieldPlan"], groups: dict[str, Group]) -> pd.Series | None:
    """Why a record cannot be put in the contact groups its fields ask for (a group Xero does not have),
    per source row; None when no field maps a group."""
    asked = [fp for fp in fps if group_of(fp.name)]
    if not asked:
        return None
    active = ", ".join(sorted(g.name for g in groups.values())) or "none"
    why = pd.Series(None, index=asked[0].values.index, dtype="object")
    for fp in asked:
        name = group_of(fp.name)
        if name.lower() not in groups:
            why = why.fillna(fp.values.map(lambda v, n=name: f"Xero has no active contact group '{n}' (active: "
                                                             f"{active}); create it in Xero or map another name"
                                           if v is True else None))
    return why.where(why.notna(), None)


def memberships(flat: dict, groups: dict[str, Group]) -> tuple[dict, list[dict]]:
    """A row's values without its `ContactGroups.<name>` fields, and those as the membership calls the
    push makes after the contact write (Xero's contact write ignores ContactGroups). A create's values
    name only the groups it joins: a new contact is in none."""
    rest, calls = {}, []
    for path, value in flat.items():
        name = group_of(path)
        if name is None:
            rest[path] = value
        else:
            group = groups.get(name.lower())
            calls.append({"ContactGroupID": group.id if group else "", "Name": name, "member": bool(value)})
    return rest, sorted(calls, key=lambda c: c["Name"])


def _tracking_options(conn: sa.Connection) -> dict[str, set[str]] | None:
    """Active tracking category name → its active options' names, as staged; None when not staged."""
    records = _live_records(conn, "tracking_categories")
    if records is None:
        return None
    return {rec.get("Name"): {o.get("Name") for o in rec.get("Options") or [] if o.get("Status", "ACTIVE") == "ACTIVE"}
            for rec in records if rec.get("Status", "ACTIVE") == "ACTIVE"}


def _tracking_problem(lines: list[dict], options: dict[str, set[str]]) -> str | None:
    """Why a document's lines cannot be written: a tracking option Xero would refuse, named with the choices."""
    for n, line in enumerate(lines, 1):
        for f, v in sorted(line.items()):
            if not f.startswith(TRACKING_PREFIX):
                continue
            category = f[len(TRACKING_PREFIX):]
            if category not in options:
                return (f"line {n}: Xero has no active tracking category {category} (active: "
                        f"{', '.join(sorted(options)) or 'none'})")
            if v not in options[category]:
                return (f"line {n}: '{v}' is not an active option of the Xero tracking category {category} "
                        f"({', '.join(sorted(options[category]))}); add it in Xero or map the value")
    return None


def _project_lines(docs: pd.Series, fields: dict[str, str]) -> list[list[dict]]:
    """Each document's Xero lines reduced to the mapped fields, each in its kind's form (as the source
    side is). Every field is brought to its kind in one pass over all the lines of all the documents."""
    lines = [[line if isinstance(line, dict) else {} for line in got] if isinstance(got, list) else []
             for got in docs]
    flat = [line for doc in lines for line in doc]
    tracked = [{t.get("Name"): t.get("Option") for t in line.get("Tracking") or [] if isinstance(t, dict)}
               for line in flat]
    columns = {}
    for f, kind in fields.items():
        raw = [t.get(f[len(TRACKING_PREFIX):]) for t in tracked] if f.startswith(TRACKING_PREFIX) else \
            [line.get(f) for line in flat]
        columns[f] = _kind_fn(kind)(pd.Series(raw, dtype="object")).to_numpy()
    out, pos = [], 0
    for doc in lines:
        projected = []
        for _ in doc:
            projected.append({f: v for f, col in columns.items() if (v := _plain(col[pos])) is not None})
            pos += 1
        out.append(projected)
    return out


def _canonical_lines(lines: list[dict]) -> str:
    return json.dumps(lines, sort_keys=True, separators=(",", ":"), default=str)


def payload_values(flat: dict, fps: list[FieldPlan]) -> dict:
    """A row's flat field values as Xero takes them: arrays compared as canonical JSON go back to lists."""
    for fp in fps:
        if fp.kind == "array" and isinstance(flat.get(fp.name), str):
            flat[fp.name] = [_with_tracking(line) for line in json.loads(flat[fp.name])]
    return flat


def _with_tracking(line: dict) -> dict:
    """A line's `Tracking.<Category>` values as Xero's `Tracking: [{Name, Option}]`."""
    tracked = sorted((k[len(TRACKING_PREFIX):], line.pop(k)) for k in [k for k in line if k.startswith(TRACKING_PREFIX)])
    if tracked:
        line["Tracking"] = [{"Name": name, "Option": option} for name, option in tracked]
    return line


def xero_body(flat: dict, fps: list[FieldPlan], collection: str) -> dict:
    """A row's values as the Xero record's body: paths nested, lines as Xero's lists, and a Contact's
    typed arrays (`Phones.DEFAULT`, `Addresses.POBOX.City`) as Xero's elements, as R1 writes them."""
    plain, typed = split_typed(flat) if collection == "Contacts" else (flat, {})
    return {**nest(payload_values(plain, fps)), **xero_payload(typed)}


def nest(flat: dict[str, object]) -> dict:
    """{"SalesDetails.UnitPrice": 5} → {"SalesDetails": {"UnitPrice": 5}}."""
    out: dict = {}
    for path, value in sorted(flat.items()):
        node = out
        parts = path.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _plain(v):
    if v is None or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


# ---- the planner --------------------------------------------------------------------------------

def refuse_against_describe(conn: sa.Connection, name: str,
                            r: DeclaredRecipe) -> Callable[[str], dict[str, str] | None]:
    """A declaration naming a Salesforce object or field the staged describe does not have (or a transform
    on the wrong kind of value) stops its plan with a ConfigError naming the key, before anything is read.
    Returns the describe it read, for the plan to use (read once per plan)."""
    describe = staged_describe(conn)
    problems = salesforce_problems({name: r}, describe)
    if problems:
        raise ConfigError(*problems[0])
    return describe


#: The column of an Account frame holding its primary Contact's Id (and `Contact.<Field>` its fields).
PRIMARY_CONTACT_ID = "Contact.Id"


def _with_primary_contact(conn: sa.Connection, accounts: pd.DataFrame, paths: list[str]) -> pd.DataFrame:
    """`accounts` with a column per `Contact.<Field>` path: that field of each Account's primary Contact."""
    fields = [p.split(".", 1)[1] for p in paths]
    contact = primary_contact.read(conn, fields)
    out = accounts.copy()
    for path, field in zip(paths, fields):
        out[path] = out["id"].map(contact["id" if _col(field) == "id" else field]).astype("object").to_numpy()
    return out


def _routed(conn: sa.Connection, cfg: SfxeroConfig, name: str, r: DeclaredRecipe,
            src: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """With several Xero organisations, the source records this run's organisation plans (those whose
    Account `routing:` gives it, `DeclaredRecipe.routed_by`), and the hold reasons of those whose
    Account no rule takes, worded as R1's and R2's ("Account … held at reconcile: no routing rule …");
    the rest are other organisations' runs' to plan."""
    routed = routing.routed_here(conn, cfg) if r.routed_by else None
    if routed is None:
        return src, {}
    accounts = _Resolver(conn, r.source.salesforce or "", src, f"recipes.{name}.route")(r.routed_by)
    accounts = accounts.where(accounts.notna() & (accounts != ""), None)
    keep = src[accounts.map(routed.covers).to_numpy(dtype=bool)].reset_index(drop=True)
    held = {}
    for i, a in zip(src.id, accounts):
        if a in routed.held:
            # Assigned to `why`: sfxero_tests/reconcile/test_hold_sentences.py finds every hold reason so.
            why = f"Account {a} held at reconcile: {routed.held[a]}"
            held[i] = why
    return keep, held


@dataclass
class XeroPass:
    """What the read and match steps of a declared recipe into Xero hand its pair, compare and emit steps
    (`plan_xero_pass`): the engine's own (`read_and_match`), or those of a planner's pass over the same
    records (R1's, reconcile/contacts.py)."""
    #: The live source records planned here: `id`, `modified_at`, `invalid_reason`, a column per field
    #: read (`_col`), `Contact.<Field>` and `Contact.Id` for an Account's primary Contact.
    src: pd.DataFrame
    fps: list[FieldPlan]
    #: The collection's records: `id`, `modified_at`, `invalid_reason`, `_active`, `x:<path>`.
    xr: pd.DataFrame
    result: MatchResult
    holds: dict[str, dict[str, str]]                 # staged table → id → open hold's reason
    create_key: pd.Series | None = None              # what a create is found again by, when no field maps it
    member_of: dict[str, Group] = dataclass_field(default_factory=dict)
    group_why: pd.Series | None = None
    routed_held: dict[str, str] = dataclass_field(default_factory=dict)
    #: Salesforce ids gone, each with why (deleted; under `filtered_out: delete`, out of `where:`): what
    #: `deletes.salesforce` removes the linked Xero records of (`xero_removals`).
    gone: dict[str, str] = dataclass_field(default_factory=dict)
    #: Linked pairs the read found identical (sf_id, xero_id), never compared: `skip` rows.
    settled: pd.DataFrame | None = None
    #: Pair-frame column → source (`carried_src`) or `xr` (`carried_x`) column, carried into the pairs for a
    #: recipe riding this pass (R4's balances on R1's: declared_sf.handed_over).
    carried_src: dict[str, str] = dataclass_field(default_factory=dict)
    carried_x: dict[str, str] = dataclass_field(default_factory=dict)
    #: The pairs compared (held ones apart), once `plan_xero_pass` has paired them: what a riding recipe plans on.
    compared: pd.DataFrame | None = None
    #: The pass's own hold checks (pair column → why), instead of the engine's (`pair_checks`).
    checks: list[HoldCheck] | None = None
    #: Code deciding what the declaration cannot express (R2's and R7's invoices); None: the engine's.
    documents: DocumentCode | None = None
    #: The pass's own gone pairs, with what its delete policies chose (R2's: an invoice deleted or voided by
    #: its status, both sides of a link; reconcile/deletes.py), planned with the engine's (`policy_rows`).
    removals: Callable[[], list[Gone]] | None = None


#: action → (rows of the compared pairs, their diffs, their reasons).
Decided = dict[str, tuple[list[int], list[dict], list[str]]]


class DocumentCode(Protocol):
    """The engine's extension point for a recipe whose records the declared fields do not describe whole
    (R2's and R7's invoices: lines, tax, an approved invoice Xero will not edit; reconcile/invoices.py).
    The engine still reads the pass, pairs, holds, plans in-sync pairs, write-backs, broken links and
    ambiguous matches; the code decides the compared pairs that differ and writes the creates."""

    def decide(self, ok: pd.DataFrame) -> Decided:
        """Of the compared pairs (`ok`, with the pass's carried columns), those the code plans (update,
        conflict, held); the rest are compared field by field (none declared: in sync)."""

    def creates(self, unmatched: pd.Series) -> pd.DataFrame:
        """Create (or held) rows of the unmatched source records (their ids)."""


def plan_declared(conn: sa.Connection, cfg: SfxeroConfig, name: str,
                  planned: pd.DataFrame | None = None, wording: Wording | None = None) -> plan.FamilyPlan:
    """One declared recipe: read → match → pair → compare → emit (plan rows not yet finalized).
    `planned`: plans built in the same pass and not stored yet (a ref through R1 reads R1's).
    `wording`: what its rows into Xero say (`config.wording`); the engine's own by default."""
    r = cfg.recipes.declared[name]
    if not r.enabled:
        return plan.FamilyPlan(plan.empty(), {})
    describe = refuse_against_describe(conn, name, r)
    if r.to.salesforce:
        from .declared_sf import plan_into_salesforce

        return plan_into_salesforce(conn, cfg, name, r, planned, describe=describe)
    words = wording or Wording(name)
    return plan_xero_pass(conn, cfg, name, r, words, read_and_match(conn, cfg, name, words))


def read_and_match(conn: sa.Connection, cfg: SfxeroConfig, name: str, words: Wording) -> XeroPass:
    """The engine's read and match steps of declared recipe `name` into Xero (match rules named in `words`)."""
    r = cfg.recipes.declared[name]
    sobject = r.source.salesforce or ""
    coll = r.to.xero
    target_object, id_attr, lookup_attr = ENGINE_TARGETS[coll]
    key_rule = r.key_rule
    lookup_by = key_rule.target if key_rule else lookup_attr

    # -- read
    reads = {c.field for c in r.source.conditions} | {f for s in r.fields.values() for f in s.reads}
    reads |= {m.source for m in r.match if m.source} | set(r.write_back) | ({r.routed_by} if r.routed_by else set())
    src = _read_sf(conn, sobject, reads, f"recipes.{name}")
    deleted = src[src.is_deleted.isin(DELETED).to_numpy()]
    src = src[~src.is_deleted.isin(DELETED).to_numpy()].reset_index(drop=True)
    meets = _conditions_mask(src, r.source.conditions, _Resolver(conn, sobject, src, f"recipes.{name}.from.where"))
    gone = {i: f"{sobject} deleted in Salesforce" for i in deleted.id}
    if r.filtered_out == "delete":
        gone.update({i: f"{sobject} no longer meets where: {r.source.where}" for i in src.id[~meets]})
    src, routed_held = _routed(conn, cfg, name, r, src[meets].reset_index(drop=True))
    # `Contact.<Field>` on an Account: its primary Contact, read once for the fields and match keys
    # naming it; its hold holds the pair, and a Xero-owned field is written back to it.
    contact_paths = sorted(f for f in reads if primary_contact_path(sobject, f))
    reads_contact = bool(contact_paths)
    if reads_contact:
        src = _with_primary_contact(conn, src, [PRIMARY_CONTACT_ID, *contact_paths])
    fps = field_plans(conn, cfg, name, r, src)
    member_of = contact_groups(conn) if any(group_of(fp.name) for fp in fps) else {}
    group_why = group_problems(fps, member_of)
    if group_why is not None:
        next(fp for fp in fps if group_of(fp.name)).missing_ref = group_why  # a create waits as a ref would
    x_paths = {fp.name for fp in fps} | {m.target for m in r.match if m.target} | set(r.write_back.values())
    xr = _read_xero(conn, coll, x_paths, member_of)
    links = pd.DataFrame(list(state_links.links_of(conn, name).items()) if state_links.has_links_table(conn) else [],
                         columns=["sf_id", "xero_id"], dtype="object")
    id_back = next((sf for sf, path in r.write_back.items() if path == id_attr), None)

    # -- match: link (sync_link, then an id written back), then the declared rules in order
    sf_m = src.copy()
    by_name = {fp.name: fp for fp in fps}
    keys = []
    for m in r.match[1:]:
        norm = normalize.v_email if m.kind == "email" else normalize.v_name if m.kind == "name" else normalize.v_text
        src_vals = by_name[m.target].values if m.target in by_name else None
        src_key = src_vals if src_vals is not None and m.kind == "key" else _Resolver(conn, sobject, src, "")(m.source)
        sf_m[f"k:{m.target}"] = src_key.to_numpy()
        keys.append((words.match_name(m.kind if m.kind != "key" else m.target),
                     lambda d, c=f"k:{m.target}", f=norm: f(d[c].astype("object")),
                     lambda d, c=f"x:{m.target}", f=norm: f(d[c].astype("object"))))
    # A key a create is found again by that no field maps (R1's `{ContactNumber: Id}`) is sent on the
    # create only: it names the record, it is not kept in step (a team may use it in Xero otherwise).
    create_key = sf_m[f"k:{lookup_by}"] if key_rule and lookup_by not in by_name else None
    result = match(sf_m, xr, links=links, sf_link_col=_col(id_back) if id_back else None, active=xr["_active"],
                   keys=keys, target_label=f"Xero {target_object}")
    holds = load.open_holds(conn, [sf_table(sobject), _xero_table(coll), *([primary_contact.TABLE] if reads_contact else [])])
    return XeroPass(src, fps, xr, result, holds, create_key, member_of, group_why, routed_held, gone)


def pair_checks(holds: dict[str, dict[str, str]], sobject: str, coll: str, reads_contact: bool) -> list[HoldCheck]:
    """What holds a pair of a recipe from `sobject` into Xero `coll`, the first found first: an open hold on
    either record or on the Account's primary Contact (when read), then either record staged invalid."""
    target = f"Xero {ENGINE_TARGETS[coll][0]}"
    return [("sf_id", held_by(holds[sf_table(sobject)], sobject)), ("xero_id", held_by(holds[_xero_table(coll)], target)),
            *([("pc_id", held_by(holds[primary_contact.TABLE], "primary Contact"))] if reads_contact else []),
            ("s_invalid", staged_invalid(sobject)), ("x_invalid", staged_invalid(target))]


def _flows_back(r: DeclaredRecipe, fps: list[FieldPlan]) -> list[bool]:
    """Per field plan, whether a value Xero changed flows back to Salesforce (a two-way field with a way
    back): the pair step reads the Salesforce value of those (`so_<i>`), the compare step shows it as `old`."""
    return [fp.to_source is not None and r.sync == "two_way" for fp in fps]


def pair_xero_pass(conn: sa.Connection, name: str, r: DeclaredRecipe,
                   p: XeroPass) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """The pair step of recipe `name`'s declaration `r` into Xero on pass `p`: (pairs to compare, held
    pairs, their reasons). Sets `p.compared`, and frees of `p.xr` what the emit step does not read."""
    sobject, coll = r.source.salesforce or "", r.to.xero
    src, fps, xr, result, holds = p.src, p.fps, p.xr, p.result, p.holds
    reads_contact = PRIMARY_CONTACT_ID in src.columns
    src_cols = {"s_modified_at": "modified_at", "s_invalid": "invalid_reason",
                **({"pc_id": PRIMARY_CONTACT_ID} if reads_contact else {})}
    x_cols = {"x_modified_at": "modified_at", "x_invalid": "invalid_reason"}
    idx = src.set_index("id")
    source_field = _Resolver(conn, sobject, src, f"recipes.{name}")
    flows_back = _flows_back(r, fps)
    for i, fp in enumerate(fps):
        # A field mapped from its raw value is compared from it (`FieldPlan.raw`): only differing pairs are mapped.
        idx[f"v{i}"] = (fp.values if fp.raw is None else fp.raw).to_numpy()
        src_cols[f"s_{i}"] = f"v{i}"
        x_cols[f"x_{i}"] = f"x:{fp.name}"
        if flows_back[i] and fp.raw is None:
            # The value as Salesforce holds it: what a change brought back shows as `old`.
            idx[f"so{i}"] = source_field(fp.source_field).to_numpy()
            src_cols[f"so_{i}"] = f"so{i}"
    for j, (sf_field, path) in enumerate(sorted(r.write_back.items())):
        src_cols[f"sb_{j}"] = _col(sf_field)
        x_cols[f"xb_{j}"] = f"x:{path}"
    src_cols.update(p.carried_src)
    x_cols.update(p.carried_x)
    pairs = pair_frame(result.pairs.reset_index(drop=True), idx, xr.set_index("id"), src_cols, x_cols)
    # Paired: of the Xero records only what the emit step reads is kept (names taken, which are gone), as
    # R1's code freed its Xero side here: at 1M the rest is a large share of peak memory.
    p.xr = xr[[c for c in ("id", "_active", "x:Name") if c in xr.columns]]
    del idx
    checks = pair_checks(holds, sobject, coll, reads_contact) if p.checks is None else list(p.checks)
    if p.group_why is not None:
        checks.append(("sf_id", dict(zip(src.id, p.group_why)).get))
    if p.routed_held:
        checks.insert(0, ("sf_id", p.routed_held.get))
    ok, held, held_why = split_held(pairs, hold_reasons(pairs, checks))
    p.compared = ok
    return ok, held, held_why


def plan_xero_pass(conn: sa.Connection, cfg: SfxeroConfig, name: str, r: DeclaredRecipe, words: Wording,
                   p: XeroPass) -> plan.FamilyPlan:
    """The pair, compare and emit steps of recipe `name`'s declaration `r` into Xero, on what a pass read
    and matched (`p`), its rows worded by `words`. Sets `p.compared`."""
    sobject = r.source.salesforce or ""
    coll = r.to.xero
    target_object, id_attr, lookup_attr = ENGINE_TARGETS[coll]
    lookup_by = r.key_rule.target if r.key_rule else lookup_attr
    source_table, target_table = sf_table(sobject), _xero_table(coll)
    src, fps, result, holds = p.src, p.fps, p.result, p.holds
    member_of, routed_held = p.member_of, p.routed_held
    reads_contact = PRIMARY_CONTACT_ID in src.columns
    by_name = {fp.name: fp for fp in fps}
    for fp in fps:
        fp.label = words.rules.get(fp.name, fp.label)

    # -- pair
    ok, held, held_why = pair_xero_pass(conn, name, r, p)
    source_field = _Resolver(conn, sobject, src, f"recipes.{name}")
    flows_back = _flows_back(r, fps)

    # -- compare
    @functools.cache
    def paired(f: str) -> pd.Series:
        """A field of each compared pair's source record (a transform's argument), aligned with `ok`."""
        by_id = pd.Series(source_field(f).to_numpy(dtype=object), index=src.id.to_numpy())
        return pd.Series(by_id.reindex(ok.sf_id.to_numpy()).to_numpy(dtype=object), index=ok.index, dtype="object")

    rules = []
    for i, fp in enumerate(fps):
        ok[f"x_{i}"] = ok[f"x_{i}"].astype("object")
        if fp.name in r.fields and r.fields[fp.name].create_only:
            continue  # sent on a create only: never compared, so never updated
        rules.append(FieldRule(key=fp.name, sf_field=fp.source_field or fp.name, s_col=f"s_{i}", x_col=f"x_{i}",
                               to_xero=(lambda s: s) if fp.raw is None else (lambda s, fp=fp: fp.mapped(s, paired)),
                               compare=lambda s, fp=fp: fp.compare(s, paired),
                               to_sf=(lambda s, fp=fp: fp.to_source(s, paired)) if flows_back[i] else normalize.v_text,
                               owner=fp.owner if r.sync == "two_way" else "salesforce", label=fp.label,
                               same_key=fp.same_key,
                               s_old=f"so_{i}" if flows_back[i] and fp.raw is None else None))
    entries, suppressed = compare(ok, rules, written_xero=load.last_written(conn, "xero"),
                                  written_sf=load.last_written(conn, "salesforce")) if rules else ([], {})
    # What the pass's code plans itself (R2's invoices that differ), taken out of the field compare's rows.
    decided = p.documents.decide(ok) if p.documents else {}
    taken = {row for rows, _, _ in decided.values() for row in rows}
    fwd = changes_by_row(entries, direction="sf_to_xero")
    back = changes_by_row(entries, direction="xero_to_sf")
    wb_rules = [FieldRule(key=sf_field, sf_field=sf_field, s_col=f"sb_{j}", x_col=f"xb_{j}", to_xero=normalize.v_text,
                          compare=normalize.v_text, to_sf=normalize.v_text, owner="xero",
                          label=words.rules.get(sf_field) or (words.write_back[0] if words.write_back else
                                                              f"{name} write-back of Xero {path}"))
                for j, (sf_field, path) in enumerate(sorted(r.write_back.items()))]
    wb, _ = compare(ok, wb_rules, written_xero={}, written_sf={})
    written_back = changes_by_row(wb)
    if not words.write_back:
        for row, changes in written_back.items():
            back.setdefault(row, {}).update(changes)

    # -- emit
    diff_base = {"target_object": target_object,
                 **({"source_table": source_table, "engine": "declared"} if words.marks else {})}
    parts = []
    sf_ids, x_ids = ok.sf_id.tolist(), ok.xero_id.tolist()
    matches, new_link = ok["match"].tolist(), ok.link.tolist()
    whole_of = {fp.name: w for fp in fps if (w := _sent_whole(coll, fp.name))}
    key_of = {}  # pair row → the lookup key's value, sent with an update (the rows with changes to Xero)
    if lookup_by in by_name:
        i = next(i for i, fp in enumerate(fps) if fp.name == lookup_by)
        rows = sorted(fwd)
        changed = ok[f"s_{i}"].iloc[rows]
        key_of = dict(zip(rows, changed if fps[i].raw is None else fps[i].mapped(changed, paired)))

    for action, (picked, diffs, reasons) in decided.items():
        parts.append(plan.rows(words.code, "sf_to_xero", action, [sf_ids[i] for i in picked],
                               [x_ids[i] for i in picked], diffs, reasons))
    upd_rows, upd_diffs, skip_rows, skip_diffs = [], [], [], []
    for row in range(len(ok)):
        if row in taken:
            continue
        changed = fwd.get(row)
        if changed:
            flat = {k: v["new"] for k, v in changed.items()}
            if row in key_of:
                flat.setdefault(lookup_by, _plain(key_of[row]))
            sent_whole = {whole_of[k] for k in flat if k in whole_of}
            for i, fp in enumerate(fps):
                if whole_of.get(fp.name) in sent_whole and fp.name not in flat:
                    # Xero replaces it whole: a mapped part not written stays as Xero has it (a part Xero
                    # owns, or one already the same), never Salesforce's value over Xero's.
                    v = _plain(ok[f"x_{i}"].iloc[row])
                    if v is not None:
                        flat[fp.name] = v
            flat, calls = memberships(flat, member_of)
            upd_rows.append(row)
            upd_diffs.append({**diff_base, "match": matches[row], "link": bool(new_link[row]), "fields": changed,
                              "payload": {id_attr: x_ids[row], **xero_body(flat, fps, coll)},
                              **({"groups": calls} if calls else {}),
                              **({"suppressed": suppressed[row]} if row in suppressed else {})})
        else:
            skip_rows.append(row)
            skip_diffs.append({"match": matches[row], "link": bool(new_link[row]),
                               **({"suppressed": suppressed[row]} if row in suppressed else {})}
                              if new_link[row] or row in suppressed else None)
    parts.append(plan.rows(words.code, "sf_to_xero", "update", [sf_ids[i] for i in upd_rows], [x_ids[i] for i in upd_rows],
                           upd_diffs, [f"{len(d['fields'])} field(s) differ; matched by {d['match']}" for d in upd_diffs]))
    parts.append(plan.rows(words.code, "sf_to_xero", "skip", [sf_ids[i] for i in skip_rows], [x_ids[i] for i in skip_rows],
                           skip_diffs, [in_sync(matches[i]) for i in skip_rows]))
    if p.settled is not None and len(p.settled):
        parts.append(plan.rows(words.code, "sf_to_xero", "skip", p.settled.sf_id, p.settled.xero_id, None, in_sync("link")))
    if words.write_back and written_back:
        parts.append(sf_update_rows(words.code, sobject, ok, written_back, words.write_back[1],
                                    with_link=words.write_back_link))
    to_contact = None
    if reads_contact:
        pc_ids = ok.pc_id.tolist()
        back = primary_contact.writable(back, pc_ids)
        to_contact = lambda row, fields: primary_contact.payload(sf_ids[row], pc_ids[row], fields)  # noqa: E731
    if back:
        parts.append(sf_update_rows(words.back, sobject, ok, back, [brought_back(len(back[i])) for i in sorted(back)],
                                    payload=to_contact, with_link=not words.write_back))
        if words.marks:
            # A rejected Salesforce write holds the Xero record (what the row reads from).
            parts[-1]["diff"] = [plan.dumps({**json.loads(d), "source_table": target_table}) for d in parts[-1]["diff"]]
    parts.append(held_pair_rows(words.code, held, held_why))
    if len(result.broken):
        parts.append(broken_link_rows(words.code, result.broken, {"match": "link"} if words.broken_link_match else None))
    if len(result.conflicts):
        said = (lambda rule, candidates, _: words.ambiguous.format(rule=rule, candidates=", ".join(candidates))) \
            if words.ambiguous else functools.partial(ambiguous, many=f"Xero {coll}", one=f"Xero {target_object}",
                                                      others=sobject)
        parts.append(conflict_rows(words.code, result.conflicts, said))
    # A create also writes back what the recipes riding its links read from Xero (R4's balances on R1's).
    write_backs = {**paired_write_backs(cfg.recipes.declarations, words.code, sobject), **r.write_back}
    if p.documents:
        parts.append(p.documents.creates(result.unmatched))
    else:
        parts.append(_creates(words, r, src, fps, result.unmatched, holds[source_table], diff_base, lookup_by,
                              member_of, routed_held, _name_clashes(coll, sobject, src, by_name.get("Name"), p.xr,
                                                                    result.unmatched), p.create_key, write_backs))
    # Gone pairs, planned by one policy step: a Salesforce record gone removes its linked Xero record
    # (`deletes.salesforce`), a Xero record gone its linked Salesforce record (`deletes.xero`, two-way
    # recipes), and the pass's own (R2's invoices).
    back_base = {**diff_base, "target_object": sobject, **({"source_table": target_table} if words.marks else {})}
    gone = xero_removals(conn, words.code, r, coll, p.gone, diff_base)
    gone += salesforce_removals(conn, words.code, r, sobject, coll, p.xr, back_base)
    parts.append(policy_rows(conn, words.code, gone + (p.removals() if p.removals else [])))
    stats = {"matched_by": result.by_rule, "source": len(src), "target": len(p.xr),
             **({"settled_in_database": len(p.settled)} if p.settled is not None else {})}
    return plan.FamilyPlan(rows=plan.concat(parts), stats=stats)


@dataclass(frozen=True)
class Removal:
    """How a declared recipe removes a Xero record of its collection when the Salesforce record is gone."""
    op: str                      # archive | delete
    label: str                   # the field that names the record in the plan
    status_write: dict           # the status a POST sets (empty: Xero removes it with a DELETE call)
    balances: tuple[str, ...]    # amounts that make the record posted (held for approval under `archive`)

    @property
    def reads(self) -> tuple[str, ...]:
        return (self.label, *self.balances)


#: Contacts are archived, as R1 does: Xero keeps them with their history. Items have no status: Xero
#: deletes them (`DELETE /Items/{ItemID}`, push/to_xero.py). A quote is deleted by its status.
REMOVE = {"Contacts": Removal("archive", "Name", {"ContactStatus": "ARCHIVED"},
                              ("Balances.AccountsReceivable.Outstanding", "Balances.AccountsPayable.Outstanding")),
          "Items": Removal("delete", "Code", {}, ()),
          "Quotes": Removal("delete", "QuoteNumber", {"Status": "DELETED"}, ())}


def _status(rec: pd.Series) -> str | None:
    """A `_read_xero` record's status: a Contact's ContactStatus, another record's Status."""
    return _plain(rec["x:ContactStatus"]) or _plain(rec["x:Status"])


def xero_removals(conn: sa.Connection, code: str, r: DeclaredRecipe, coll: str, gone: dict[str, str],
                  diff_base: dict) -> list[Gone]:
    """What `deletes.salesforce` decides for the Xero records of `coll` that recipe `code` links to Salesforce
    records gone (`gone`: id → why: deleted, or no longer meeting `where:` under `filtered_out: delete`).
    Only those few are read, by id; one already gone in Xero needs nothing. A Contact with a balance is
    posted: `archive` becomes the `posted` policy (hold_for_approval unless set otherwise), as R1's."""
    if not gone or r.delete_policy("salesforce") == "ignore":
        return []
    target_object, id_attr, _ = ENGINE_TARGETS[coll]
    how = REMOVE[coll]
    linked = state_links.links_among(conn, code, sf_ids=gone)
    xr = _read_xero(conn, coll, set(how.reads), only=set(linked.values()))
    live = xr[xr["_active"].to_numpy(dtype=bool)].set_index("id")
    decided = []
    for sf_id, why in gone.items():
        x_id = linked.get(sf_id)
        if x_id not in live.index:
            continue  # never linked, or already gone in Xero
        rec = live.loc[x_id]
        status = _status(rec) or "ACTIVE"
        balance = sum(money(rec[f"x:{b}"]) for b in how.balances)
        posted = abs(balance) >= 0.005
        what = (f"{how.op} Xero {target_object} {_plain(rec[f'x:{how.label}']) or x_id}"
                + (f" (balance {balance:,.2f})" if posted else ""))
        diff = {**diff_base, "payload": {id_attr: x_id, **how.status_write},
                "fields": {k: {"old": status, "new": v} for k, v in how.status_write.items()}}
        decided.append(Gone("sf_to_xero", sf_id, x_id, how.op, status, posted,
                            r.delete_policy("salesforce", posted=posted), what, why, diff))
    return decided


def salesforce_removals(conn: sa.Connection, code: str, r: DeclaredRecipe, sobject: str, coll: str,
                        xr: pd.DataFrame, diff_base: dict) -> list[Gone]:
    """What `deletes.xero` decides for the live Salesforce `sobject` records (whatever `where:` says: the
    link pairs them) that recipe `code` links to the records of `coll` gone from Xero (`xr`'s not `_active`:
    archived, deleted or voided). The Salesforce record is deleted: it waits in the Recycle Bin 15 days."""
    if r.delete_policy("xero") == "ignore":
        return []
    gone_x = xr.id[~xr["_active"].to_numpy(dtype=bool)]
    if not len(gone_x):
        return []
    target_object = ENGINE_TARGETS[coll][0]
    by_sf = state_links.links_among(conn, code, xero_ids=gone_x)
    where, params = load.among(conn, "id", sorted(by_sf))
    staged = load.frame(conn, f"SELECT id, is_deleted FROM {sf_table(sobject)}{where}", ["id", "is_deleted"], params)
    live = set(staged.id[~staged.is_deleted.isin(DELETED).to_numpy()])
    xr = _read_xero(conn, coll, {REMOVE[coll].label}, only=set(by_sf.values())).set_index("id")
    decided = []
    for sf_id, x_id in sorted(by_sf.items()):
        if sf_id not in live or x_id not in xr.index:
            continue  # already deleted in Salesforce (or not staged there)
        rec = xr.loc[x_id]
        status = _status(rec) or "DELETED"
        label = _plain(rec[f"x:{REMOVE[coll].label}"]) or x_id
        diff = {**diff_base, "payload": {sobject: {"Id": sf_id}}, "fields": {}}
        decided.append(Gone("xero_to_sf", x_id, sf_id, "delete", status, False, r.delete_policy("xero"),
                            f"delete Salesforce {sobject} {sf_id} ({status} Xero {target_object} {label})",
                            f"{status} in Xero", diff))
    return decided


def _sent_whole(collection: str, path: str) -> str | None:
    """The object Xero replaces whole when a write sends `path`: a nested object (`SalesDetails`), one
    typed address of a Contact (`Addresses.POBOX`; a phone is one value already); None for a field of
    its own or a contact group."""
    if "." not in path or group_of(path):
        return None
    if collection == "Contacts" and typed_element(path):
        return None if path.startswith("Phones.") else path.rsplit(".", 1)[0]
    return path.split(".")[0]


def _name_clashes(coll: str, sobject: str, src: pd.DataFrame, name: FieldPlan | None, xr: pd.DataFrame,
                  unmatched: pd.Series) -> dict[str, str]:
    """Why a new Xero Contact cannot be created under its Name: Xero keeps contact names unique and, on
    the POST a push sends, takes a Contact with an existing name for that Contact and updates it. A new
    one named like a live staged Contact (case and spaces aside, as Xero compares them), or like another
    new one of this plan, is held rather than written over someone else's."""
    if coll != "Contacts" or name is None or not len(unmatched):
        return {}
    key = lambda v: str(v).strip().casefold() if isinstance(v, str) and v.strip() else None  # noqa: E731
    new = src.id.isin(unmatched).to_numpy()
    new_names = name.values_at(np.flatnonzero(new))
    wanted = {key(v) for v in new_names} - {None}
    # Only the live Contacts named like a new one are keyed one by one: at 1M, keying every name in
    # Python took 1.6 s of the plan (PostgreSQL), pandas' string methods and isin a fraction of it.
    live = xr[xr["_active"].to_numpy(dtype=bool)]
    named_so = live["x:Name"].astype("object").str.strip().str.casefold().isin(wanted).to_numpy()
    taken = {}
    for xid, xname in zip(live.id[named_so], live["x:Name"][named_so]):
        taken.setdefault(key(xname), (xid, xname))
    out, first_of = {}, {}
    for sf_id, value in zip(src.id[new], new_names):
        k = key(value)
        if k is None:
            continue
        if k in taken:
            xid, xname = taken[k]
            why = (f"Xero already has a Contact named '{xname}' ({xid}); Xero would update it instead of creating "
                   f"one for {sobject} {sf_id}: match by name ({{name: {{Name: ...}}}}) or map Name so it differs")
        elif k in first_of:
            why = (f"another new Xero Contact of this plan is named '{value}' ({sobject} {first_of[k]}); Xero needs "
                   "unique contact names: rename one, or map Name so they differ")
        else:
            first_of[k] = sf_id
            continue
        out[sf_id] = why
    return out


def _creates(words: Wording, r: DeclaredRecipe, src: pd.DataFrame, fps: list[FieldPlan], unmatched: pd.Series,
             holds: dict, diff_base: dict, lookup_by: str, member_of: dict, unrouted: dict[str, str],
             clashes: dict[str, str], create_key: pd.Series | None = None,
             write_backs: dict[str, object] | None = None) -> pd.DataFrame:
    """Create rows for the unmatched source records, or held rows, the first reason found: its Account
    routed to no organisation (`unrouted`), an open hold, invalid, a reference with no link, no key
    to find it again by, then a name Xero has (`clashes`). `create_key`: per source record, the value of
    `lookup_by` when no field maps it (sent on the create only); `write_backs`: Salesforce field → what of
    Xero's answer the push writes back to the source record."""
    if not len(unmatched):
        return plan.empty()
    pos = np.flatnonzero(src.id.isin(unmatched).to_numpy())
    ids, invalid = src.id.to_numpy()[pos], src.invalid_reason.to_numpy()[pos]
    cols = [fp.values_at(pos) for fp in fps]
    missing = [fp.missing_ref.to_numpy()[pos] if fp.missing_ref is not None else None for fp in fps]
    numbers = next((fp.by_number.to_numpy()[pos] for fp in fps if fp.by_number is not None), None)
    sobject = r.source.salesforce
    labels = {fp.name: fp.label for fp in fps}
    keys = create_key.to_numpy()[pos] if create_key is not None else None
    if keys is not None:
        source = r.key_rule.source
        labels[lookup_by] = words.rules.get(lookup_by, f"{words.code} key {source}→{lookup_by}: what a create is found again by")
    creates, held = [], []
    for j, sf_id in enumerate(ids):
        flat = {fp.name: _plain(cols[i][j]) for i, fp in enumerate(fps)}
        if keys is not None:
            flat[lookup_by] = _plain(keys[j])
        flat = {k: v for k, v in flat.items() if v is not None and v != "" and not (v is False and group_of(k))}
        why = unrouted.get(sf_id) or create_hold(sobject, sf_id, holds.get(sf_id), invalid[j],
                                                 next((m[j] for m in missing if m is not None and m[j]), None),
                                                 f"{lookup_by} is required to find the Xero record again; the "
                                                 f"{sobject} has none" if lookup_by not in flat else None) \
            or next((f"{f} is required by Xero and the {sobject} has none" for f in XERO_REQUIRED.get(r.to.xero, ())
                     if f not in flat), None) or clashes.get(sf_id)
        if why:
            held.append((sf_id, why))
            continue
        account = numbers[j] if numbers is not None else None
        if account:
            flat[CONTACT_BY_NUMBER] = account
            labels.setdefault(CONTACT_BY_NUMBER, f"{labels[CONTACT_REF]}: its ContactNumber until R1 writes it")
        written, calls = memberships(flat, member_of)
        diff = create_diff(diff_base, lookup_by if words.marks else None, flat, labels, xero_body(written, fps, r.to.xero))
        if calls:
            diff["groups"] = calls
        if account:
            diff["depends_on"] = {"recipe": R1, "source_id": account}
        if write_backs:
            diff["write_back"] = {"sobject": sobject, "id": sf_id, "fields": dict(sorted(write_backs.items()))}
        creates.append((sf_id, diff))
    return create_rows(words.code, "sf_to_xero", r, creates, held, f"Xero {r.to.xero}", words.create_reason)


def create_hold(label: str, record_id: str, held_by: str | None, invalid, missing: str | None,
                no_key: str | None) -> str | None:
    """Why a create is held (either direction), or None: a check holds the record, it was staged invalid,
    a reference has no link yet, or it gives no value to the key a create is found again by."""
    return (f"{label} {record_id} {held_by}" if held_by else
            f"{label} staged invalid: {invalid}" if isinstance(invalid, str) else missing or no_key)


def create_diff(diff_base: dict, key: str | None, flat: dict, labels: dict, payload: dict, link: bool = True) -> dict:
    """A create row's diff (either direction): every field new, the key it is looked up by (`key`; None:
    the row does not say, its recipe's push knows it), and whether the push records its link."""
    return {**diff_base, "match": None, **({"link": True} if link else {}), **({"lookup_by": key} if key else {}),
            "fields": {k: {"old": None, "new": v, "rule": labels[k]} for k, v in sorted(flat.items())},
            "payload": payload}


def create_rows(name: str, direction: str, r: DeclaredRecipe, creates: list[tuple[str, dict]],
                held: list[tuple[str, str]], target: str, reason: str | list[str] | None = None,
                held_diffs: list[dict | None] | None = None) -> pd.DataFrame:
    """The create rows and the held ones of a declared recipe's unmatched records (`reason`: the create
    rows', one or one each, else one naming the match rules; `held_diffs`: the held rows', else none)."""
    return plan.concat([
        plan.rows(name, direction, "create", [c[0] for c in creates], None, [c[1] for c in creates],
                  reason or f"no {target} record matches ({', '.join(_rule_name(m) for m in r.match)})"),
        plan.rows(name, direction, "held", [h[0] for h in held], None, held_diffs, [h[1] for h in held])])


def _rule_name(m) -> str:
    return "link" if m.kind == "link" else f"{m.target} = {m.source}" if m.kind == "key" else f"{m.kind} {m.target}"


def declared_tables(r: DeclaredRecipe) -> list[str]:
    """The staged tables a declared recipe reads (its plan asset's deps)."""
    objects = [r.source.salesforce or r.to.salesforce or ""]
    objects += [s.lookup.split(".")[0] for s in r.fields.values() if s.lookup]
    objects += [c.field.split(".")[0] for s in r.fields.values() if s.where for c in parse_where(s.where) if "." in c.field]
    objects += [c.field.split(".")[0] for c in r.source.conditions if "." in c.field and r.source.salesforce]
    for spec in r.lines.values():
        objects += [spec.source] + [f.split(".")[0] for f in spec.reads() if "." in f]
    xero = (r.source.xero or r.to.xero or "")
    return [*dict.fromkeys(sf_table(o) for o in objects), _xero_table(xero)]


def declared_enabled(cfg: SfxeroConfig) -> list[str]:
    return [n for n, r in cfg.recipes.declared.items() if r.enabled]


def planned_items(conn: sa.Connection, cfg: SfxeroConfig) -> dict[str, dict]:
    """Xero Items the enabled declared recipes will create in the next push, by Code, as
    `invoices.read_items` gives staged ones: so an invoice line naming a product first sold today is
    planned (R8 writes the Item before the invoice in the same push) instead of held."""
    out: dict[str, dict] = {}
    for name in declared_enabled(cfg):
        r = cfg.recipes.declared[name]
        if r.to.xero != "Items":
            continue
        rows = plan_declared(conn, cfg, name).rows
        for d in rows["diff"][rows.action.isin(["create"]).to_numpy()]:
            payload = json.loads(d)["payload"]
            sales = payload.get("SalesDetails") or {}
            if payload.get("Code"):
                out[payload["Code"]] = {"account": sales.get("AccountCode"), "tax": sales.get("TaxType")}
    return out
