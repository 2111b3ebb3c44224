"""Stage a page of JSON records with set-based SQL: the database types and upserts every record.

Typing a page in Python and binding it row by row cost more than fetching it (all of it holding the
interpreter lock, so the prefetch thread could not hide it). Here the page's JSON array text goes to
the database as one parameter and set-based SQL does the per-record work in C, off the lock:
- PostgreSQL: one statement per page (`json_array_elements` + `json_to_record` into a materialized
  CTE, the upsert as a data-modifying CTE, counts and left-over records as its result);
- SQLite (no data-modifying CTEs): `json_each`/`json_extract` type the page into an in-memory
  scratch table, one aggregate reads the counts, one INSERT ... SELECT upserts every plain record.

Contract (`JsonPageLoader.load`, inside the caller's transaction):
- A record is loaded in SQL only when the SQL typing provably equals `RowBuilder.build` on it: a JSON
  object whose every typed field is null/absent or has the plain shape of its kind (a string for
  text, `true`/`false` for booleans, a JSON integer for integers, a number for float/money,
  `YYYY-MM-DD` for dates, Salesforce's `YYYY-MM-DDTHH:MM:SS.fff+0000` (or `Z`) for datetimes), with
  its required fields (id, modified timestamp) present. Stored values are then what `Upserter` stores
  for the same record: SQLite datetimes as `YYYY-MM-DD HH:MM:SS.ffffff`, dates as `YYYY-MM-DD`,
  booleans 0/1, floats as the same IEEE doubles; `raw` is the record's JSON text (same value, same
  key order; only the spacing differs from `json.dumps`), `invalid_reason` NULL.
- Every other record (a malformed or missing value, a missing id, an unexpected JSON type) is not
  written by SQL: it comes back in `PageLoad.leftovers` (ordinal, JSON text) and the caller types it
  with `RowBuilder` and upserts it in the same transaction, so it is staged with its flag and reason
  exactly as the Python path would, and never fails the page.
- A page the SQL cannot take whole — a nested object or array anywhere (the text of a nested value
  would differ from `json.dumps`), or an id repeated within the page (the Python path keeps the last
  copy) — writes nothing and returns None: the caller stages it through the Python path. On
  PostgreSQL a value that passes the shape check but not the cast (e.g. 2026-02-30) raises
  `sqlalchemy.exc.DataError`; the caller rolls back and does the same.
- The upsert has the same modified-timestamp guard as `Upserter`: an older copy never overwrites a
  newer one. Counts and the cursor candidate (the page's last record in source order) are returned
  for the records SQL loaded, so the writer reports exactly what `write_page` reports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass

import sqlalchemy as sa

from ..staging.schema import SYSTEM_COLUMNS
from ..staging.tables import _sqlite_datetime
from .rows import RowBuilder

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A member whose value is an object or array. Also matches such text inside a string value (then the
# page merely takes the Python path): cheap, and never misses a real nested value.
_NESTED = re.compile(r'":\s*[\[{]')
_KINDS = frozenset({"text", "bool", "int", "float", "money", "date", "datetime"})
# SQLite 3.40 re-parses a record for every `->` call site; one multi-path json_extract per group
# parses it once into a small array of the group's values, which the per-field calls then read.
_GROUP = 8

_SQLITE_DATE = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
_SQLITE_DATETIMES = (f'"{_SQLITE_DATE}T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]+0000"',
                     f'"{_SQLITE_DATE}T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z"')
_PG_DATE = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_PG_DATETIME = rf"^{_PG_DATE}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{{3}}(\+0000|Z)$"


@dataclass
class PageLoad:
    """What one page's SQL load saw: counts over the records it loaded, plus the ones it left."""

    rows: int
    deleted: int
    last: tuple[int, str, dt.datetime | None] | None  # (ordinal, id, modified) of the last loaded record
    max_modified: dt.datetime | None
    leftovers: list[tuple[int, str]]  # (ordinal, record JSON) for the Python path


def _aware(value) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands stored datetimes back as text
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _sqlite_real_date(d: str) -> str:
    # SQLite's date() passes 2026-02-30 through; the julian day round trip does not. Python has no year 0.
    return f"{d} >= '0001' AND date(julianday({d})) = {d}"


