"""Xero change polling for the real-time lane when no webhook endpoint is reachable: `If-Modified-Since`
reads of Contacts and Invoices, paced on the tenant's daily call budget.

- `changes_since(client, cursors)`: per collection (Contacts, Invoices) ONE call, `GET <collection>`
  page 1 with `If-Modified-Since: <cursor>` ordered `UpdatedDateUTC ASC`: the ids changed since the
  cursor and the new cursor. Xero's header has whole seconds and is inclusive, so the cursor is the
  last `UpdatedDateUTC` seen plus the ids seen at that second: those are not reported again, a record
  changed later in the same second is. A full page sets `more` (poll again without waiting).
  A collection whose call fails keeps its cursor and carries the error; the other proceeds.
- `poll_interval_s(...)`: the seconds between polls so that polling spends at most `share` of the
  tenant's daily limit (Starter plans: 1,000 calls a day; others 5,000), two calls a poll, stretched
  as what is left of the day falls (`X-DayLimit-Remaining`), never below the lane's 10 s floor. With
  the defaults (5% of 1,000, two calls a poll) that is one poll every 57.6 minutes of a fresh day:
  webhooks are the way to seconds on a small plan; polling is the fallback that keeps within it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..extract.rows import parse_ms_datetime
from ..clients.salesforce_changes import poll_interval_s as _budget_interval

#: The collections the lane reads by id, and each one's id field.
POLLED = {"Contacts": "ContactID", "Invoices": "InvoiceID"}
CALLS_PER_POLL = len(POLLED)
DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True)
class XeroCursor:
    """The newest `UpdatedDateUTC` seen (UTC, whole seconds) and the ids seen at that second."""

    modified: dt.datetime
    ids_at: tuple[str, ...] = ()

    def to_json(self) -> list:
        return [self.modified.isoformat(), list(self.ids_at)]

    @classmethod
    def from_json(cls, value) -> "XeroCursor":
        return cls(dt.datetime.fromisoformat(value[0]), tuple(value[1]))


@dataclass(frozen=True)
class CollectionChanges:
    collection: str
    cursor: XeroCursor
    ids: list[str] = field(default_factory=list)
    more: bool = False
    error: str | None = None


def _second(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc).replace(microsecond=0)


def changes_since(client, cursors: Mapping[str, XeroCursor | dt.datetime], *,
                  page_size: int = DEFAULT_PAGE_SIZE) -> dict[str, CollectionChanges]:
    """One `If-Modified-Since` call per collection of `cursors` (Contacts and/or Invoices). A bare
    datetime means every change from that instant on."""
    out: dict[str, CollectionChanges] = {}
    for collection, given in cursors.items():
        if collection not in POLLED:
            raise ValueError(f"the lane polls {', '.join(POLLED)}, not {collection}")
        cursor = given if isinstance(given, XeroCursor) else XeroCursor(_second(given))
        try:
            body = client.get_page(collection, 1, page_size=page_size, if_modified_since=cursor.modified,
                                   order="UpdatedDateUTC ASC", include_archived=True)
        except Exception as exc:  # noqa: BLE001 - one collection's failure is reported, the other goes on
            out[collection] = CollectionChanges(collection, cursor, error=f"{collection}: {str(exc)[:300]}")
            continue
        rows = json.loads(body).get(collection) or []
        key, newest, ids_at, changed = POLLED[collection], cursor.modified, set(cursor.ids_at), []
        for row in rows:
            record_id, stamp = row.get(key), row.get("UpdatedDateUTC")
            if not record_id or not stamp:
                continue
            second = _second(parse_ms_datetime(stamp))
            if second == cursor.modified and record_id in cursor.ids_at:
                continue  # reported by the previous poll (the header is inclusive, to the second)
            changed.append(record_id)
            if second > newest:
                newest, ids_at = second, set()
            if second == newest:
                ids_at.add(record_id)
        out[collection] = CollectionChanges(collection, XeroCursor(newest, tuple(sorted(ids_at))), changed,
                                            more=len(rows) >= page_size)
    return out


def poll_interval_s(*, daily_limit: int, remaining: int | None, share: float, minimum_s: float) -> float:
    """Seconds between Xero polls: `share` of what is left of the tenant's daily limit, two calls a poll
    (`remaining` None: nothing known yet, the whole limit)."""
    left = daily_limit if remaining is None else remaining
    return _budget_interval(daily_limit=daily_limit, remaining=left, share=share, calls_per_poll=CALLS_PER_POLL,
                            minimum_s=minimum_s)
