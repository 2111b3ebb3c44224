"""Salesforce change polling for the real-time lane: "what changed since the cursor" for up to 25
objects in ONE API call, and how often that call may be made.

- `changes_since(client, cursors)`: one `/composite/batch` request carrying, per object,
  `SELECT Id, SystemModstamp, IsDeleted FROM X WHERE (SystemModstamp = :t AND Id > :id) OR
  SystemModstamp > :t ORDER BY SystemModstamp, Id LIMIT n` through `queryAll` (a delete is a change
  too). The cursor is the (SystemModstamp, Id) pair of the last row seen, because SystemModstamp is
  not unique: a LIMIT cutting through rows of one timestamp must resume after the last id, not skip
  or repeat the rest. Per object: the changed ids, the deleted ids, the new cursor (unchanged when
  nothing changed) and `more` when the LIMIT was reached (poll again without waiting). An object
  whose subrequest fails keeps its cursor and carries the error; the others proceed.
- `poll_interval_s(...)`: the seconds between polls so that polling spends at most a configured
  share of the daily API allocation spread over 24 hours, stretched as the remaining budget falls,
  never below 10 s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from .salesforce import COMPOSITE_BATCH_LIMIT

DEFAULT_LIMIT = 200
#: Never poll more often than this, whatever the budget allows.
MIN_POLL_INTERVAL_S = 10.0
#: Salesforce's daily allocation is a rolling 24-hour window.
WINDOW_S = 24 * 3600.0


@dataclass(frozen=True, order=True)
class ChangeCursor:
    """The last change seen: its SystemModstamp (UTC) and Id ("" = every record at that instant)."""

    modstamp: dt.datetime
    id: str = ""


@dataclass(frozen=True)
class ObjectChanges:
    sobject: str
    cursor: ChangeCursor
    changed_ids: list[str] = field(default_factory=list)
    deleted_ids: list[str] = field(default_factory=list)
    more: bool = False
    error: str | None = None


def _literal(value: dt.datetime) -> str:
    utc = (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _id_literal(value: str) -> str:
    if not value.isalnum():
        raise ValueError(f"not a Salesforce id: {value!r}")
    return f"'{value}'"


def changes_soql(sobject: str, cursor: ChangeCursor, limit: int = DEFAULT_LIMIT) -> str:
    if not sobject.replace("_", "").isalnum():
        raise ValueError(f"not an sObject name: {sobject!r}")
    t = _literal(cursor.modstamp)
    after = f"(SystemModstamp = {t} AND Id > {_id_literal(cursor.id)}) OR SystemModstamp > {t}" if cursor.id \
        else f"SystemModstamp >= {t}"
    return (f"SELECT Id, SystemModstamp, IsDeleted FROM {sobject} WHERE {after} "
            f"ORDER BY SystemModstamp ASC, Id ASC LIMIT {int(limit)}")


def _parse_modstamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc)


def _error_line(result) -> str:
    if isinstance(result, list) and result and isinstance(result[0], dict):
        # A SOQL error's message repeats the query with a caret line; its last line says what is wrong.
        lines = [line.strip() for line in str(result[0].get("message", "")).splitlines() if line.strip()]
        return f"{result[0].get('errorCode', 'ERROR')}: {lines[-1] if lines else ''}"[:300]
    return str(result)[:300]


def changes_since(client, cursors: Mapping[str, ChangeCursor | dt.datetime], *,
                  limit: int = DEFAULT_LIMIT) -> dict[str, ObjectChanges]:
    """One `/composite/batch` call: per object of `cursors` (at most 25), what changed after its cursor.
    A bare datetime cursor means every change at or after that instant."""
    wanted = {name: c if isinstance(c, ChangeCursor) else ChangeCursor(c) for name, c in cursors.items()}
    if not 0 < len(wanted) <= COMPOSITE_BATCH_LIMIT:
        raise ValueError(f"changes_since polls 1 to {COMPOSITE_BATCH_LIMIT} objects in one call, not {len(wanted)}")
    names = list(wanted)
    results = client.composite_batch(
        [("GET", "queryAll?q=" + quote(changes_soql(n, wanted[n], limit), safe="")) for n in names])
    out: dict[str, ObjectChanges] = {}
    for name, result in zip(names, results):
        cursor = wanted[name]
        if result.get("statusCode") != 200:
            out[name] = ObjectChanges(name, cursor, error=f"{name}: {_error_line(result.get('result'))}")
            continue
        records = result["result"].get("records") or []
        changed = [r["Id"] for r in records if not r.get("IsDeleted")]
        deleted = [r["Id"] for r in records if r.get("IsDeleted")]
        if records:
            cursor = ChangeCursor(_parse_modstamp(records[-1]["SystemModstamp"]), records[-1]["Id"])
        out[name] = ObjectChanges(name, cursor, changed, deleted, more=len(records) >= limit)
    return out


def poll_interval_s(*, daily_limit: int, remaining: int, share: float = 0.05, calls_per_poll: int = 1,
                    minimum_s: float = MIN_POLL_INTERVAL_S) -> float:
    """Seconds between polls: `share` of the budget, spread over 24 hours, buys so many polls.

    The share is taken of what REMAINS of the daily allocation (the full allocation when nothing is
    used), so the interval stretches as the budget falls: half the budget left, twice the interval.
    Never below `minimum_s` (10 s): faster than that a poll costs more than the changes it finds.
    With nothing left, one poll a day (the rolling window gives calls back as they age out)."""
    if daily_limit <= 0 or not 0 < share <= 1:
        raise ValueError("daily_limit must be positive and share in (0, 1]")
    left = min(max(remaining, 0), daily_limit)
    polls = share * left / max(calls_per_poll, 1)
    if polls < 1:
        return WINDOW_S
    return max(max(minimum_s, MIN_POLL_INTERVAL_S), WINDOW_S / polls)
