"""Stage one Xero object.

Contract:
- paged transactional objects (contacts, invoices, bills, credit notes, bank transactions,
  payments) are read per window: `If-Modified-Since` = window start (the only server-side lower
  bound Xero offers), `UpdatedDateUTC < DateTime(end)` in `where` for a past window, pageSize 1000,
  ordered by UpdatedDateUTC; an unchanged incremental run costs exactly one call;
- the incremental cursor (max UpdatedDateUTC seen) is saved only after the last page, because Xero
  pages by offset: a record modified mid-read shifts later pages, and the next run's lookback
  re-reads from the old cursor if this one did not finish;
- reference objects (items, accounts, tax rates, currencies) are unpaged and small: read whole
  every run; a row that vanished from the source is flagged deleted (Items are hard-deleted);
- deletes are statuses (DELETED/VOIDED documents, ARCHIVED contacts) and become `is_deleted`;
- Quotes and PurchaseOrders take no `where`: a past window's end is applied to the records read
  (`If-Modified-Since` still bounds the start), and Quotes come 100 a page;
- journals are read by `offset` after the last JournalNumber staged (`extract_xero_journals`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator

import sqlalchemy as sa

from ..clients import json_records
from ..clients.xero import FIXED_PAGE_SIZE, JOURNAL_PAGE, NO_WHERE, PAGED, last_page
from .report import ExtractReport
from .rows import RowBuilder, parse_ms_datetime
from .state import ExtractState, load_state, save_state
from .window import ReadWindow, read_window
from .writer import StagingWriter
from .xero_objects import XeroObject
from ..staging.schema import TENANT_COLUMN


def row_builder_for(obj: XeroObject, tenant_id: str = "") -> RowBuilder:
    """How a collection's records become staged rows (the periodic extract's and `by_id`'s); every row
    carries the organisation it was read from (`tenant_id`, as the client addresses it)."""
    return RowBuilder(list(obj.fields), id_field=obj.id_field, modified_field=obj.modified_field or "UpdatedDateUTC",
                      is_deleted=obj.is_deleted, constants={TENANT_COLUMN: tenant_id})


def window_where(obj: XeroObject, window: ReadWindow) -> str | None:
    if obj.collection in NO_WHERE:
        return None  # the window's end is applied to the records instead (`_before`)
    clauses = [obj.where] if obj.where else []
    if window.end is not None:
        end = window.end.astimezone(dt.timezone.utc)
        clauses.append(f"UpdatedDateUTC < DateTime({end.year},{end.month:02d},{end.day:02d})")
    return " && ".join(clauses) or None


def call_bound(obj: XeroObject, rows: int, page_size: int) -> int:
    """The most calls a full read of `rows` records of `obj` may take (docs/architecture.md §4.1):
    one per page and one more for the empty or short page that ends the read; Quotes page 100 at a
    time whatever is asked and Journals 100 after the offset; an unpaged collection is one call."""
    if obj.offset_paged:
        return math.ceil(rows / JOURNAL_PAGE) + 1
    if not obj.paged:
        return 1
    return math.ceil(rows / FIXED_PAGE_SIZE.get(obj.collection, page_size)) + 1


def _pages(client, collection: str, *, if_modified_since: dt.datetime | None, where: str | None, order: str,
           include_archived: bool, page_size: int) -> Iterator[bytes | list[dict]]:
    """`client.iter_pages(...)`, each page either the response body (parsed by `page_rows` where
    the page is typed) or its records already parsed.

    The same calls through the client's `get_page` (pacing, retries, token renewal, budget and call
    counts are the client's) and the same stop rule. When the envelope before the records counts
    them (`pagination`, read alone), the body is handed on unparsed and the next request goes out at
    once. A client without `get_page` gives iter_pages' records."""
    # The stop rule compares a page with the size asked for: Quotes come 100 a page whatever is asked.
    page_size = FIXED_PAGE_SIZE.get(collection, page_size)
    if not hasattr(client, "get_page") or collection not in PAGED:
        yield from client.iter_pages(collection, if_modified_since=if_modified_since, where=where, order=order,
                                     include_archived=include_archived, page_size=page_size)
        return
    page = 1
    while True:
        body = client.get_page(collection, page, page_size=page_size, if_modified_since=if_modified_since, where=where,
                               order=order, include_archived=include_archived)
        pagination = _leading_pagination(body, collection)
        if pagination is not None:
            # iter_pages stops after a short page or the last one: the envelope counts this page.
            yield body
            size, count = pagination["pageSize"], pagination["itemCount"]
            rows = max(0, min(size, count - (page - 1) * size))
        else:
            data = json_records.loads(body)
            records = data.get(collection) or []
            yield records
            pagination, rows = data.get("pagination") or {}, len(records)
        if last_page(pagination, page, rows, page_size):
            return
        page += 1


