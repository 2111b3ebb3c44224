"""Turn source records into staging rows: typed columns, system columns, and a reason when malformed.

A record that cannot be typed (a missing required field, an unknown enum value such as a new Xero
status, an unparseable date, a number no column can hold: NaN, infinity, an integer beyond 64 bits)
is still staged: the bad column is null, the raw record is kept whole, and `invalid_reason` says
what was wrong. One odd value never fails a page.

NUL (U+0000) is legal in both APIs' strings, but PostgreSQL stores it in neither text nor json
(nor jsonb). A record holding one (in any string, keys included) is staged on both backends with
every NUL removed, in its typed columns and in `raw`, and is not flagged invalid: nothing else in it
is wrong, and a held Account would hold its Contacts and deals with it. Nothing is lost: its `raw`
gets one more key, `_sfxero_original`, the source record's JSON text as a string (a NUL in it is
the six characters `\\u0000`, plain text to both backends' JSON); `original_record(raw)` gives the
record as the source sent it. The row's `cleaned_fields` (not a column) names the fields that held a NUL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from ..clients import json_records

COLUMN_TYPES: dict[str, sa.types.TypeEngine] = {
    "text": sa.Text(),
    "bool": sa.Boolean(),
    "int": sa.BigInteger(),
    "float": sa.Float(),
    # Unconstrained: a Salesforce currency field holds up to 18 digits at any scale (1e15 and
    # -9.99e17 are legal amounts); numeric(18,4) refused anything from 10^14 (migration 3 widens
    # older tables).
    "money": sa.Numeric(asdecimal=False),
    "date": sa.Date(),
    "datetime": sa.DateTime(timezone=True),
    "msdate": sa.Date(),
    "msdatetime": sa.DateTime(timezone=True),
}

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_UTC = dt.timezone.utc
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1  # a BigInteger column on both backends
NUL = "\x00"
ORIGINAL_KEY = "_sfxero_original"  # no Salesforce or Xero field starts with "_"


class BadValue(ValueError):
    pass


def _text(v):
    return v if isinstance(v, str) else (json.dumps(v) if isinstance(v, (dict, list)) else str(v))


def _bool(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise BadValue(f"not a boolean: {v!r}")


def _int(v):
    if isinstance(v, bool):
        raise BadValue(f"not an integer: {v!r}")
    try:
        out = int(v)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        raise BadValue(f"not an integer: {v!r}") from None
    if not INT64_MIN <= out <= INT64_MAX:
        raise BadValue(f"out of range for a 64-bit integer: {v!r}")
    return out


def _float(v):
    if isinstance(v, bool):
        raise BadValue(f"not a number: {v!r}")
    try:
        out = float(v)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond a double
        raise BadValue(f"not a number: {v!r}") from None
    if not math.isfinite(out):
        raise BadValue(f"not a finite number: {v!r}")
    return out


def _date(v):
    try:
        return dt.date.fromisoformat(v[:10])
    except (TypeError, ValueError):
        raise BadValue(f"unparseable date: {v!r}") from None


def _datetime(v):
    try:
        parsed = dt.datetime.fromisoformat(v)
    except (TypeError, ValueError):
        raise BadValue(f"unparseable datetime: {v!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_UTC)


def parse_ms_datetime(v) -> dt.datetime:
    """Xero's `/Date(1539993600000+0000)/` (the offset is informational; the number is UTC ms)."""
    m = _MS_DATE.match(v) if isinstance(v, str) else None
    if not m:
        # Xero also sends ISO strings in a few places (DateString, UpdatedDateUTCString).
        return _datetime(v)
    return dt.datetime.fromtimestamp(int(m.group(1)) / 1000, tz=_UTC)


def _msdate(v):
    return parse_ms_datetime(v).date()


PARSERS: dict[str, Callable] = {
    "text": _text, "bool": _bool, "int": _int, "float": _float, "money": _float,
    "date": _date, "datetime": _datetime, "msdate": _msdate, "msdatetime": parse_ms_datetime,
}


@dataclass(frozen=True)
class FieldSpec:
    """One typed column: where the value is in the record (dotted path), its kind, and rules."""

    source: str
    column: str
    kind: str = "text"
    allowed: frozenset[str] | None = None  # enum values; anything else is flagged, not dropped
    required: bool = False


def _is_allowed(value, allowed: frozenset[str]) -> bool:
    try:
        return value in allowed
    except TypeError:  # an object or array where an enum value belongs: unknown, not a failed page
        return False


