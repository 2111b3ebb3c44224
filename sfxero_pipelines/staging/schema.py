"""Table definitions of the staging database (SPEC §8).

Two kinds of tables:
- sync state with a fixed shape (`sync_link`, `sync_plan`, `sync_ledger`, `held_record`,
  `extract_state`), created and changed only through `migrations.py`;
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
    sa.Index("ix_sync_ledger_source", "recipe", "source_id"),
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
    sa.Index("ix_held_record_open", "stage", "table_name", "record_id", "released_at"),
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
