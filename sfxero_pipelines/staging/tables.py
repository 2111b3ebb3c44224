"""Create and widen per-object staging tables, and upsert rows into them.

`ensure_object_table` is idempotent: it creates the table if missing and adds any column the source
has grown since (schema drift never fails a load; a disappearing column is kept, its values null).
`upsert_rows` is the one write path for extracted rows. It is idempotent per record: the row is
replaced only when the incoming modified timestamp is the same or newer than the staged one, so
rerunning any partition, in any order, any number of times, leaves the same table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .schema import object_table


def _reflect(conn: sa.Connection, name: str) -> sa.Table | None:
    if not sa.inspect(conn).has_table(name):
        return None
    return sa.Table(name, sa.MetaData(), autoload_with=conn)


def ensure_object_table(engine: sa.Engine, name: str, typed_columns: dict[str, sa.types.TypeEngine]) -> tuple[sa.Table, list[str]]:
    """Return the table for `name` with at least `typed_columns`, and the columns added now."""
    wanted = object_table(name, typed_columns)
    with engine.begin() as conn:
        existing = _reflect(conn, name)
        if existing is None:
            wanted.create(conn)
            return wanted, [c.name for c in wanted.columns]
        added = []
        for column in wanted.columns:
            if column.name not in existing.columns:
                ddl_type = column.type.compile(dialect=conn.dialect)
                preparer = conn.dialect.identifier_preparer
                conn.exec_driver_sql(
                    f"ALTER TABLE {preparer.quote(name)} ADD COLUMN {preparer.quote(column.name)} {ddl_type}")
                added.append(column.name)
    # Keep columns the source dropped: they stay in the table (null from now on).
    return object_table(name, {**{c.name: c.type for c in existing.columns}, **typed_columns}), added


def upsert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[dict]) -> int:
    """Insert or replace rows by id, unless the staged copy is newer. Returns len(rows)."""
    if not rows:
        return 0
    dialect = conn.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    update_cols = {c.name: stmt.excluded[c.name] for c in table.columns if c.name != "id"}
    # Modified-timestamp guard: an older copy of a record (a rerun of an earlier partition after a
    # later one) must never overwrite a newer one.
    guard = sa.or_(table.c.modified_at.is_(None), stmt.excluded.modified_at.is_(None),
                   stmt.excluded.modified_at >= table.c.modified_at)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.id], set_=update_cols, where=guard)
    conn.execute(stmt, list(rows))
    return len(rows)
