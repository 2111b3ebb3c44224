"""Table definitions of the staging database (docs/architecture.md §4).

Two kinds of tables:
- sync state with a fixed shape (`sync_link`, `sync_plan`, `sync_ledger`, `held_record`,
  `extract_state`, `webhook_inbox`), created and changed only through `migrations.py`;
- one table per extracted object (`sf_<object>`, `xero_<object>`) whose typed columns come from the
  source's own description (Salesforce describe, Xero's schema), created by `object_table` and
  widened when the source grows a field. Every object table has the same system columns: the source
  id as primary key, the source's modified timestamp, a deleted flag, when it was extracted, the raw
  record as JSON, and `invalid_reason` for a record staged despite being malformed.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

metadata = sa.MetaData()

#: System columns every object table has, in order.
SYSTEM_COLUMNS = ("id", "modified_at", "is_deleted", "extracted_at", "invalid_reason", "raw")

Json = sa.JSON()

#: The Xero organisation a row belongs to (docs/architecture.md §4.4): on every Xero object table and on
#: sync_link, sync_plan, sync_ledger and held_record. '' is the one organisation of a custom connection
#: that names no tenant (XERO_TENANT_ID unset), as the client addresses it.
TENANT_COLUMN = "tenant_id"


def _tenant() -> sa.Column:
    return sa.Column(TENANT_COLUMN, sa.String(64), nullable=False, server_default="")

schema_version = sa.Table(
    "sfxero_schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)

extract_state = sa.Table(
    "extract_state", metadata,
    sa.Column("table_name", sa.String(128), primary_key=True),
    # Salesforce cursors on (SystemModstamp, Id) because SystemModstamp is not unique; Xero on
    # UpdatedDateUTC alone (If-Modified-Since is all the API offers).
    sa.Column("cursor_modified_at", sa.DateTime(timezone=True)),
    sa.Column("cursor_id", sa.String(64)),
    sa.Column("last_full_at", sa.DateTime(timezone=True)),
    sa.Column("last_run_id", sa.String(64)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("columns", Json),
)

sync_link = sa.Table(
    "sync_link", metadata,
    sa.Column("recipe", sa.String(16), primary_key=True),
    sa.Column("sf_id", sa.String(64), primary_key=True),
    sa.Column("xero_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    _tenant(),
    sa.UniqueConstraint("recipe", "xero_id", name="uq_sync_link_recipe_xero_id"),
)

sync_plan = sa.Table(
    "sync_plan", metadata,
    sa.Column("plan_id", sa.String(64), primary_key=True),
    sa.Column("row_no", sa.Integer, primary_key=True),
    sa.Column("recipe", sa.String(16), nullable=False),
    sa.Column("direction", sa.String(16), nullable=False),  # sf_to_xero | xero_to_sf
    sa.Column("source_id", sa.String(64)),
    sa.Column("target_id", sa.String(64)),
    sa.Column("action", sa.String(16), nullable=False),  # create | update | skip | conflict | held
    sa.Column("diff", Json),
    sa.Column("reason", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    _tenant(),
    sa.Index("ix_sync_plan_action", "plan_id", "action"),
)

sync_ledger = sa.Table(
    "sync_ledger", metadata,
    sa.Column("idempotency_key", sa.String(128), primary_key=True),
    sa.Column("recipe", sa.String(16), nullable=False),
    sa.Column("target_system", sa.String(16), nullable=False),
    sa.Column("target_object", sa.String(64), nullable=False),
    sa.Column("source_id", sa.String(64)),
    sa.Column("target_id", sa.String(64)),
    sa.Column("request_hash", sa.String(64), nullable=False),
    # pending (written before the call) → succeeded | failed; pending after a crash = unknown.
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("response", Json),
    sa.Column("run_id", sa.String(64)),
    sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    _tenant(),
    sa.Index("ix_sync_ledger_source", "recipe", "source_id"),
)

# One push writer per (system, tenant) on SQLite (staging/state/lease.py); PostgreSQL uses an advisory lock instead.
writer_lease = sa.Table(
    "writer_lease", metadata,
    sa.Column("system", sa.String(16), primary_key=True),
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("owner_host", sa.String(255), nullable=False),
    sa.Column("owner_pid", sa.Integer, nullable=False),
    sa.Column("owner_started", sa.String(32)),
    sa.Column("owner_token", sa.String(32), nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("acquired_at", sa.Float, nullable=False),  # epoch seconds: compared with time.time()
    sa.Column("expires_at", sa.Float, nullable=False),
)

held_record = sa.Table(
    "held_record", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("stage", sa.String(16), nullable=False),  # extract | check | reconcile | push
    sa.Column("table_name", sa.String(128), nullable=False),
    sa.Column("record_id", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("detail", Json),
    sa.Column("run_id", sa.String(64)),
    sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("released_at", sa.DateTime(timezone=True)),
    _tenant(),
    sa.Index("ix_held_record_open", "stage", "table_name", "record_id", "released_at"),
)

webhook_inbox = sa.Table(
    "webhook_inbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(16), nullable=False),  # xero
    # The event's identity as the sender states it: a retry or a replay (Xero delivers at least once
    # and replays for 31 days) carries the same five values, so the unique key makes it one row.
    # eventDateUtc is kept as sent: re-parsing could change the text and split one event in two.
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("event_category", sa.String(32), nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("resource_id", sa.String(64), nullable=False),
    sa.Column("event_date_utc", sa.String(40), nullable=False),
    sa.Column("resource_url", sa.Text),
    sa.Column("invalid_reason", sa.Text),
    sa.Column("event", Json, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("processed_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("source", "tenant_id", "event_category", "event_type", "resource_id", "event_date_utc",
                        name="uq_webhook_inbox_event"),
    sa.Index("ix_webhook_inbox_unprocessed", "processed_at", "id"),
)

# Approvals a person gave (`sfxero approve`): a whole plan held by the mass-change guard now, single
# plan rows later. Keyed by what was approved, so approving twice is one row.
approval = sa.Table(
    "approval", metadata,
    sa.Column("kind", sa.String(16), primary_key=True),  # plan (row: the next wave)
    sa.Column("subject_id", sa.String(128), primary_key=True),  # the plan id (or row id)
    sa.Column("approved_by", sa.String(255), nullable=False),  # who or what: user@host, or a Dagster run
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("detail", Json),  # what the guard reported when it was approved
)

oauth_token = sa.Table(
    "oauth_token", metadata,
    # Keyed by (system, tenant) so several organisations (and Salesforce later) fit beside each other.
    sa.Column("system", sa.String(16), primary_key=True),
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("tenant_name", sa.Text),
    # One consent can grant several organisations one token pair: rows sharing a grant (Xero's
    # authEventId) rotate together. connection_id is Xero's /connections id (to disconnect one tenant).
    sa.Column("grant_id", sa.String(64)),
    sa.Column("connection_id", sa.String(64)),
    sa.Column("scopes", sa.Text, nullable=False),
    # Fernet ciphertexts: the key lives outside the database (SFXERO_SECRET_KEY or .sfxero/secret.key).
    sa.Column("refresh_token_enc", sa.Text),
    sa.Column("access_token_enc", sa.Text),
    sa.Column("access_expires_at", sa.DateTime(timezone=True)),
    sa.Column("state", sa.String(16), nullable=False),  # active | revoked | expired
    sa.Column("state_reason", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # When the current refresh token was issued: Xero drops one unused for 60 days.
    sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
    sa.Column("rotations", sa.Integer, nullable=False, default=0),
)

_IDENT = re.compile(r"[^a-z0-9_]+")


def column_name(field: str) -> str:
    """Staging column for a source field: lower-case, safe on both backends (`Xero_Contact_Id__c` → `xero_contact_id__c`)."""
    name = _IDENT.sub("_", field.lower()).strip("_") or "field"
    return f"f_{name}" if name in SYSTEM_COLUMNS or name[0].isdigit() else name


def snake(name: str) -> str:
    """`OpportunityLineItem` → `opportunity_line_item`; custom `Invoice_Run__c` → `invoice_run__c`."""
    if name.endswith("__c"):
        return name.lower()
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def object_table(name: str, typed_columns: dict[str, sa.types.TypeEngine], md: sa.MetaData | None = None) -> sa.Table:
    """The Table for one extracted object: system columns plus `typed_columns` (staging names)."""
    md = md if md is not None else sa.MetaData()
    columns = [
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("modified_at", sa.DateTime(timezone=True), index=True),
        sa.Column("is_deleted", sa.Boolean, nullable=False, default=False),
        sa.Column("extracted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("invalid_reason", sa.Text),
        sa.Column("raw", Json, nullable=False),
    ]
    columns += [sa.Column(col, type_) for col, type_ in typed_columns.items() if col not in SYSTEM_COLUMNS]
    return sa.Table(name, md, *columns)