class JsonPageLoader:
    """The SQL load of one staging table for one `RowBuilder`; build with `create`."""

    def __init__(self, dialect: str, table: sa.Table, builder: RowBuilder, deleted_field: str) -> None:
        self.dialect = dialect
        self.table = table
        # Later specs win for a column, as in RowBuilder.build.
        self.specs = {s.column: s for s in builder.fields}
        self.sources = list(dict.fromkeys([*(s.source for s in builder.fields), builder.id_field,
                                           builder.modified_field, deleted_field]))
        self.kinds = {s.source: s.kind for s in builder.fields}
        self.required = {s.source for s in builder.fields if s.required} | {builder.id_field, builder.modified_field}
        self.id_field, self.modified_field, self.deleted_field = builder.id_field, builder.modified_field, deleted_field
        digest = hashlib.sha256(repr([table.name, [c.name for c in table.columns], self.sources]).encode()).hexdigest()
        self._scratch = f"sfxero_page_{digest[:16]}"
        self._sql = self._sqlite_statements() if dialect == "sqlite" else self._pg_statement()

    @classmethod
    def create(cls, dialect: str, table: sa.Table, builder: RowBuilder, *, deleted_field: str) -> JsonPageLoader | None:
        """A loader, or None when these fields cannot be typed in SQL (nested paths, enum rules,
        kinds without a SQL typing, a datetime modified field) or the backend is neither SQLite
        nor PostgreSQL: the writer then keeps the Python path."""
        if dialect not in ("sqlite", "postgresql"):
            return None
        if any(s.kind not in _KINDS or s.allowed is not None or not _IDENT.match(s.source) for s in builder.fields):
            return None
        kinds = {s.source: s.kind for s in builder.fields}
        if kinds.get(builder.modified_field) != "datetime" or kinds.get(builder.id_field, "text") != "text":
            return None
        if not all(_IDENT.match(f) for f in (builder.id_field, builder.modified_field, deleted_field)):
            return None
        return cls(dialect, table, builder, deleted_field)

    # -- SQLite ----------------------------------------------------------------------------------------
    def _sqlite_field(self, source: str, x: str) -> tuple[str, str]:
        """(typed value, plain-shape check) for one field; `x` is its JSON text (`->`), or for text
        fields its SQL value (`->>`)."""
        kind = self.kinds.get(source, "text")
        empty = f"{x} IS NULL OR {x} IN ('null', '\"\"')"
        if kind == "text":
            if source in self.required:  # guarded: the id feeds the repeated-id check for every record
                ok = f"typeof({x}) = 'text' AND {x} <> ''"
                return f"CASE WHEN {ok} THEN {x} END", ok
            return f"NULLIF({x}, '')", f"typeof({x}) IN ('text', 'null')"
        if kind == "bool":
            value, ok = f"{x} = 'true'", f"{x} IN ('true', 'false')"
        elif kind == "int":
            # Exactly a JSON integer within 64 bits ('12.0', '-0', overflow take the Python path).
            value, ok = f"CAST({x} AS INTEGER)", f"CAST(CAST({x} AS INTEGER) AS TEXT) = {x}"
        elif kind in ("float", "money"):
            value, ok = f"CAST({x} AS REAL)", f"{x} GLOB '[0-9-]*'"
        elif kind == "date":
            d = f"substr({x}, 2, 10)"
            value = d
            ok = f"{x} GLOB '\"{_SQLITE_DATE}\"' AND {_sqlite_real_date(d)}"
        else:  # datetime: naive UTC text, exactly tables._sqlite_datetime of the parsed value
            d, t = f"substr({x}, 2, 10)", f"substr({x}, 13, 8)"
            value = f"{d} || ' ' || substr({x}, 13, 12) || '000'"
            ok = (f"({x} GLOB '{_SQLITE_DATETIMES[0]}' OR {x} GLOB '{_SQLITE_DATETIMES[1]}') "
                  f"AND {_sqlite_real_date(d)} AND {t} < '24' AND time({t}) = {t}")
        if source in self.required:
            return f"CASE WHEN {ok} THEN {value} END", ok
        # Only null/"" need a guard (to NULL): a record failing `ok` is never upserted by SQL (it
        # is left over), and SQLite's functions and casts never raise, so its value does not matter.
        return f"CASE WHEN {x} NOT IN ('null', '\"\"') THEN {value} END", f"{empty} OR ({ok})"

    def _sqlite_statements(self) -> dict[str, str]:
        quote = sa.dialects.sqlite.dialect().identifier_preparer.quote
        # Innermost: one multi-path json_extract per group of fields (arrays of their values).
        n = -(-len(self.sources) // _GROUP)
        groups = [self.sources[i::n] for i in range(n)]  # balanced: a multi-path group returns an array
        extracts = []
        for g, group in enumerate(groups):
            paths = ", ".join(f"'$.{s}'" for s in group)
            extracts.append(f"json_extract(value, {paths}) AS g{g}")
        inner = f"SELECT key AS ord, type AS jt, value AS j, {', '.join(extracts)} FROM json_each(?) LIMIT -1 OFFSET 0"
        fields = []
        for g, group in enumerate(groups):
            for k, s in enumerate(group):
                op = "->>" if self.kinds.get(s, "text") == "text" else "->"
                fields.append(f"g{g} {op} '$[{k}]' AS f{len(fields)}")
        # Middle: one value per field; the OFFSET keeps both subqueries as co-routines (not flattened
        # into the outer expressions, which would evaluate each extraction once per reference).
        middle = f"SELECT ord, jt, j, {', '.join(fields)} FROM ({inner}) LIMIT -1 OFFSET 0"
        col = {s: f"f{i}" for i, s in enumerate(s for group in groups for s in group)}
        typed, checks = {}, ["jt = 'object'"]
        for s in self.sources:
            value, ok = self._sqlite_field(s, col[s])
            typed[s] = value
            checks.append(f"({ok})")
        deleted = col[self.deleted_field]
        op_text = self.kinds.get(self.deleted_field, "text") == "text"
        is_deleted = f"COALESCE({deleted} = 'true', 0)" if op_text else f"COALESCE({deleted} IN ('true', '\"true\"'), 0)"
        values = {"id": typed[self.id_field], "modified_at": typed[self.modified_field], "is_deleted": is_deleted,
                  "extracted_at": "?", "invalid_reason": "NULL", "raw": "j"}
        for column in self.table.columns:
            if column.name not in SYSTEM_COLUMNS:
                spec = self.specs.get(column.name)
                values[column.name] = typed[spec.source] if spec else "NULL"
        names = [c.name for c in self.table.columns]
        scratch = quote(self._scratch)
        scratch_cols = ", ".join(["ord INTEGER", "clean INTEGER", *(f"{quote(n)}" for n in names)])
        # A check that meets NULL yields NULL: COALESCE so such a record is left over, not lost.
        select = ", ".join(["ord", f"COALESCE({' AND '.join(checks)}, 0)", *(values[n] for n in names)])
        cols = ", ".join(quote(n) for n in names)
        name = quote(self.table.name)
        updates = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in names if n != "id")
        guard = (f"{name}.modified_at IS NULL OR excluded.modified_at IS NULL "
                 f"OR excluded.modified_at >= {name}.modified_at")
        return {
            "create": f"CREATE TEMP TABLE IF NOT EXISTS {scratch} ({scratch_cols})",
            "fill": f"INSERT INTO temp.{scratch} (ord, clean, {cols}) SELECT {select} FROM ({middle})",
            # `id` is NULL where the record has no plain string id: those are typed by Python.
            "stats": (f"SELECT count(*), sum(clean), count(id) = count(DISTINCT id), "
                      f"sum(clean AND is_deleted), max(CASE WHEN clean THEN modified_at END) FROM temp.{scratch}"),
            "last": f"SELECT ord, id, modified_at FROM temp.{scratch} WHERE clean ORDER BY ord DESC LIMIT 1",
            "leftovers": f"SELECT ord, raw FROM temp.{scratch} WHERE NOT clean ORDER BY ord",
            # The upsert-from-SELECT needs a WHERE (here `clean`; `WHERE true` otherwise): without one
            # SQLite parses `ON CONFLICT` as a join constraint of the SELECT.
            "upsert": (f"INSERT INTO {name} ({cols}) SELECT {cols} FROM temp.{scratch} WHERE clean "
                       f"ON CONFLICT (id) DO UPDATE SET {updates} WHERE {guard}"),
            "clear": f"DELETE FROM temp.{scratch}",
        }

    def _load_sqlite(self, conn: sa.Connection, records_json: str, extracted_at: dt.datetime) -> PageLoad | None:
        sql = self._sql
        # The scratch table holds a page (megabytes): keep temp tables in memory, not in a temp file
        # (which cost more than the upsert itself). Set once per connection, before any temp table.
        if conn.exec_driver_sql("PRAGMA temp_store").scalar() != 2:
            conn.exec_driver_sql("PRAGMA temp_store = MEMORY")
        conn.exec_driver_sql(sql["create"])
        conn.exec_driver_sql(sql["clear"])
        conn.exec_driver_sql(sql["fill"], (_sqlite_datetime(extracted_at), records_json))
        try:
            total, clean, unique_ids, deleted, max_modified = conn.exec_driver_sql(sql["stats"]).one()
            if not unique_ids:
                return None
            clean = clean or 0
            leftovers = [] if clean == total else [tuple(r) for r in conn.exec_driver_sql(sql["leftovers"])]
            if clean:
                conn.exec_driver_sql(sql["upsert"])
            last = conn.exec_driver_sql(sql["last"]).first()
        finally:
            conn.exec_driver_sql(sql["clear"])
        return PageLoad(rows=clean, deleted=deleted or 0,
                        last=(last[0], last[1], _aware(last[2])) if last else None,
                        max_modified=_aware(max_modified), leftovers=leftovers)


    # -- PostgreSQL ------------------------------------------------------------------------------------
    def _pg_field(self, source: str, f: str) -> tuple[str, str]:
        """(typed value, plain-shape check) for one field; `f` is its jsonb value (NULL if absent)."""
        kind = self.kinds.get(source, "text")
        t, s = f"jsonb_typeof({f})", f"({f} #>> '{{}}')"
        if kind == "text":
            value, ok = f"NULLIF({s}, '')", f"{t} = 'string'"
            if source in self.required:
                return f"CASE WHEN {ok} THEN {value} END", f"{ok} AND {s} <> ''"
        elif kind == "bool":
            value, ok = f"({s})::boolean", f"{t} = 'boolean'"
        elif kind == "int":
            value, ok = f"({s})::bigint", f"{t} = 'number' AND {s} ~ '^-?[1-9][0-9]{{0,17}}$|^0$'"
        elif kind in ("float", "money"):
            # Through float8 as the Python path's float does, then the column's own assignment cast.
            value, ok = f"({s})::float8", f"{t} = 'number'"
        elif kind == "date":
            value, ok = f"({s})::date", f"{t} = 'string' AND {s} ~ '^{_PG_DATE}$' AND {s} >= '0001'"
        else:
            value, ok = f"({s})::timestamptz", f"{t} = 'string' AND {s} ~ '{_PG_DATETIME}' AND {s} >= '0001'"
        value = f"CASE WHEN {ok} THEN {value} END"
        if source in self.required:
            return value, ok
        empty = f"{f} IS NULL OR {t} = 'null' OR {f} = '\"\"'::jsonb"
        return value, f"{empty} OR ({ok})"

    def _pg_statement(self) -> str:
        quote = sa.dialects.postgresql.dialect().identifier_preparer.quote
        col = {s: f"f{i}" for i, s in enumerate(self.sources)}
        typed, checks = {}, ["is_object"]
        for s in self.sources:
            value, ok = self._pg_field(s, col[s])
            typed[s] = value
            checks.append(f"({ok})")
        deleted = f"{col[self.deleted_field]} IN ('true'::jsonb, '\"true\"'::jsonb)"
        values = {"id": typed[self.id_field], "modified_at": typed[self.modified_field],
                  "is_deleted": f"COALESCE({deleted}, false)", "extracted_at": "%(extracted_at)s",
                  "invalid_reason": "NULL::text", "raw": "r"}
        for column in self.table.columns:
            if column.name not in SYSTEM_COLUMNS:
                spec = self.specs.get(column.name)
                values[column.name] = typed[spec.source] if spec else "NULL"
        names = [c.name for c in self.table.columns]
        cols = ", ".join(quote(n) for n in names)
        src_cols = ", ".join(f"{values[n]} AS {quote(n)}" for n in names)
        name = quote(self.table.name)
        updates = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in names if n != "id")
        guard = (f"{name}.modified_at IS NULL OR excluded.modified_at IS NULL "
                 f"OR excluded.modified_at >= {name}.modified_at")
        # Each record's fields are taken once, as jsonb values, by json_to_record (absent -> NULL);
        # OFFSET 0 keeps that subquery from being inlined into every expression that reads a field.
        fields = ", ".join(f"{quote(s)} jsonb" for s in self.sources)
        extract = ", ".join(f"x.{quote(s)} AS {col[s]}" for s in self.sources)
        inner = (f"SELECT e.ord, e.r, json_typeof(e.r) = 'object' AS is_object, {extract} "
                 f"FROM json_array_elements(%(page)s::json) WITH ORDINALITY AS e(r, ord) "
                 f"LEFT JOIN LATERAL json_to_record(CASE WHEN json_typeof(e.r) = 'object' THEN e.r END) "
                 f"AS x({fields}) ON true OFFSET 0")
        # One statement: the page is parsed once (MATERIALIZED), the upsert runs only when no id
        # repeats (PostgreSQL refuses to touch a row twice in one statement; the Python path keeps
        # the last copy), and the counts, the last record and the left-over records come back.
        return (
            f"WITH src AS MATERIALIZED ("
            f"SELECT ord, COALESCE({' AND '.join(checks)}, false) AS clean, {src_cols} FROM ({inner}) i), "
            f"page AS MATERIALIZED (SELECT count(id) = count(DISTINCT id) AS unique_ids FROM src), "
            f"ins AS (INSERT INTO {name} ({cols}) SELECT {cols} FROM src WHERE clean AND (SELECT unique_ids FROM page) "
            f"ON CONFLICT (id) DO UPDATE SET {updates} WHERE {guard}) "
            f"SELECT (SELECT unique_ids FROM page), count(*) FILTER (WHERE clean), "
            f"count(*) FILTER (WHERE clean AND is_deleted), max(modified_at) FILTER (WHERE clean), "
            f"(SELECT json_build_array(ord, id, modified_at) FROM src WHERE clean ORDER BY ord DESC LIMIT 1), "
            f"(SELECT json_agg(json_build_array(ord, raw::text) ORDER BY ord) FROM src WHERE NOT clean) FROM src"
        )

    def _load_pg(self, conn: sa.Connection, records_json: str, extracted_at: dt.datetime) -> PageLoad | None:
        unique, clean, deleted, max_modified, last, leftovers = conn.exec_driver_sql(
            self._sql, {"page": records_json, "extracted_at": extracted_at}).one()
        if not unique:
            return None
        if last is not None:
            last = (last[0], last[1], _aware(dt.datetime.fromisoformat(last[2])) if last[2] else None)
        return PageLoad(rows=clean or 0, deleted=deleted or 0, last=last, max_modified=_aware(max_modified),
                        leftovers=[(o, j) for o, j in (leftovers or [])])

    # -------------------------------------------------------------------------------------------------
    def load(self, conn: sa.Connection, records_json: str, extracted_at: dt.datetime) -> PageLoad | None:
        """Upsert the page's plain records; None (nothing written) when the page must take the
        Python path whole. See the module docstring."""
        if _NESTED.search(records_json):
            return None
        if self.dialect == "sqlite":
            return self._load_sqlite(conn, records_json, extracted_at)
        return self._load_pg(conn, records_json, extracted_at)

