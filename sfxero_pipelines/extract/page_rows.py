"""Type a whole page of records into bound rows, a column at a time, exactly as `RowBuilder` would.

`RowBuilder.build` + `Upserter.params` is the reference: a dict per record, a function call per
field, a bind processor per value. That cost more per page than fetching it, all of it holding the
interpreter lock. `PageRows.build` binds the same values for the same records, column by column: a
column whose values all have the plain type of their kind (str for text, bool for booleans, int,
float) is taken as it is with C-level `map`/`zip`/`set`; the values that need work (datetimes,
dates, "" for null, ints in a float column) go through the reference parser and bind processor
themselves, or, for Salesforce's datetime shape on SQLite, a slice that gives the same text.

Contract:
- a record whose values are not all plain — a malformed value, a missing required field or id, an
  enum value outside its set, a number out of its column's range (NaN, infinity, beyond 64 bits), a
  NUL anywhere in it (its JSON text holds the escape `\\u0000`), a delete test that raises, an
  unexpected type — is built by
  `RowBuilder.build` itself, so it is staged exactly as the reference stages it (its flag and
  `invalid_reason` included; a record is never dropped, an error the reference raises is raised),
  and bound with its reference `raw` when that differs from the record (NULs removed, the original
  kept, see `rows`);
- every other record is bound exactly as `Upserter.params(RowBuilder.build(record))` binds it,
  column for column, except `raw`: the record's own JSON text when the caller has it (`raws`), else
  the record serialized by `json_records.dumps` (the same JSON value SQLAlchemy's JSON type binds,
  but NaN and Infinity as null, which both backends' JSON reads), as text;
- on SQLite, a column null in every row of the page is left out of its rows (`BuiltPage.columns`):
  the INSERT leaves it null just the same;
- one row per id, as `StagingWriter.write_page` always did: the last copy's values at the first
  copy's position. Counts (deleted, invalid) and the modified timestamps are over those rows.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import contains, itemgetter

import sqlalchemy as sa

from ..staging.schema import SYSTEM_COLUMNS
from ..staging.tables import _fast_processor
from ..clients import json_records
from .rows import INT64_MAX, INT64_MIN, PARSERS, BadValue, FieldSpec, RowBuilder

_NONE = type(None)
_DATETIME_KINDS = ("datetime", "msdatetime")
# Salesforce's datetime shape: for it (once fromisoformat accepts it) the parsed value is aware and
# tables._sqlite_datetime of it is this slice of the text, "YYYY-MM-DD HH:MM:SS.fff000".
_SF_SHAPE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}(?:\+0000|Z)"
_SF_DATETIME = re.compile(_SF_SHAPE)
_SF_DATETIMES = re.compile(rf"(?:{_SF_SHAPE}\n)*{_SF_SHAPE}")  # a column's values joined by newlines
_CACHE_LIMIT = 50_000  # distinct dates remembered per column
_NUL_ESCAPE = "\\u0000"  # how JSON writes NUL; a record's text holds it if the record holds one


@dataclass
class BuiltPage:
    """One page's rows ready to bind, and what the writer reports about them."""

    params: list[tuple]  # bound values, one tuple per row, of `columns`
    columns: tuple[str, ...]  # table columns in table order; on SQLite, less those null in every row
    ids: list[str]
    modified: list[dt.datetime | None]  # aware modified timestamps, per row
    deleted: int = 0
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (id, reason), in row order
    cleaned: list[tuple[str, list[str]]] = field(default_factory=list)  # (id, fields whose NULs were removed)
    held: list[tuple[str, str]] = field(default_factory=list)  # (id, reason): refused outright, not staged (writer)

    def __len__(self) -> int:
        return len(self.params)


def _in_int64(col) -> bool:
    """Whether a column of ints (and nulls) fits a BigInteger column; else the reference flags the
    ones that do not."""
    values = [v for v in col if v is not None] if None in col else col
    return not values or (INT64_MIN <= min(values) and max(values) <= INT64_MAX)


def _bools(col, proc) -> list:
    """Bound values of booleans (and nulls): the processor is a function of the value, so it is
    called once for each of True and False."""
    if proc is None:
        return list(col)
    true, false = proc(True), proc(False)
    return [true if v is True else false if v is False else None for v in col]


class _Column:
    """One typed column: its spec, bind processor, and a cache of converted values."""

    def __init__(self, name: str, spec: FieldSpec, processor) -> None:
        self.name, self.spec, self.kind, self.processor = name, spec, spec.kind, processor
        self.parse = PARSERS[spec.kind]
        self.path = spec.source.split(".") if "." in spec.source else None
        self.cache: dict = {} if spec.kind in ("date", "msdate") else None


