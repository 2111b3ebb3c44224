"""Held records from the checks (SPEC §8 `held_record`, stage `check`).

- `sync_holds` makes the open holds of one suite equal to its current failures: a new failure is
  held once (reason `"<expectation>(<column>): <value>"`, detail JSON with suite, expectation,
  column, value and why), a failure already held stays held (re-running never duplicates), and a
  hold whose record now passes — or is no longer staged live — is released (`released_at` set).
- `open_holds(conn, table_name)` is the query downstream stages use: ids with any open hold.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from ..staging.schema import held_record

STAGE = "check"


def hold_reason(failure: dict) -> str:
    value = failure.get("value")
    return f"{failure['expectation']}({failure['column']}): {json.dumps(value, ensure_ascii=False, default=str)}"


def open_holds(conn: sa.Connection, table_name: str, stage: str | None = None) -> set[str]:
    """Record ids of `table_name` with an open hold (any stage unless `stage` is given)."""
    query = sa.select(held_record.c.record_id).where(held_record.c.table_name == table_name,
                                                     held_record.c.released_at.is_(None))
    if stage:
        query = query.where(held_record.c.stage == stage)
    return {r[0] for r in conn.execute(query.distinct())}


def _detail(value) -> dict:
    if isinstance(value, str):
        return json.loads(value)
    return value or {}


def sync_holds(conn: sa.Connection, *, table_name: str, suite: str, failures: dict[str, list[dict]],
               run_id: str | None, now: dt.datetime | None = None) -> tuple[int, int]:
    """Hold new failures and release passing records for one suite. Returns (held_now, released_now)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    rows = conn.execute(sa.select(held_record.c.id, held_record.c.record_id, held_record.c.reason, held_record.c.detail)
                        .where(held_record.c.stage == STAGE, held_record.c.table_name == table_name,
                               held_record.c.released_at.is_(None))).fetchall()
    current = {(record_id, hold_reason(f)): f for record_id, fs in failures.items() for f in fs}
    open_keys, release = set(), []
    for row_id, record_id, reason, detail in rows:
        if _detail(detail).get("suite") != suite:
            continue
        if (record_id, reason) in current:
            open_keys.add((record_id, reason))
        else:
            release.append(row_id)
    for i in range(0, len(release), 500):
        conn.execute(held_record.update().where(held_record.c.id.in_(release[i:i + 500])).values(released_at=now))
    new = [{"stage": STAGE, "table_name": table_name, "record_id": record_id, "reason": reason,
            "detail": {"suite": suite, **failure}, "run_id": run_id, "held_at": now}
           for (record_id, reason), failure in current.items() if (record_id, reason) not in open_keys]
    if new:
        conn.execute(held_record.insert(), new)
    return len(new), len(release)