def without_nul(value):
    """`value` with every NUL removed from its strings (dict keys included); `value` itself when it
    holds none."""
    if value.__class__ is str:
        return value.replace(NUL, "") if NUL in value else value
    if isinstance(value, dict):
        items = [(without_nul(k), without_nul(v)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, value.items())):
            return value
        return dict(items)
    if isinstance(value, list):
        items = [without_nul(v) for v in value]
        return value if all(v is v0 for v, v0 in zip(items, value)) else items
    return value


def original_record(raw: dict | str) -> dict:
    """The record as the source sent it, from a staged `raw` (a dict, or its JSON text)."""
    if isinstance(raw, str):
        raw = json.loads(raw)
    if isinstance(raw, dict) and isinstance(raw.get(ORIGINAL_KEY), str):
        return json.loads(raw[ORIGINAL_KEY])
    return raw


def _nested(record: dict, parts: list[str]):
    value = record
    for part in parts:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class RowBuilder:
    """Builds staging rows for one object. `is_deleted(record)` encodes the source's delete signal.
    `constants`: text columns with one value for every row of this read, not from the record (the Xero
    organisation read, `tenant_id`); `raw` stays the record as the API sent it."""

    def __init__(self, fields: list[FieldSpec], *, id_field: str, modified_field: str,
                 is_deleted: Callable[[dict], bool], constants: dict[str, str] | None = None) -> None:
        self.fields = fields
        self.constants = dict(constants or {})
        self.id_field = id_field
        self.modified_field = modified_field
        self.is_deleted = is_deleted
        # (column, top-level key, nested path or None, parser, spec): most fields are top-level,
        # so the loop reads them with one dict lookup instead of a function call.
        self._plan = [(f.column, f.source, f.source.split(".") if "." in f.source else None, PARSERS[f.kind], f)
                      for f in fields]
        self._modified_parser = next((PARSERS[f.kind] for f in fields if f.source == modified_field),
                                     PARSERS["datetime"])

    @property
    def column_types(self) -> dict[str, sa.types.TypeEngine]:
        return {**{f.column: COLUMN_TYPES[f.kind] for f in self.fields},
                **{name: sa.String(64) for name in self.constants}}

    def build(self, record: dict, extracted_at: dt.datetime) -> dict:
        """The staging row of `record`: its columns, plus `cleaned_fields` (the top-level fields
        whose NULs were removed, see the module docstring; empty for almost every record)."""
        source, cleaned = record, without_nul(record)
        cleaned_fields: list[str] = []
        if cleaned is not record and isinstance(record, dict):
            cleaned_fields = [without_nul(k) for k, v in record.items() if without_nul(k) is not k or without_nul(v) is not v]
            record = {**cleaned, ORIGINAL_KEY: json_records.dumps(source)}
        problems: list[str] = []
        row: dict = {}
        for column, key, path, parse, spec in self._plan:
            value = record.get(key) if path is None else _nested(record, path)
            if value is None or value == "":
                if spec.required:
                    problems.append(f"missing required field {spec.source}")
                row[column] = None
                continue
            if parse is _text and value.__class__ is str:  # the common case, kept off the call path
                row[column] = value
            else:
                try:
                    row[column] = parse(value)
                except BadValue as exc:
                    problems.append(f"{spec.source}: {exc}")
                    row[column] = None
                    continue
            if spec.allowed is not None and not _is_allowed(value, spec.allowed):
                problems.append(f"{spec.source}: unknown value {value!r}")
        record_id = record.get(self.id_field)
        if not record_id:
            # Stage it anyway under a stable synthetic id, so it is visible and held, never dropped.
            record_id = "missing-id-" + hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:24]
            if f"missing required field {self.id_field}" not in problems:
                problems.append(f"missing required field {self.id_field}")
        modified = record.get(self.modified_field)
        try:
            modified_at = self._modified_parser(modified) if modified else None
        except BadValue:
            modified_at = None
        try:
            deleted = bool(self.is_deleted(record))
        except Exception as exc:  # a malformed delete signal must not fail the page
            problems.append(f"delete flag unreadable: {exc}")
            deleted = False
        row.update(self.constants)
        row.update(id=str(record_id), modified_at=modified_at, is_deleted=deleted, extracted_at=extracted_at,
                   invalid_reason="; ".join(problems) or None, raw=record, cleaned_fields=cleaned_fields)
        return row