_PAGINATION = re.compile(rb'"pagination"\s*:\s*(\{[^{}]*\})')


def _leading_pagination(body: bytes, collection: str) -> dict | None:
    """The envelope's `pagination` when it comes before the records and counts them, else None."""
    records_at = body.find(b'"%s"' % collection.encode())
    m = _PAGINATION.search(body, 0, records_at if records_at >= 0 else 4096)
    if m is None:
        return None
    try:
        pagination = json_records.loads(m.group(1))
    except ValueError:
        return None
    counted = all(type(pagination.get(k)) is int for k in ("page", "pageSize", "pageCount", "itemCount"))
    return pagination if counted else None


def page_rows(page: bytes | list[dict], collection: str) -> tuple[list[dict], list[str]]:
    """A `_pages` page as (records, their JSON texts): what the periodic extract and `by_id` stage."""
    records = (json_records.loads(page).get(collection) or []) if isinstance(page, bytes) else page
    return records, json_records.record_texts(records)


def _before(pages: Iterator[bytes | list[dict]], obj: XeroObject, end: dt.datetime) -> Iterator[list[dict]]:
    """A past window of a collection Xero cannot filter by `where`: its records modified before `end`."""
    for page in pages:
        records, _texts = page_rows(page, obj.collection)
        yield [r for r in records if _modified(r.get(obj.modified_field)) is None
               or _modified(r.get(obj.modified_field)) < end]


def _modified(value) -> dt.datetime | None:
    try:
        return parse_ms_datetime(value) if value else None
    except ValueError:
        return None  # malformed: staged with its reason by the row builder, never dropped here


def _load_state(engine: sa.Engine, table: str) -> ExtractState:
    with engine.begin() as conn:
        return load_state(conn, table)


def extract_xero_paged(client, engine: sa.Engine, obj: XeroObject, *, partition_start: dt.datetime,
                       partition_end: dt.datetime, lookback: dt.timedelta, page_size: int, run_id: str | None,
                       now: dt.datetime | None = None) -> ExtractReport:
    now = now or dt.datetime.now(dt.timezone.utc)
    state = _load_state(engine, obj.table)
    window = read_window(partition_start, partition_end, now=now, cursor=state.cursor_modified_at, lookback=lookback)
    report = ExtractReport(obj.collection, obj.table, window)
    writer = StagingWriter(engine, obj.table, row_builder_for(obj, client.tenant_id), state, run_id=run_id, advance_cursor=False)
    report.columns_added = writer.columns_added
    # If-Modified-Since has second precision (Xero documents yyyy-mm-ddThh:mm:ss, UTC, no zone).
    since = window.start.astimezone(dt.timezone.utc).replace(tzinfo=None, microsecond=0) if window.start else None
    pages = _pages(client, obj.collection, if_modified_since=since, where=window_where(obj, window),
                   order="UpdatedDateUTC ASC", include_archived=obj.include_archived, page_size=page_size)
    if obj.collection in NO_WHERE and window.end is not None:
        pages = _before(pages, obj, window.end.astimezone(dt.timezone.utc))
    writer.load(pages, lambda page: writer.prepare(*page_rows(page, obj.collection)))
    if window.incremental and writer.max_modified is not None:
        state.cursor_modified_at = max(writer.max_modified, state.cursor_modified_at or writer.max_modified)
    with engine.begin() as conn:
        save_state(conn, state, run_id)
    report.take_counts(writer)
    return report


