"""Held records of the push stage (`held_record`, stage `push`): writes the target rejected.

A rejected write is held on the source record's staged table with the target's own message, so the
next reconciliation plans that record as `held` (not as a new attempt) until someone fixes it and
runs `sfxero replay`, which releases the hold. One open hold per record: holding again updates the
reason instead of adding a row. A later successful write of the record releases its hold.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from ..staging.schema import held_record

STAGE = "push"


def hold(conn: sa.Connection, items: list[dict], *, run_id: str | None) -> int:
    """`items`: dicts with table_name, record_id, reason, detail. Returns holds newly opened."""
    now = dt.datetime.now(dt.timezone.utc)
    opened = 0
    for item in items:
        current = conn.execute(sa.select(held_record.c.id).where(
            held_record.c.stage == STAGE, held_record.c.table_name == item["table_name"],
            held_record.c.record_id == item["record_id"], held_record.c.released_at.is_(None))).first()
        if current:
            conn.execute(held_record.update().where(held_record.c.id == current[0]).values(
                reason=item["reason"], detail=item.get("detail"), run_id=run_id))
            continue
        conn.execute(held_record.insert().values(stage=STAGE, table_name=item["table_name"], record_id=item["record_id"],
                                                 reason=item["reason"], detail=item.get("detail"), run_id=run_id,
                                                 held_at=now))
        opened += 1
    return opened


def release(conn: sa.Connection, pairs: list[tuple[str, str]] | None = None) -> int:
    """Release push holds: the given (table_name, record_id) pairs, or all of them (replay)."""
    now = dt.datetime.now(dt.timezone.utc)
    base = held_record.update().where(held_record.c.stage == STAGE, held_record.c.released_at.is_(None))
    if pairs is None:
        return conn.execute(base.values(released_at=now)).rowcount or 0
    released = 0
    by_table: dict[str, list[str]] = {}
    for table, record in pairs:
        by_table.setdefault(table, []).append(record)
    for table, ids in by_table.items():
        for i in range(0, len(ids), 500):
            released += conn.execute(base.where(held_record.c.table_name == table,
                                                held_record.c.record_id.in_(ids[i:i + 500]))
                                     .values(released_at=now)).rowcount or 0
    return released


def open_push_holds(conn: sa.Connection) -> list[dict]:
    rows = conn.execute(sa.select(held_record.c.table_name, held_record.c.record_id, held_record.c.reason,
                                  held_record.c.detail, held_record.c.held_at, held_record.c.run_id).where(
        held_record.c.stage == STAGE, held_record.c.released_at.is_(None)).order_by(held_record.c.held_at,
                                                                                     held_record.c.record_id))
    return [dict(r._mapping) for r in rows]
