"""Per-table extract state in `extract_state`: the incremental cursor and cached source schema.

The cursor is (modified timestamp, id) of the last record staged in source order. It is saved in
the same transaction as the page that reached it, so a crash mid-run resumes after the last
committed page and never skips one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..staging.schema import extract_state
from ..staging.timestamps import aware


@dataclass
class ExtractState:
    table_name: str
    cursor_modified_at: dt.datetime | None = None
    cursor_id: str | None = None
    columns: dict = field(default_factory=dict)  # cached describe + bookkeeping (JSON)


def load_state(conn: sa.Connection, table_name: str) -> ExtractState:
    row = conn.execute(sa.select(extract_state).where(extract_state.c.table_name == table_name)).mappings().first()
    if row is None:
        return ExtractState(table_name)
    return ExtractState(table_name, aware(row["cursor_modified_at"]), row["cursor_id"], dict(row["columns"] or {}))


def save_state(conn: sa.Connection, state: ExtractState, run_id: str | None = None) -> None:
    values = {
        "cursor_modified_at": state.cursor_modified_at, "cursor_id": state.cursor_id,
        "columns": state.columns, "last_run_id": run_id, "updated_at": dt.datetime.now(dt.timezone.utc),
    }
    updated = conn.execute(extract_state.update().where(extract_state.c.table_name == state.table_name).values(**values))
    if updated.rowcount == 0:
        conn.execute(extract_state.insert().values(table_name=state.table_name, **values))