def extract_xero_reference(client, engine: sa.Engine, obj: XeroObject, *, run_id: str | None,
                           now: dt.datetime | None = None, with_details: bool = False) -> ExtractReport:
    """`with_details`: also read `obj.detail_field` of each active record by id (one call each: contact
    groups are few, and only a recipe that maps membership asks for it)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    state = _load_state(engine, obj.table)
    window = ReadWindow(None, None, now, now)
    report = ExtractReport(obj.collection, obj.table, window)
    writer = StagingWriter(engine, obj.table, row_builder_for(obj, client.tenant_id), state, run_id=run_id, advance_cursor=False)
    report.columns_added = writer.columns_added
    records = client.get_all(obj.collection)
    if with_details and obj.detail_field:
        records = [_with_detail(client, obj, r) for r in records]
    writer.write_page(records)
    seen = {writer.builder.build(r, now)["id"] for r in records}
    table = writer.table
    with engine.begin() as conn:
        staged = {row.id for row in conn.execute(sa.select(table.c.id).where(table.c.is_deleted.is_(False)))}
        vanished = sorted(staged - seen)
        for i in range(0, len(vanished), 500):
            conn.execute(table.update().where(table.c.id.in_(vanished[i:i + 500])).values(is_deleted=True, extracted_at=now))
        save_state(conn, state, run_id)
    report.take_counts(writer)
    report.deleted += len(vanished)
    report.purged_marked = len(vanished)
    return report


def _with_detail(client, obj: XeroObject, record: dict) -> dict:
    if obj.is_deleted(record):
        return record
    whole = client.get_by_id(obj.collection, record[obj.id_field]) or {}
    return {**record, obj.detail_field: whole.get(obj.detail_field) or []}


def extract_xero_journals(client, engine: sa.Engine, obj: XeroObject, *, run_id: str | None,
                          now: dt.datetime | None = None) -> ExtractReport:
    """Journals after the last JournalNumber staged (the cursor, `cursor_id`), 100 per call, until a
    short page: N new journals cost ceil(N/100) calls, or one more when N is a multiple of 100.
    The cursor is saved after the last page, with the pages: a run that fails re-reads from the old one."""
    now = now or dt.datetime.now(dt.timezone.utc)
    state = _load_state(engine, obj.table)
    start = int(state.cursor_id or 0)
    window = ReadWindow(state.cursor_modified_at, None, now, now)
    report = ExtractReport(obj.collection, obj.table, window)
    writer = StagingWriter(engine, obj.table, row_builder_for(obj, client.tenant_id), state, run_id=run_id, advance_cursor=False)
    report.columns_added = writer.columns_added
    last = {"number": start, "created": state.cursor_modified_at}

    def pages() -> Iterator[list[dict]]:
        while True:
            journals = client.journals_after(last["number"])
            yield journals
            numbered = [j for j in journals if isinstance(j.get("JournalNumber"), int)]
            newest = max(numbered, key=lambda j: j["JournalNumber"], default=None)
            if newest is None or newest["JournalNumber"] <= last["number"]:
                return  # nothing past the cursor: never loop on a server that ignored `offset`
            last["number"], last["created"] = newest["JournalNumber"], _modified(newest.get("CreatedDateUTC"))
            if len(journals) < JOURNAL_PAGE:
                return

    writer.load(pages(), lambda page: writer.prepare(*page_rows(page, obj.collection)))
    state.cursor_id = str(last["number"]) if last["number"] else state.cursor_id
    state.cursor_modified_at = last["created"] or state.cursor_modified_at
    with engine.begin() as conn:
        save_state(conn, state, run_id)
    report.rows, report.deleted, report.invalid = (writer.counts["rows"], writer.counts["deleted"], writer.counts["invalid"])
    report.invalid_sample = writer.invalid_sample
    return report