class PageRows:
    """The column pass for one staging table, one `RowBuilder` and one SQL dialect."""

    def __init__(self, builder: RowBuilder, table: sa.Table, dialect: sa.Dialect) -> None:
        self.builder = builder
        self.sqlite = dialect.name == "sqlite"
        self.names = [c.name for c in table.columns]

        def processor(column: sa.Column):
            if isinstance(column.type, sa.JSON):
                return None  # raw is bound as text (see serialize)
            return _fast_processor(column.type, dialect) or column.type.dialect_impl(dialect).bind_processor(dialect)

        self.processors = {c.name: processor(c) for c in table.columns}
        # orjson (json_records.dumps), not the dialect's json.dumps: that writes NaN and Infinity
        # (which json.loads reads) as tokens PostgreSQL's json refuses; orjson writes null.
        self.serialize = json_records.dumps
        specs = {s.column: s for s in builder.fields}  # later specs win for a column, as in build()
        self.columns = [_Column(c.name, specs[c.name], self.processors[c.name])
                        for c in table.columns if c.name not in SYSTEM_COLUMNS and c.name in specs]
        # The top-level keys read from every record: the specs' sources (the first part of a
        # nested one), the id and the modified field.
        self.keys = list(dict.fromkeys([*(c.spec.source.split(".")[0] for c in self.columns),
                                        builder.id_field, builder.modified_field]))
        self._get = itemgetter(*self.keys) if len(self.keys) > 1 else None
        # modified_at is bound from the modified field's own column when that column is a
        # DateTime(timezone=True) parsed by the same parser: same value, same processor.
        self._modified_column = next((c.name for c in self.columns if c.spec.source == builder.modified_field
                                      and "." not in c.spec.source and c.kind in _DATETIME_KINDS
                                      and c.parse is builder._modified_parser
                                      and c.processor is self.processors["modified_at"]), None)

    # ------------------------------------------------------------------------------------------------
    def build(self, records: list, extracted_at: dt.datetime, raws: list[str] | None = None) -> BuiltPage:
        n = len(records)
        if raws is None or len(raws) != n:
            raws = None
        if not n or not all(r.__class__ is dict for r in records):
            # Not a page of objects (or empty): the reference for each record, and its errors.
            return self._reference(records, extracted_at, raws)
        values = self._values(records)
        slow: set[int] = set()  # records the reference builds
        bound: dict[str, list] = {}
        stamps: dict[str, list] = {}  # aware datetimes of datetime columns
        for column in self.columns:
            col = values[column.spec.source] if column.path is None else self._nested(values, column.path)
            bound[column.name] = self._typed(column, col, slow, stamps)

        ids = values[self.builder.id_field]
        if not (set(map(type, ids)) == {str} and all(ids)):
            slow.update(i for i, v in enumerate(ids) if v.__class__ is not str or not v)
        modified, bound_modified = self._modified(values[self.builder.modified_field], bound, stamps, slow)
        flags, bound_flags = self._deleted(records, slow)
        stamp = self.processors["extracted_at"]
        stamp = stamp(extracted_at) if stamp else extracted_at
        if raws is None:
            serialize = self.serialize
            raws = [serialize(r) for r in records]
        # A record with a NUL is the reference's (see rows). Looking for a backslash first: one
        # character is found many times faster than the escape, and most records have no escape.
        if any(map(contains, raws, repeat("\\"))):
            slow.update(i for i in compress(range(n), map(contains, raws, repeat("\\"))) if _NUL_ESCAPE in raws[i])
        system = {"id": ids, "modified_at": bound_modified, "is_deleted": bound_flags, "extracted_at": [stamp] * n,
                  "invalid_reason": [None] * n, "raw": raws}
        bound.update(system)
        for name, value in self.builder.constants.items():
            processor = self.processors.get(name)
            bound[name] = [processor(value) if processor else value] * n
        nulls = [None] * n  # a column the specs no longer have (kept, null from now on)
        columns = [bound.get(name, nulls) for name in self.names]
        ids = list(ids)
        reasons: dict[int, str] = {}
        cleaned: dict[int, list[str]] = {}
        reference: dict[int, tuple] = {}
        for i in sorted(slow):
            row = self.builder.build(records[i], extracted_at)
            reference[i] = self._bind(row, raws[i] if row["raw"] is records[i] else self.serialize(row["raw"]))
            ids[i], modified[i], flags[i] = row["id"], row["modified_at"], row["is_deleted"]
            if row["invalid_reason"]:
                reasons[i] = row["invalid_reason"]
            if row["cleaned_fields"]:
                cleaned[i] = row["cleaned_fields"]
        kept = self._kept(columns, reference.values())
        params = list(zip(*[columns[j] for j in kept]))
        for i, values in reference.items():
            params[i] = values if len(kept) == len(values) else tuple(values[j] for j in kept)
        return self._page(params, tuple(self.names[j] for j in kept), ids, modified, flags, reasons, cleaned)

    def _kept(self, columns: list, reference: Iterable[tuple]) -> list[int]:
        """The columns a page binds. On SQLite, not those null in every row: sqlite3 looks for an
        adapter for each None it binds (0.3 us each; a Salesforce page has ~20,000 of them, a third of
        its insert), and a column left out of the INSERT is null all the same. PostgreSQL copies
        every column (a null costs nothing there)."""
        every = range(len(columns))
        if not self.sqlite:
            return list(every)
        reference = list(reference)
        return [j for j in every
                if not (columns[j][0] is None and columns[j][-1] is None and columns[j].count(None) == len(columns[j]))
                or any(row[j] is not None for row in reference)]

    # ------------------------------------------------------------------------------------------------
    def _values(self, records: list[dict]) -> dict[str, tuple]:
        """Each top-level key's values over the page (None where absent)."""
        keys = self.keys
        if self._get is None:
            return {keys[0]: tuple(r.get(keys[0]) for r in records)}
        try:
            rows = list(map(self._get, records))  # a REST page carries every selected field, null or not
        except KeyError:
            rows = [tuple(map(r.get, keys)) for r in records]
        return dict(zip(keys, zip(*rows)))

    @staticmethod
    def _nested(values: dict, path: list[str]) -> list:
        """rows._nested over the page: None unless every step is a dict."""
        out = values[path[0]]
        for part in path[1:]:
            out = [v.get(part) if isinstance(v, dict) else None for v in out]
        return list(out)

    def _typed(self, column: _Column, col, slow: set[int], stamps: dict[str, list]) -> list:
        """Bound values of one column; adds to `slow` the records the reference must build."""
        kind, proc = column.kind, column.processor
        types = set(map(type, col))
        if kind == "text" and types <= {str, _NONE}:
            out = [v or None for v in col] if "" in col else list(col)
        elif kind == "bool" and types <= {bool, _NONE}:
            out = _bools(col, proc)
        elif kind == "int" and types <= {int, _NONE} and _in_int64(col):
            out = list(col) if proc is None else [None if v is None else proc(v) for v in col]
        elif kind in ("float", "money") and types <= {float, _NONE} and math.isfinite(sum(filter(None, col))):
            # A NaN or infinity makes the sum so (as would finite values near the float limit;
            # the reference then finds them fine): those records are the reference's.
            out = list(col) if proc is None else [None if v is None else proc(v) for v in col]
        elif kind == "datetime" and types <= {str, _NONE} and (plain := self._plain_datetimes(column, col)):
            out, stamps[column.name] = plain
        elif kind in _DATETIME_KINDS:
            out, stamps[column.name] = self._datetimes(column, col, slow)
        else:
            out = self._per_value(column, col, slow)
        spec = column.spec
        if spec.required and None in out:
            slow.update(i for i, v in enumerate(out) if v is None)
        if spec.allowed is not None:
            try:
                extra = set(col) - spec.allowed - {None, ""}
            except TypeError:  # an unhashable value: the reference decides
                slow.update(i for i, v in enumerate(col) if v is not None and v != "")
            else:
                if extra:
                    slow.update(i for i, v in enumerate(col) if v in extra)
        return out

    @staticmethod
    def _per_value(column: _Column, col, slow: set[int]) -> list:
        """The reference parser and processor on each value; a BadValue makes the record slow.
        Dates are cached: a page repeats few distinct ones."""
        parse, proc, cache = column.parse, column.processor, column.cache
        if cache is not None and len(cache) > _CACHE_LIMIT:
            cache.clear()
        out = []
        append = out.append
        for i, v in enumerate(col):
            if v is None or v == "":
                append(None)
                continue
            if cache is not None and v.__class__ is str:
                b = cache.get(v, cache)
                if b is not cache:
                    append(b)
                    continue
            try:
                p = parse(v)
            except BadValue:
                slow.add(i)
                append(None)
                continue
            b = p if proc is None else proc(p)
            if cache is not None and v.__class__ is str:
                cache[v] = b
            append(b)
        return out

    def _plain_datetimes(self, column: _Column, col) -> tuple[list, list] | None:
        """(bound values, aware datetimes) of a column of Salesforce-shaped datetimes (or nulls), in
        one pass each; None when any value is of another shape or fromisoformat refuses it."""
        values = [v for v in col if v is not None] if None in col else col
        if not values or _SF_DATETIMES.fullmatch("\n".join(values)) is None:
            return None
        try:
            parsed = list(map(dt.datetime.fromisoformat, values))  # aware: +0000 or Z
        except ValueError:
            return None
        if self.sqlite:
            bound = [f"{v[:10]} {v[11:23]}000" for v in values]
        else:
            proc = column.processor
            bound = parsed if proc is None else [proc(d) for d in parsed]
        if values is col:
            return bound, parsed
        bound_it, parsed_it = iter(bound), iter(parsed)
        return ([None if v is None else next(bound_it) for v in col],
                [None if v is None else next(parsed_it) for v in col])

    def _datetimes(self, column: _Column, col, slow: set[int]) -> tuple[list, list]:
        """(bound values, aware datetimes) of a datetime column."""
        parse, proc = column.parse, column.processor
        fromiso = dt.datetime.fromisoformat
        shape = _SF_DATETIME.fullmatch if self.sqlite and column.kind == "datetime" else None
        out, dts = [], []
        for i, v in enumerate(col):
            if v is None or v == "":
                out.append(None)
                dts.append(None)
                continue
            try:
                if shape is not None and v.__class__ is str and shape(v):
                    d = fromiso(v)  # validates the date and time; aware (+0000 or Z)
                    out.append(f"{v[:10]} {v[11:23]}000")
                    dts.append(d)
                    continue
                d = parse(v)
            except (BadValue, ValueError, OverflowError, OSError):  # the reference flags or raises
                slow.add(i)
                out.append(None)
                dts.append(None)
                continue
            out.append(d if proc is None else proc(d))
            dts.append(d)
        return out, dts

    def _modified(self, col, bound: dict, stamps: dict, slow: set[int]) -> tuple[list, list]:
        """modified_at per record, as RowBuilder.build: `parser(v) if v else None`, a BadValue
        giving None. Returns (aware datetimes, bound values)."""
        name = self._modified_column
        if name is not None:
            # For a record not made slow, its value is None, "" or parsed by the same parser.
            return list(stamps[name]), bound[name]
        parse, proc = self.builder._modified_parser, self.processors["modified_at"]
        dts = []
        for i, v in enumerate(col):
            if not v:
                dts.append(None)
                continue
            try:
                dts.append(parse(v))
            except BadValue:
                dts.append(None)
            except Exception:  # the reference raises: let it
                slow.add(i)
                dts.append(None)
        return dts, [None if d is None else (proc(d) if proc else d) for d in dts]

    def _deleted(self, records: list[dict], slow: set[int]) -> tuple[list[bool], list]:
        is_deleted, proc = self.builder.is_deleted, self.processors["is_deleted"]
        try:
            flags = [bool(is_deleted(r)) for r in records]
        except Exception:  # the reference flags such a record: find it
            flags = []
            for i, r in enumerate(records):
                try:
                    flags.append(bool(is_deleted(r)))
                except Exception:
                    slow.add(i)
                    flags.append(False)
        return flags, _bools(flags, proc)

    def _bind(self, row: dict, raw: str) -> tuple:
        """A reference row's bound values (as Upserter.params), raw as text."""
        processors = self.processors
        out = []
        for name in self.names:
            if name == "raw":
                out.append(raw)
                continue
            v = row.get(name)
            p = processors[name]
            out.append(None if v is None else (p(v) if p else v))
        return tuple(out)

    def _reference(self, records: list, extracted_at: dt.datetime, raws: list[str] | None) -> BuiltPage:
        rows = [self.builder.build(r, extracted_at) for r in records]
        if raws is None:
            raws = [self.serialize(r) for r in records]
        raws = [raw if row["raw"] is record else self.serialize(row["raw"]) for row, raw, record in zip(rows, raws, records)]
        return self._page([self._bind(row, raw) for row, raw in zip(rows, raws)], tuple(self.names), [r["id"] for r in rows],
                          [r["modified_at"] for r in rows], [r["is_deleted"] for r in rows],
                          {i: r["invalid_reason"] for i, r in enumerate(rows) if r["invalid_reason"]},
                          {i: r["cleaned_fields"] for i, r in enumerate(rows) if r["cleaned_fields"]})

    @staticmethod
    def _page(params: list, columns: tuple[str, ...], ids: list, modified: list, flags: list,
              reasons: dict[int, str], cleaned: dict[int, list[str]]) -> BuiltPage:
        if len(set(ids)) != len(ids):
            # One row per id (PostgreSQL refuses to upsert a row twice in one statement): the last
            # copy's values at the first copy's position.
            last: dict[str, int] = {}
            for i, record_id in enumerate(ids):
                last[record_id] = i
            keep = list(last.values())
            params, ids = [params[i] for i in keep], [ids[i] for i in keep]
            modified, flags = [modified[i] for i in keep], [flags[i] for i in keep]
            reasons = {j: reasons[i] for j, i in enumerate(keep) if i in reasons}
            cleaned = {j: cleaned[i] for j, i in enumerate(keep) if i in cleaned}
        return BuiltPage(params, columns, ids, modified, deleted=sum(1 for f in flags if f),
                         invalid=[(ids[i], reasons[i]) for i in sorted(reasons)],
                         cleaned=[(ids[i], cleaned[i]) for i in sorted(cleaned)])
