"""`sync_ledger`: every write attempt, before and after the call (docs/architecture.md §6).

Protocol, per plan row (its idempotency key):
1. `begin` records the attempt as `pending` (committed) before the request leaves;
2. `finish` records `succeeded` (with the target id and what was written) or `failed` (with the
   target's message) once the answer is in.
A row still `pending` when a run starts is a write whose outcome is unknown (the process died
between 1 and 2): the push resolves it by looking the record up in the target before writing
again, never by a blind retry. A `succeeded` row is never written again.

`response` of a succeeded row is `{"written": {field: value}, "target_id": …, "write_back": {…},
"plan_id": …}`; reconciliation reads `written` to suppress echoes of our own writes.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from ..schema import sync_ledger

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _chunks(items: list, n: int = 500):
    for i in range(0, len(items), n):
        yield items[i:i + n]


def states(conn: sa.Connection, keys: list[str]) -> dict[str, dict]:
    """key → {outcome, target_id, response} for the keys already in the ledger."""
    out: dict[str, dict] = {}
    for chunk in _chunks(list(dict.fromkeys(keys))):
        rows = conn.execute(sa.select(sync_ledger.c.idempotency_key, sync_ledger.c.outcome, sync_ledger.c.target_id,
                                      sync_ledger.c.response).where(sync_ledger.c.idempotency_key.in_(chunk)))
        for key, outcome, target_id, response in rows:
            if isinstance(response, str):
                response = json.loads(response)
            out[key] = {"outcome": outcome, "target_id": target_id, "response": response or {}}
    return out


def begin(conn: sa.Connection, entries: list[dict], *, run_id: str | None, request_hash: str) -> None:
    """Record attempts as pending. `entries`: dicts with key, recipe, target_system, target_object,
    source_id, target_id, and tenant_id (the Xero organisation the write is for; '' when none is named).
    A key already succeeded is left alone (callers never resend those)."""
    now = _now()
    known = states(conn, [e["key"] for e in entries])
    fresh = [e for e in entries if e["key"] not in known]
    again = [e["key"] for e in entries if e["key"] in known and known[e["key"]]["outcome"] != SUCCEEDED]
    if fresh:
        conn.execute(sync_ledger.insert(), [{
            "idempotency_key": e["key"], "recipe": e["recipe"], "target_system": e["target_system"],
            "target_object": e["target_object"], "source_id": e.get("source_id"), "target_id": e.get("target_id"),
            "request_hash": request_hash, "outcome": PENDING, "response": None, "run_id": run_id,
            "tenant_id": e.get("tenant_id") or "",
            "attempted_at": now, "completed_at": None} for e in fresh])
    for chunk in _chunks(again):
        conn.execute(sync_ledger.update().where(sync_ledger.c.idempotency_key.in_(chunk)).values(
            outcome=PENDING, request_hash=request_hash, run_id=run_id, attempted_at=now, completed_at=None))


def finish(conn: sa.Connection, results: list[dict]) -> None:
    """`results`: dicts with key, outcome (succeeded|failed), target_id, response."""
    if not results:
        return
    now = _now()
    stmt = sync_ledger.update().where(sync_ledger.c.idempotency_key == sa.bindparam("k")).values(
        outcome=sa.bindparam("o"), target_id=sa.bindparam("t"), response=sa.bindparam("r", type_=sync_ledger.c.response.type),
        completed_at=now)
    conn.execute(stmt, [{"k": r["key"], "o": r["outcome"], "t": r.get("target_id"), "r": r.get("response")}
                        for r in results])


def unresolved(conn: sa.Connection, target_system: str) -> int:
    """Writes whose outcome is still unknown (a crash between call and record)."""
    return conn.execute(sa.select(sa.func.count()).select_from(sync_ledger).where(
        sync_ledger.c.target_system == target_system, sync_ledger.c.outcome == PENDING)).scalar_one()


def last_written(conn: sa.Connection, target_system: str) -> dict[tuple[str, str], object]:
    """(target id, field) -> the value our latest successful write set: what reconciliation reads to
    suppress echoes of our own writes. A succeeded row's `response` carries `{"written": {field: value}}`
    with the plan's field names and the values sent."""
    if not sa.inspect(conn).has_table(sync_ledger.name):
        return {}
    rows = conn.execute(sa.select(sync_ledger.c.target_id, sync_ledger.c.response).where(
        sync_ledger.c.outcome == SUCCEEDED, sync_ledger.c.target_system == target_system,
        sync_ledger.c.target_id.is_not(None)).order_by(
        sync_ledger.c.target_id, sync_ledger.c.completed_at, sync_ledger.c.attempted_at,
        sync_ledger.c.idempotency_key))
    out: dict[tuple[str, str], object] = {}
    for target_id, response in rows:
        if isinstance(response, str):
            try:
                response = json.loads(response)
            except ValueError:
                continue
        written = (response or {}).get("written") if isinstance(response, dict) else None
        for field, value in (written or {}).items():
            out[(target_id, field)] = value  # later rows overwrite earlier ones: the latest write wins
    return out


def succeeded_since(conn: sa.Connection, source_ids: list[str], since: dt.datetime) -> set[str]:
    """Which of `source_ids` had a write succeed at or after `since` (what `sfxero replay` reports)."""
    out: set[str] = set()
    for chunk in _chunks(list(dict.fromkeys(source_ids))):
        out |= {r[0] for r in conn.execute(sa.select(sync_ledger.c.source_id).where(
            sync_ledger.c.outcome == SUCCEEDED, sync_ledger.c.completed_at >= since,
            sync_ledger.c.source_id.in_(chunk)))}
    return out


def writes_of(conn: sa.Connection, record_id: str) -> list[dict]:
    """Every write attempt whose source or target is `record_id`, oldest first (what `sfxero trace` shows):
    recipe, target_system, target_object, source_id, target_id, outcome, response, run_id, attempted_at,
    completed_at."""
    if not sa.inspect(conn).has_table(sync_ledger.name):
        return []
    rows = conn.execute(sa.select(sync_ledger.c.recipe, sync_ledger.c.target_system, sync_ledger.c.target_object,
                                  sync_ledger.c.source_id, sync_ledger.c.target_id, sync_ledger.c.outcome,
                                  sync_ledger.c.response, sync_ledger.c.run_id, sync_ledger.c.attempted_at,
                                  sync_ledger.c.completed_at)
                        .where(sa.or_(sync_ledger.c.source_id == record_id, sync_ledger.c.target_id == record_id))
                        .order_by(sync_ledger.c.attempted_at, sync_ledger.c.idempotency_key)).mappings().all()
    out = []
    for r in rows:
        response = r["response"]
        if isinstance(response, str):
            response = json.loads(response)
        out.append({**r, "response": response or {}})
    return out
