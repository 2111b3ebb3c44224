"""Versioned, idempotent schema migrations for the staging database.

`migrate(engine)` applies, in order, every migration newer than the version recorded in
`sfxero_schema_version`, each in its own transaction, and records it. Running it again is a no-op,
and two processes migrating at once are serialised on PostgreSQL (an advisory lock).
A release that changes the sync-state tables appends a migration here; it never edits an old one.

Object tables (`sf_*`, `xero_*`) get their columns at extract time (`ensure_object_table`: created,
and a column added when the source grows a field). A release that changes the type a kind of field
is staged as migrates the tables already there here.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from . import schema
from .locks import exclusive
from .timestamps import aware
from .state import tokens

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


def _create_approval(conn: sa.Connection) -> None:
    schema.approval.create(conn, checkfirst=True)


def _widen_money(conn: sa.Connection) -> None:
    """Money columns numeric(18,4) -> numeric, in every object table: 18,4 refused amounts from
    10^14, which Salesforce currency fields (18 digits) and Xero allow, and a page holding one
    failed whole. PostgreSQL only (SQLite keeps any number in a NUMERIC column); no table rewrite
    (dropping a numeric's precision changes no stored value)."""
    if conn.dialect.name != "postgresql":
        return
    columns = conn.execute(sa.text(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND data_type = 'numeric' "
        "AND numeric_precision = 18 AND numeric_scale = 4 "
        "AND (table_name LIKE 'sf\\_%' OR table_name LIKE 'xero\\_%') ORDER BY table_name, ordinal_position")).all()
    quote = conn.dialect.identifier_preparer.quote
    by_table: dict[str, list[str]] = {}
    for table, column in columns:
        by_table.setdefault(table, []).append(column)
    for table, names in by_table.items():
        alters = ", ".join(f"ALTER COLUMN {quote(c)} TYPE numeric" for c in names)
        conn.exec_driver_sql(f"ALTER TABLE {quote(table)} {alters}")


def _add_tenant(conn: sa.Connection) -> None:
    """A tenant column on the sync-state tables and every Xero object table staged so far; the rows
    there now belong to the one organisation the database served (`existing_tenant`), so a sync that
    ran before finds after it the same links, ledger and holds, and plans nothing new. That organisation
    is the one its runs' client addressed (`tokens.serving_tenant`)."""
    tenant = tokens.serving_tenant(conn, os.environ)
    inspector = sa.inspect(conn)
    quote = conn.dialect.identifier_preparer.quote
    tables = [t.name for t in (schema.sync_link, schema.sync_plan, schema.sync_ledger, schema.held_record)]
    tables += sorted(n for n in inspector.get_table_names() if n.startswith("xero_"))
    for name in tables:
        if schema.TENANT_COLUMN not in {c["name"] for c in inspector.get_columns(name)}:
            conn.exec_driver_sql(f"ALTER TABLE {quote(name)} ADD COLUMN {schema.TENANT_COLUMN} "
                                 "VARCHAR(64) NOT NULL DEFAULT ''")
        table = sa.table(name, sa.column(schema.TENANT_COLUMN))
        if tenant:
            conn.execute(table.update().where(table.c[schema.TENANT_COLUMN] == "").values({schema.TENANT_COLUMN: tenant}))
    conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_sync_link_tenant ON {schema.sync_link.name} "
                         f"({schema.TENANT_COLUMN}, recipe)")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "sync state: extract_state, sync_link, sync_plan, sync_ledger, held_record", _create_sync_state),
    Migration(2, "webhook_inbox: received webhook events, one row per event", _create_webhook_inbox),
    Migration(3, "writer_lease: one push writer per (system, tenant)", _create_writer_lease),
    Migration(4, "oauth_token: stored, encrypted, rotating OAuth connections", _create_oauth_token),
    Migration(5, "object tables: money columns numeric(18,4) -> numeric", _widen_money),
    Migration(6, "approval: plans (later rows) a person approved past the mass-change guard", _create_approval),
    Migration(7, "tenant_id on sync_link, sync_plan, sync_ledger, held_record and the Xero object tables", _add_tenant),
)

LATEST_VERSION = MIGRATIONS[-1].version


def current_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table(schema.schema_version.name):
        return 0
    return conn.execute(sa.select(sa.func.coalesce(sa.func.max(schema.schema_version.c.version), 0))).scalar_one()


def created_on(conn: sa.Connection) -> dt.date | None:
    """The UTC day this staging database was set up (its first migration), None before that."""
    if not sa.inspect(conn).has_table(schema.schema_version.name):
        return None
    first = aware(conn.execute(sa.select(sa.func.min(schema.schema_version.c.applied_at))).scalar())
    return None if first is None else first.astimezone(dt.timezone.utc).date()


def migrate(engine: sa.Engine) -> list[int]:
    """Bring the schema to LATEST_VERSION; returns the versions applied now (empty when up to date)."""
    applied: list[int] = []
    # Under the lock: two processes opening one fresh database at once (the webhook receiver and a
    # sync) would otherwise both create schema_version ("already exists") or both insert version 1.
    with exclusive(engine, _PG_LOCK_KEY) as conn:
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
