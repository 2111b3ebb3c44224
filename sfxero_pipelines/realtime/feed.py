"""What the lane's sensor asks on each tick: the changes waiting, as one batch with a deterministic key.

`next_batch(conn, sf_client, cursor, cfg, now)` → `Batch` (or None when nothing changed):
- Xero: the inbox's unprocessed events (written by `sfxero webhooks`), Contacts and Invoices by id;
  the lane's run marks them processed in the transaction that finishes the batch, so a run that dies
  leaves them for the next batch (or the cycle);
- Salesforce: one composite change poll (`clients/salesforce_changes.changes_since`, one API call for
  every polled object) when the budget-paced interval has passed (`poll_interval_s`, from the share in
  `realtime.salesforce_budget_share` and the allocation left per `Sforce-Limit-Info`), counted from
  when the previous poll was due (its slot), so that ticks more frequent than the interval keep the
  polls on a fixed cadence, one per interval on average. A first tick
  starts the cursors at `now`: the lane carries changes from then on, the cycle everything before.
- Xero without a webhook endpoint (`realtime.xero_poll`): one If-Modified-Since read of Contacts and
  of Invoices (`realtime/xero_poll.py`) when the interval paced on the tenant's daily limit has passed
  (`realtime.xero_daily_limit`, `xero_budget_share`, what `X-DayLimit-Remaining` says is left); a
  full page polls again on the next tick. First tick: cursors start at `now`, as Salesforce's.
- `run_key`: a hash of the inbox event ids and the Salesforce (object, id, cursor) seen, so a tick
  that sees the same changes again requests the run already requested, never a second one.
The cursor is JSON (the sensor stores it): per object the last (SystemModstamp, Id), the time of
the last poll and its slot; per Xero collection the last UpdatedDateUTC and the ids at that second, and the time of
the last Xero poll.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..clients.salesforce_changes import ChangeCursor, changes_since, poll_interval_s
from ..config import SfxeroConfig
from ..staging.state import inbox
from . import xero_poll
from .lane import Changes

#: Xero's webhook categories → the collection the lane reads by id.
XERO_CATEGORIES = {"CONTACT": "Contacts", "INVOICE": "Invoices"}


@dataclass
class Batch:
    changes: Changes
    inbox_ids: list[int] = field(default_factory=list)
    run_key: str = ""


def polled_objects(cfg: SfxeroConfig) -> list[str]:
    return list(cfg.realtime.salesforce_objects or cfg.extract.salesforce.objects)[:25]


def _salesforce_interval(cfg: SfxeroConfig, sf_client) -> dt.timedelta:
    usage = getattr(sf_client, "api_usage", None)
    interval = cfg.realtime.min_poll_interval_s
    if usage and usage[1]:
        used, limit = usage
        interval = poll_interval_s(daily_limit=limit, remaining=limit - used,
                                   share=cfg.realtime.salesforce_budget_share,
                                   minimum_s=cfg.realtime.min_poll_interval_s)
    return dt.timedelta(seconds=interval)


def _poll_slot(state: dict, interval: dt.timedelta, now: dt.datetime) -> dt.datetime | None:
    """When the Salesforce poll due now was due (None: not due yet). Polls keep to their schedule:
    the next one is due an interval after the previous one was DUE, not after the tick that ran it
    (a tick comes up to a sensor interval late; timing from it would stretch every interval by that)."""
    last = state.get("polled_at")
    if last is None:
        return now
    # The slot is never after the poll itself (a cursor from before slots were kept has none).
    slot = min(dt.datetime.fromisoformat(state.get("poll_slot") or last), dt.datetime.fromisoformat(last))
    due = slot + interval
    if now < due:
        return None
    return due if now - due < interval else now  # far behind (a stopped sensor): start again from now


def xero_poll_interval_s(cfg: SfxeroConfig, xero_client) -> float:
    """Seconds between Xero polls for what is left of the tenant's day (X-DayLimit-Remaining, once known)."""
    remaining = (getattr(xero_client, "limits", None) or {}).get("day_remaining")
    return xero_poll.poll_interval_s(daily_limit=cfg.realtime.xero_daily_limit,
                                     remaining=None if remaining is None else min(remaining, cfg.realtime.xero_daily_limit),
                                     share=cfg.realtime.xero_budget_share, minimum_s=cfg.realtime.min_poll_interval_s)


def _xero_due(state: dict, cfg: SfxeroConfig, xero_client, now: dt.datetime) -> bool:
    last = state.get("xero_polled_at")
    if last is None or state.get("xero_more"):
        return True
    return (now - dt.datetime.fromisoformat(last)).total_seconds() >= xero_poll_interval_s(cfg, xero_client)


def _poll_xero(state: dict, xero_client, changes: Changes, now: dt.datetime) -> list[str]:
    cursors = state.get("xero", {})
    start = {c: xero_poll.XeroCursor.from_json(cursors[c]) if c in cursors else now for c in xero_poll.POLLED}
    seen, more = [], False
    for collection, found in xero_poll.changes_since(xero_client, start).items():
        if found.error:
            continue
        if found.ids:
            changes.xero.setdefault(collection, []).extend(i for i in found.ids
                                                           if i not in changes.xero.get(collection, []))
            seen += [f"xero:{collection}:{i}:{found.cursor.modified.isoformat()}" for i in found.ids]
        cursors[collection] = found.cursor.to_json()
        more |= found.more
    state["xero"], state["xero_polled_at"], state["xero_more"] = cursors, now.isoformat(), more
    return seen


def next_batch(conn: sa.Connection, sf_client, cursor: str | None, cfg: SfxeroConfig,
               now: dt.datetime, xero_client=None) -> tuple[Batch | None, str]:
    """The batch waiting (None when nothing changed) and the cursor to store. `xero_client`: poll Xero
    too (no webhook endpoint), at the interval its daily budget allows."""
    state = json.loads(cursor) if cursor else {}
    changes, seen = Changes(), []
    events = inbox.unprocessed(conn, limit=1000)
    for event in events:
        collection = XERO_CATEGORIES.get(event.event_category)
        if collection and event.resource_id:
            changes.xero.setdefault(collection, []).append(event.resource_id)
    seen += [f"inbox:{e.id}" for e in events]

    slot = _poll_slot(state, _salesforce_interval(cfg, sf_client), now) if sf_client is not None else None
    if slot is not None:
        objects = polled_objects(cfg)
        cursors = state.get("salesforce", {})
        start = {o: ChangeCursor(dt.datetime.fromisoformat(cursors[o][0]), cursors[o][1]) if o in cursors
                 else ChangeCursor(now) for o in objects}
        for name, found in changes_since(sf_client, start, limit=cfg.realtime.poll_limit).items():
            if found.error:
                continue
            ids = found.changed_ids + found.deleted_ids
            if ids:
                changes.salesforce[name] = ids
                seen += [f"sf:{name}:{i}:{found.cursor.modstamp.isoformat()}" for i in ids]
            cursors[name] = [found.cursor.modstamp.isoformat(), found.cursor.id]
        state["salesforce"], state["polled_at"], state["poll_slot"] = cursors, now.isoformat(), slot.isoformat()
    if xero_client is not None and _xero_due(state, cfg, xero_client, now):
        seen += _poll_xero(state, xero_client, changes, now)
    new_cursor = json.dumps(state, sort_keys=True)
    if not seen:
        return None, new_cursor
    key = hashlib.sha256("\n".join(sorted(seen)).encode()).hexdigest()[:32]
    return Batch(changes, [e.id for e in events], f"lane-{key}"), new_cursor
