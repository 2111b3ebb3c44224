"""`exclusive(engine, key)`: one transaction that holds a lock every sfxero process on the same staging
database queues behind, on both backends.

PostgreSQL: a transaction-scoped advisory lock on `key` (other keys proceed). SQLite has no finer
lock: the database's write lock, taken up front with `BEGIN IMMEDIATE` (pysqlite would otherwise begin
only at the first DML, so DDL and reads before it ran outside any lock); the connection's busy timeout
makes the others wait rather than fail. Committed on success, rolled back on error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


@contextmanager
def exclusive(engine: sa.Engine, key: int) -> Iterator[sa.Connection]:
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
