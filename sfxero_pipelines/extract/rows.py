"""Turn source records into staging rows: typed columns, system columns, and a reason when malformed.

A record that cannot be typed (a missing required field, an unknown enum value such as a new Xero
status, an unparseable date) is still staged: the bad column is null, the raw record is kept whole,
and `invalid_reason` says what was wrong. One odd value never fails a page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

COLUMN_TYPES: dict[str, sa.types.TypeEngine] = {
    "text": sa.Text(),
    "bool": sa.Boolean(),
    "int": sa.BigInteger(),
    "float": sa.Float(),
    "money": sa.Numeric(18, 4, asdecimal=False),
    "date": sa.Date(),
    "datetime": sa.DateTime(timezone=True),
    "msdate": sa.Date(),
    "msdatetime": sa.DateTime(timezone=True),
}

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_UTC = dt.timezone.utc


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
        return int(v)
    except (TypeError, ValueError):
        raise BadValue(f"not an integer: {v!r}") from None


def _float(v):
    if isinstance(v, bool):
        raise BadValue(f"not a number: {v!r}")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise BadValue(f"not a number: {v!r}") from None


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


def _nested(record: dict, parts: list[str]):
    value = record
    for part in parts:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class RowBuilder:
    """Builds staging rows for one object. `is_deleted(record)` encodes the source's delete signal."""

    def __init__(self, fields: list[FieldSpec], *, id_field: str, modified_field: str,
                 is_deleted: Callable[[dict], bool]) -> None:
        self.fields = fields
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
        return {f.column: COLUMN_TYPES[f.kind] for f in self.fields}

    def build(self, record: dict, extracted_at: dt.datetime) -> dict:
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
        row.update(id=str(record_id), modified_at=modified_at, is_deleted=deleted, extracted_at=extracted_at,
                   invalid_reason="; ".join(problems) or None, raw=record)
        return row
