"""`approval`: what a person approved past a guard (docs/architecture.md §6). The one owner of the table.

A row is keyed by (kind, subject id): `plan` approvals name a plan id (the mass-change guard holds
a whole plan); `row` approvals name a held plan row's approval id (`row-…`, a delete, void or archive
a recipe's delete policy holds for a person: reconcile/deletes.py).
Approving twice keeps the first row. A plan id is a hash of the plan's content, so an approval
lets exactly that plan through: a different plan has another id and needs its own approval.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from ..schema import approval

PLAN = "plan"
ROW = "row"
KINDS = (PLAN, ROW)


def has_approval_table(conn: sa.Connection) -> bool:
    return sa.inspect(conn).has_table(approval.name)


def approve(conn: sa.Connection, kind: str, subject_ids: list[str], *, by: str, detail: dict | None = None,
            now: dt.datetime | None = None) -> list[str]:
    """Record approvals; returns the subject ids that were not approved before."""
    if kind not in KINDS:
        raise ValueError(f"unknown approval kind {kind!r}")
    before = approved(conn, kind, subject_ids)
    new = [s for s in dict.fromkeys(subject_ids) if s not in before]
    if new:
        stamp = now or dt.datetime.now(dt.timezone.utc)
        conn.execute(approval.insert(), [{"kind": kind, "subject_id": s, "approved_by": by, "approved_at": stamp,
                                          "detail": detail} for s in new])
    return new


def approved(conn: sa.Connection, kind: str, subject_ids: list[str]) -> set[str]:
    """The subject ids among `subject_ids` that carry an approval of `kind`."""
    if not subject_ids or not has_approval_table(conn):
        return set()
    out: set[str] = set()
    ids = sorted(set(subject_ids))
    for i in range(0, len(ids), 500):
        out.update(r[0] for r in conn.execute(sa.select(approval.c.subject_id).where(
            approval.c.kind == kind, approval.c.subject_id.in_(ids[i:i + 500]))))
    return out


def approval_of(conn: sa.Connection, kind: str, subject_id: str) -> dict | None:
    """Who approved `subject_id` and when, or None."""
    if not has_approval_table(conn):
        return None
    row = conn.execute(sa.select(approval).where(approval.c.kind == kind, approval.c.subject_id == subject_id)
                       ).mappings().first()
    return dict(row) if row else None


def count(conn: sa.Connection, kind: str) -> int:
    """How many approvals of `kind` were ever given (the push sensor notices a new one by it)."""
    if not has_approval_table(conn):
        return 0
    return int(conn.execute(sa.select(sa.func.count()).select_from(approval).where(approval.c.kind == kind)).scalar())
