"""Create and widen per-object staging tables, and upsert rows into them.

`ensure_object_table` is idempotent: it creates the table if missing and adds any column the source
has grown since (schema drift never fails a load; a disappearing column is kept, its values null).
`upsert_rows` is the one write path for extracted rows. It is idempotent per record: the row is
replaced only when the incoming modified timestamp is the same or newer than the staged one, so
rerunning any partition, in any order, any number of times, leaves the same table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa

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
            _raw_lz4(conn, name)
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


def _raw_lz4(conn: sa.Connection, name: str) -> None:
    """PostgreSQL compresses a wide row's `raw` when it is stored; its default (pglz) cost a fifth
    of the server's work per page of a load. lz4 where the server has it (PostgreSQL 14+ built with
    it), else the default stays."""
    if conn.dialect.name != "postgresql":
        return
    has_lz4 = conn.exec_driver_sql("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                                   "WHERE name = 'default_toast_compression'").scalar()
    if has_lz4:
        quote = conn.dialect.identifier_preparer.quote
        conn.exec_driver_sql(f"ALTER TABLE {quote(name)} ALTER COLUMN raw SET COMPRESSION lz4")


class Upserter:
    """The upsert of `upsert_rows`, prepared once per table and run at the driver level.

    Extract pages are tens of thousands of rows of ~50 columns; SQLAlchemy's generic per-row
    parameter handling cost more than the database's own work. Here each column's value is
    converted by that column type's own SQLAlchemy bind processor (so stored values are exactly
    what SQLAlchemy writes and reads back) in one tight loop, and the statement is sent with the
    DB-API executemany.
    """

    def __init__(self, conn: sa.Connection, table: sa.Table) -> None:
        dialect = conn.dialect
        self.columns = [c.name for c in table.columns]
        self.processors = [_fast_processor(c.type, dialect) or c.type.dialect_impl(dialect).bind_processor(dialect)
                           for c in table.columns]
        quote = dialect.identifier_preparer.quote
        name = quote(table.name)
        cols = ", ".join(quote(c) for c in self.columns)
        if dialect.paramstyle == "qmark":
            values = ", ".join("?" for _ in self.columns)
        else:
            values = ", ".join(f"%({c})s" for c in self.columns)
        updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in self.columns if c != "id")
        # Modified-timestamp guard: an older copy of a record (a rerun of an earlier partition
        # after a later one) must never overwrite a newer one.
        guard = (f"{name}.modified_at IS NULL OR excluded.modified_at IS NULL "
                 f"OR excluded.modified_at >= {name}.modified_at")
        self.positional = dialect.paramstyle == "qmark"
        self.sql = (f"INSERT INTO {name} ({cols}) VALUES ({values}) "
                    f"ON CONFLICT (id) DO UPDATE SET {updates} WHERE {guard}")

    def params(self, rows: Sequence[dict]) -> list:
        plan = list(zip(self.columns, self.processors))
        out = []
        for row in rows:
            values = [None if (v := row.get(c)) is None else (p(v) if p else v) for c, p in plan]
            out.append(tuple(values) if self.positional else dict(zip(self.columns, values)))
        return out

    def execute(self, conn: sa.Connection, rows: Sequence[dict]) -> int:
        if rows:
            conn.exec_driver_sql(self.sql, self.params(rows))
        return len(rows)


def _sqlite_datetime(value):
    # Byte-for-byte SQLAlchemy's SQLite DATETIME storage format ("2026-01-02 03:04:05.000006",
    # naive), which compares correctly as text; its own processor formats through a dict.
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _pg_numeric(value):
    # A float as exactly PostgreSQL's own float8 -> numeric cast makes it (float8_numeric prints 15
    # significant digits, "%.*g" with DBL_DIG), so a money column stores what binding the float
    # stored, in a type a binary COPY can write straight into the numeric column. A whole amount
    # below 10^15 is that int (15 digits hold it exactly): created and written 5x as fast.
    if value.__class__ is not float:
        return value
    if value.is_integer() and -1e15 < value < 1e15:
        return int(value)
    return Decimal(f"{value:.15g}")


def _fast_processor(type_: sa.types.TypeEngine, dialect):
    if dialect.name == "postgresql" and isinstance(type_, sa.Numeric) and not isinstance(type_, sa.Float):
        return _pg_numeric
    if dialect.name == "sqlite" and isinstance(type_, sa.DateTime):
        return _sqlite_datetime
    if dialect.name == "sqlite" and type(type_) is sa.Date:
        return dt.date.isoformat
    return None


def upsert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[dict]) -> int:
    """Insert or replace rows by id, unless the staged copy is newer. Returns len(rows)."""
    return Upserter(conn, table).execute(conn, rows)
