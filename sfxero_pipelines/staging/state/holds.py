"""`held_record`: records held at a stage with their reason, until a fix releases them.

- Check stage (`sync_check_holds`): the open holds of one suite are made equal to its current
  failures: a new failure is held once, one already held stays held (re-running never duplicates),
  and a hold whose record now passes, or is no longer staged live, is released.
- Push stage (`hold`, `release`, `open_push_holds`): a write the target rejected is held on the source
  record's staged table with the target's own message, so the next plan lists that record as `held`
  (not as a new attempt) until someone fixes it and runs `sfxero replay`, which releases the hold. One
  open hold per record: holding again updates the reason. A later successful write releases it.
- Extract stage (`hold(..., stage=EXTRACT_STAGE)`, `release_restaged`): a record the staging
  database refused outright is held on its table with the database's message; a later load that
  stages a copy of it (extracted after the hold) releases it.
- Every hold carries the Xero organisation it was held for (`tenant_id`): the item's own, else the one
  the run serves (`tokens.serving_tenant`, docs/architecture.md §4.4).
- Readers: `open_hold_ids` (ids of one table with an open hold), `open_hold_reasons` (table -> id ->
  reason, any stage), `open_holds_by_stage` (for `sfxero status`), and `open_hold_ids_sql`, the same
  set as a subquery for planners that join it in the database.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable

import sqlalchemy as sa

from ..schema import held_record
from .tokens import serving_tenant

STAGE = "push"
CHECK_STAGE = "check"
EXTRACT_STAGE = "extract"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def has_holds_table(conn: sa.Connection) -> bool:
    return sa.inspect(conn).has_table(held_record.name)


def _detail(value) -> dict:
    if isinstance(value, str):
        return json.loads(value)
    return value or {}


def sync_check_holds(conn: sa.Connection, *, table_name: str, suite: str, failures: dict[tuple[str, str], dict],
                     run_id: str | None, now: dt.datetime | None = None) -> tuple[int, int]:
    """Make the open check holds of `suite` on `table_name` equal to `failures`: (record id, reason) ->
    detail. Returns (held now, released now)."""
    now = now or _now()
    rows = conn.execute(sa.select(held_record.c.id, held_record.c.record_id, held_record.c.reason, held_record.c.detail)
                        .where(held_record.c.stage == CHECK_STAGE, held_record.c.table_name == table_name,
                               held_record.c.released_at.is_(None))).fetchall()
    open_keys, release_ids = set(), []
    for row_id, record_id, reason, detail in rows:
        if _detail(detail).get("suite") != suite:
            continue
        if (record_id, reason) in failures:
            open_keys.add((record_id, reason))
        else:
            release_ids.append(row_id)
    for i in range(0, len(release_ids), 500):
        conn.execute(held_record.update().where(held_record.c.id.in_(release_ids[i:i + 500])).values(released_at=now))
    tenant = serving_tenant(conn, os.environ) if failures else ""
    new = [{"stage": CHECK_STAGE, "table_name": table_name, "record_id": record_id, "reason": reason,
            "detail": {"suite": suite, **failure}, "run_id": run_id, "held_at": now, "tenant_id": tenant}
           for (record_id, reason), failure in failures.items() if (record_id, reason) not in open_keys]
    if new:
        conn.execute(held_record.insert(), new)
    return len(new), len(release_ids)


def open_hold_ids(conn: sa.Connection, table_name: str, stage: str | None = None) -> set[str]:
    """Record ids of `table_name` with an open hold (any stage unless `stage` is given)."""
    query = sa.select(held_record.c.record_id).where(held_record.c.table_name == table_name,
                                                     held_record.c.released_at.is_(None))
    if stage:
        query = query.where(held_record.c.stage == stage)
    return {r[0] for r in conn.execute(query.distinct())}


def open_hold_reasons(conn: sa.Connection, table_names: Iterable[str]) -> dict[str, dict[str, str]]:
    """table -> {record id: "held at <stage>: <reason>"} for holds not yet released (any stage; several
    holds of one record joined with "; ")."""
    names = sorted(set(table_names))
    out: dict[str, dict[str, str]] = {n: {} for n in names}
    if not names or not has_holds_table(conn):
        return out
    rows = conn.execute(sa.select(held_record.c.table_name, held_record.c.record_id, held_record.c.reason,
                                  held_record.c.stage)
                        .where(held_record.c.released_at.is_(None), held_record.c.table_name.in_(names))
                        .order_by(held_record.c.table_name, held_record.c.record_id, held_record.c.id))
    for table, record, reason, stage in rows:
        prev = out[table].get(record)
        text = f"held at {stage}: {reason}"
        out[table][record] = text if prev is None else f"{prev}; {text}"
    return out


def open_hold_ids_sql(table_name: str) -> str | None:
    """SQL of the ids of `table_name` with an open hold (column `record_id`), for a planner's join in the
    database; None when there can be none. `table_name` must be a staged table's name (an identifier
    the caller owns, never a value from outside)."""
    if not table_name.replace("_", "").isalnum():
        raise ValueError(f"not a staged table name: {table_name!r}")
    return (f"SELECT DISTINCT record_id FROM {held_record.name} WHERE released_at IS NULL "
            f"AND table_name = '{table_name}'")


def open_holds_by_stage(conn: sa.Connection) -> list[dict]:
    """Every open hold: stage, table_name, record_id, reason, held_at; by stage, table, time."""
    return [{k: v for k, v in h.items() if k != "detail"} for h in open_holds_detailed(conn)]


def hold(conn: sa.Connection, items: list[dict], *, run_id: str | None, stage: str = STAGE) -> int:
    """`items`: dicts with table_name, record_id, reason, detail, and tenant_id (the Xero organisation the
    record is held for; '' when none is named). Returns holds newly opened."""
    now = _now()
    opened = 0
    serving = serving_tenant(conn, os.environ) if any(not item.get("tenant_id") for item in items) else ""
    for item in items:
        tenant = item.get("tenant_id") or serving
        current = conn.execute(sa.select(held_record.c.id).where(
            held_record.c.stage == stage, held_record.c.table_name == item["table_name"],
            held_record.c.record_id == item["record_id"], held_record.c.released_at.is_(None))).first()
        if current:
            conn.execute(held_record.update().where(held_record.c.id == current[0]).values(
                reason=item["reason"], detail=item.get("detail"), run_id=run_id, tenant_id=tenant))
            continue
        conn.execute(held_record.insert().values(stage=stage, table_name=item["table_name"], record_id=item["record_id"],
                                                 reason=item["reason"], detail=item.get("detail"), run_id=run_id,
                                                 held_at=now, tenant_id=tenant))
        opened += 1
    return opened


def release(conn: sa.Connection, pairs: list[tuple[str, str]] | None = None) -> int:
    """Release push holds: the given (table_name, record_id) pairs, or all of them (replay)."""
    now = _now()
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


def release_restaged(conn: sa.Connection, table: sa.Table) -> int:
    """Release the extract holds of `table` whose record has since been staged (a row of it
    extracted after the hold): the source fixed it, or the schema now takes it. One statement."""
    staged_since = sa.exists().where(table.c.id == held_record.c.record_id, table.c.extracted_at > held_record.c.held_at)
    return conn.execute(held_record.update().where(
        held_record.c.stage == EXTRACT_STAGE, held_record.c.table_name == table.name,
        held_record.c.released_at.is_(None), staged_since).values(released_at=_now())).rowcount or 0


def open_push_holds(conn: sa.Connection) -> list[dict]:
    rows = conn.execute(sa.select(held_record.c.table_name, held_record.c.record_id, held_record.c.reason,
                                  held_record.c.detail, held_record.c.held_at, held_record.c.run_id).where(
        held_record.c.stage == STAGE, held_record.c.released_at.is_(None)).order_by(held_record.c.held_at,
                                                                                     held_record.c.record_id))
    return [dict(r._mapping) for r in rows]


def forget_table(conn: sa.Connection, table_name: str) -> int:
    """Delete every hold of `table_name`, open or released: only for a table rebuilt from scratch (benches)."""
    return conn.execute(held_record.delete().where(held_record.c.table_name == table_name)).rowcount or 0


def open_holds_detailed(conn: sa.Connection) -> list[dict]:
    """Every open hold with its detail (check holds: suite, expectation, column, value, why; push holds:
    the target's message): stage, table_name, record_id, reason, detail, held_at; by stage, table, time."""
    if not has_holds_table(conn):
        return []
    rows = conn.execute(sa.select(held_record.c.stage, held_record.c.table_name, held_record.c.record_id,
                                  held_record.c.reason, held_record.c.detail, held_record.c.held_at)
                        .where(held_record.c.released_at.is_(None))
                        .order_by(held_record.c.stage, held_record.c.table_name, held_record.c.held_at,
                                  held_record.c.record_id)).mappings().all()
    return [{**r, "detail": _detail(r["detail"])} for r in rows]


def holds_of(conn: sa.Connection, record_id: str) -> list[dict]:
    """Every hold of one record, open and released, any stage and table (what `sfxero trace` shows)."""
    if not has_holds_table(conn):
        return []
    rows = conn.execute(sa.select(held_record.c.stage, held_record.c.table_name, held_record.c.record_id,
                                  held_record.c.reason, held_record.c.detail, held_record.c.run_id,
                                  held_record.c.held_at, held_record.c.released_at)
                        .where(held_record.c.record_id == record_id).order_by(held_record.c.id)).mappings().all()
    return [{**r, "detail": _detail(r["detail"])} for r in rows]
