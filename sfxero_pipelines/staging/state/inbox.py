"""`webhook_inbox`: webhook events as received, one row per event, until the real-time lane consumes them.

- `record_events` (the receiver, inside the transaction it commits before answering 200): stores each
  event of a delivery. Idempotent: an event's identity is (source, tenantId, eventCategory, eventType,
  resourceId, eventDateUtc), so a retried delivery, a replay or a burst of duplicates is one row (the
  insert skips an identity already present, also when two deliveries race on PostgreSQL).
  An event missing part of its identity is kept with `invalid_reason` (the fields it has, '' for the
  rest) rather than dropped, so nothing a sender signed is lost.
- `unprocessed` (the lane): the oldest events not yet processed, in arrival order.
- `mark_processed` (the lane, in the transaction that acts on them): stamps `processed_at`; marking
  twice keeps the first stamp.
Events are thin (Xero sends ids, not records): the lane fetches the resources itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..schema import webhook_inbox

XERO = "xero"

#: Xero's event field -> inbox column, for the fields that make up an event's identity.
_XERO_IDENTITY = {"tenantId": "tenant_id", "eventCategory": "event_category", "eventType": "event_type",
                  "resourceId": "resource_id", "eventDateUtc": "event_date_utc"}
_IDENTITY_COLUMNS = ("source", *_XERO_IDENTITY.values())


@dataclass(frozen=True)
class InboxEvent:
    id: int
    source: str
    tenant_id: str
    event_category: str
    event_type: str
    resource_id: str
    event_date_utc: str
    resource_url: str | None
    invalid_reason: str | None
    received_at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _xero_row(event: Mapping, received_at: dt.datetime) -> dict:
    row: dict = {"source": XERO, "event": dict(event), "received_at": received_at,
                 "resource_url": event.get("resourceUrl")}
    missing = []
    for field, column in _XERO_IDENTITY.items():
        value = event.get(field)
        if value is None or value == "":
            missing.append(field)
        row[column] = "" if value is None else str(value)
    row["invalid_reason"] = f"event lacks {', '.join(missing)}" if missing else None
    return row


def _insert_ignoring_duplicates(conn: sa.Connection):
    if conn.dialect.name == "postgresql":
        return postgresql.insert(webhook_inbox).on_conflict_do_nothing(constraint="uq_webhook_inbox_event")
    if conn.dialect.name == "sqlite":
        return sqlite.insert(webhook_inbox).on_conflict_do_nothing()
    raise ValueError(f"webhook_inbox: unsupported database {conn.dialect.name}")


def record_events(conn: sa.Connection, events: Iterable[Mapping], *, now: dt.datetime | None = None) -> int:
    """Store Xero webhook events (the items of a payload's `events`); returns how many were new."""
    received_at = now or _now()
    rows: dict[tuple, dict] = {}
    for event in events:
        if not isinstance(event, Mapping):
            event = {"value": event}
        row = _xero_row(event, received_at)
        rows.setdefault(tuple(row[c] for c in _IDENTITY_COLUMNS), row)
    if not rows:
        return 0
    # RETURNING, not rowcount: a multi-row insert's rowcount is not reliable across drivers; a skipped
    # duplicate returns no id.
    inserted = conn.execute(_insert_ignoring_duplicates(conn).returning(webhook_inbox.c.id), list(rows.values()))
    return len(inserted.fetchall())


def unprocessed(conn: sa.Connection, *, limit: int = 1000) -> list[InboxEvent]:
    """The oldest `limit` events not yet processed, in arrival order."""
    c = webhook_inbox.c
    rows = conn.execute(sa.select(c.id, c.source, c.tenant_id, c.event_category, c.event_type, c.resource_id,
                                  c.event_date_utc, c.resource_url, c.invalid_reason, c.received_at)
                        .where(c.processed_at.is_(None)).order_by(c.id).limit(limit)).fetchall()
    return [InboxEvent(*row) for row in rows]


def mark_processed(conn: sa.Connection, ids: Iterable[int], *, now: dt.datetime | None = None) -> int:
    """Stamp `processed_at` on those events (those already stamped keep theirs); returns how many now."""
    ids = sorted(set(ids))
    now = now or _now()
    done = 0
    for i in range(0, len(ids), 500):
        done += conn.execute(webhook_inbox.update().where(webhook_inbox.c.id.in_(ids[i:i + 500]),
                                                          webhook_inbox.c.processed_at.is_(None))
                             .values(processed_at=now)).rowcount
    return done


def count_events(conn: sa.Connection) -> int:
    """Every event in the inbox, processed or not (for `sfxero status` and tests)."""
    return conn.execute(sa.select(sa.func.count()).select_from(webhook_inbox)).scalar_one()
