"""Versioned, idempotent schema migrations for the staging database.

`migrate(engine)` applies, in order, every migration newer than the version recorded in
`sfxero_schema_version`, each in its own transaction, and records it. Running it again is a no-op,
and two processes migrating at once are serialised on PostgreSQL (an advisory lock).
A release that changes the sync-state tables appends a migration here; it never edits an old one.

Object tables (`sf_*`, `xero_*`) are not migrated here: their columns follow the source's schema and
are widened at extract time by `ensure_object_table`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from . import schema

_PG_LOCK_KEY = 0x5F3E_0001  # arbitrary constant shared by every sfxero process


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sa.Connection], None]


def _create_sync_state(conn: sa.Connection) -> None:
    for table in (schema.extract_state, schema.sync_link, schema.sync_plan, schema.sync_ledger, schema.held_record):
        table.create(conn, checkfirst=True)


def _create_webhook_inbox(conn: sa.Connection) -> None:
    schema.webhook_inbox.create(conn, checkfirst=True)


def _create_writer_lease(conn: sa.Connection) -> None:
    schema.writer_lease.create(conn, checkfirst=True)


def _create_oauth_token(conn: sa.Connection) -> None:
    schema.oauth_token.create(conn, checkfirst=True)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "sync state: extract_state, sync_link, sync_plan, sync_ledger, held_record", _create_sync_state),
    Migration(2, "webhook_inbox: received webhook events, one row per event", _create_webhook_inbox),
    Migration(3, "writer_lease: one push writer per (system, tenant)", _create_writer_lease),
    Migration(4, "oauth_token: stored, encrypted, rotating OAuth connections", _create_oauth_token),
)

LATEST_VERSION = MIGRATIONS[-1].version


def current_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table(schema.schema_version.name):
        return 0
    return conn.execute(sa.select(sa.func.coalesce(sa.func.max(schema.schema_version.c.version), 0))).scalar_one()


def migrate(engine: sa.Engine) -> list[int]:
    """Bring the schema to LATEST_VERSION; returns the versions applied now (empty when up to date)."""
    applied: list[int] = []
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        schema.schema_version.create(conn, checkfirst=True)
        version = current_version(conn)
        for migration in MIGRATIONS:
            if migration.version <= version:
                continue
            migration.apply(conn)
            conn.execute(schema.schema_version.insert().values(
                version=migration.version, description=migration.description,
                applied_at=dt.datetime.now(dt.timezone.utc)))
            applied.append(migration.version)
    return applied
