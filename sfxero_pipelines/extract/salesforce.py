"""Stage one Salesforce object for one read window (see `extract.window`).

Contract:
- the SELECT list comes from describe (custom fields included; compound address/location and
  base64 fields excluded, their parts are plain fields); describe is cached in `extract_state` for
  `describe_ttl_hours` so an unchanged incremental run costs one API call;
- reads use queryAll, so soft-deleted rows (IsDeleted) arrive in their window as the deleted flag;
  rows purged from the recycle bin are caught by `/deleted` once per `deleted_check_hours`;
- rows are ordered by (SystemModstamp, Id) — SystemModstamp is not unique — and the cursor
  committed with the pages (the last one's) is that pair, so a crash resumes without a gap;
- each page is written as it arrives, the next one fetched meanwhile (`StagingWriter.load`);
  nothing holds the whole object in memory. A REST page is parsed where it is typed
  (`page_records`), not by the request for it; Bulk 2.0 CSV pages are lists of records.
"""

from __future__ import annotations

import datetime as dt
import functools

import sqlalchemy as sa

from ..clients.salesforce import page_records
from ..config import SalesforceExtract
from ..staging.schema import column_name
from .report import ExtractReport
from .rows import FieldSpec, RowBuilder
from .state import ExtractState, load_state, save_state
from .window import ReadWindow, read_window
from .writer import StagingWriter

_KINDS = {"boolean": "bool", "int": "int", "double": "float", "percent": "float", "currency": "money",
          "date": "date", "datetime": "datetime"}
_SKIPPED_TYPES = {"address", "location", "base64", "complexvalue"}
# Salesforce keeps /deleted history for 15 days; ask for slightly less to stay inside it.
_DELETED_HISTORY = dt.timedelta(days=14, hours=23)


def soql_datetime(value: dt.datetime) -> str:
    """SOQL dateTime literals are unquoted UTC, e.g. 2024-01-01T00:00:00Z."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def field_specs(describe_fields: list[list[str]]) -> list[FieldSpec]:
    specs = []
    for name, type_ in describe_fields:
        if type_ in _SKIPPED_TYPES:
            continue
        specs.append(FieldSpec(name, column_name(name), _KINDS.get(type_, "text"),
                               required=name in ("Id", "SystemModstamp")))
    return specs


def window_soql(sobject: str, fields: list[str], window: ReadWindow) -> str:
    where = []
    if window.start is not None:
        where.append(f"SystemModstamp >= {soql_datetime(window.start)}")
    if window.end is not None:
        where.append(f"SystemModstamp < {soql_datetime(window.end)}")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT {', '.join(fields)} FROM {sobject}{clause} ORDER BY SystemModstamp ASC, Id ASC"


def _describe(client, sobject: str, state: ExtractState, cfg: SalesforceExtract, now: dt.datetime) -> tuple[list, dict]:
    cached = state.columns.get("describe")
    fetched_at = state.columns.get("describe_at")
    fresh = cached and fetched_at and now - dt.datetime.fromisoformat(fetched_at) < dt.timedelta(hours=cfg.describe_ttl_hours)
    if fresh:
        return cached, {}
    result = client.describe(sobject)
    fields = [[f["name"], f["type"]] for f in result["fields"]]
    drift = {}
    if cached:
        old, new = dict(map(tuple, cached)), dict(map(tuple, fields))
        drift = {
            "added": sorted(set(new) - set(old)),
            "removed": sorted(set(old) - set(new)),
            "type_changed": sorted(k for k in set(old) & set(new) if old[k] != new[k]),
        }
        drift = {k: v for k, v in drift.items() if v}
    state.columns["describe"], state.columns["describe_at"] = fields, now.isoformat()
    if drift:
        state.columns["last_drift"] = {"at": now.isoformat(), **drift}
    return fields, drift


def row_builder(specs) -> RowBuilder:
    """Rows of a Salesforce object: keyed by Id, modified at SystemModstamp, deleted when IsDeleted."""
    return RowBuilder(specs, id_field="Id", modified_field="SystemModstamp",
                      is_deleted=lambda r: r.get("IsDeleted") in (True, "true"))


def prepare_page(writer: StagingWriter, page):
    """A page as the client hands it over: raw JSON bytes (parsed here) or records already parsed."""
    return writer.prepare(*page_records(page)) if isinstance(page, bytes) else writer.prepare(page)


def extract_salesforce_object(client, engine: sa.Engine, sobject: str, table: str, *, partition_start: dt.datetime,
                              partition_end: dt.datetime, cfg: SalesforceExtract, lookback: dt.timedelta,
                              run_id: str | None, now: dt.datetime | None = None) -> ExtractReport:
    now = now or dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        state = load_state(conn, table)
    window = read_window(partition_start, partition_end, now=now, cursor=state.cursor_modified_at, lookback=lookback)
    report = ExtractReport(sobject, table, window)

    describe_fields, report.schema_drift = _describe(client, sobject, state, cfg, now)
    specs = field_specs(describe_fields)
    writer = StagingWriter(engine, table, row_builder(specs), state, run_id=run_id, advance_cursor=window.incremental)
    report.columns_added = writer.columns_added

    soql = window_soql(sobject, [s.source for s in specs], window)
    # Never let the client spend a COUNT() call to choose REST or Bulk: a window or an incremental
    # read is small; a full reload is as large as the last full load was.
    expected = state.columns.get("last_full_rows", 0) if window.start is None else 0
    writer.load(client.query_pages_auto(sobject, soql, include_deleted=True, expected_rows=expected, raw=True),
                functools.partial(prepare_page, writer))

    if window.incremental and window.start is None:
        # A full load through queryAll already saw every soft delete still in the recycle bin.
        state.columns["last_full_rows"] = writer.counts["rows"]
        state.columns["deleted_checked_at"] = now.isoformat()
    elif window.incremental:
        report.purged_marked = _mark_purged(client, engine, writer, sobject, state, cfg, now, lookback)
    with engine.begin() as conn:
        save_state(conn, state, run_id)

    report.take_counts(writer)
    return report


def _mark_purged(client, engine, writer: StagingWriter, sobject: str, state: ExtractState, cfg: SalesforceExtract,
                 now: dt.datetime, lookback: dt.timedelta) -> int:
    """Rows hard-deleted or purged from the recycle bin never show in queryAll: ask /deleted."""
    last = state.columns.get("deleted_checked_at")
    if last and now - dt.datetime.fromisoformat(last) < dt.timedelta(hours=cfg.deleted_check_hours):
        return 0
    start = now - _DELETED_HISTORY
    if last:
        start = max(start, dt.datetime.fromisoformat(last) - lookback)
    deleted = client.deleted(sobject, start, now)
    state.columns["deleted_checked_at"] = now.isoformat()
    ids = [d["id"] for d in deleted]
    marked = 0
    table = writer.table
    with engine.begin() as conn:
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marked += conn.execute(table.update().where(table.c.id.in_(chunk), table.c.is_deleted.is_(False))
                                   .values(is_deleted=True)).rowcount
    return marked
