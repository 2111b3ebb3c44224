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
- deletes are statuses (DELETED/VOIDED documents, ARCHIVED contacts) and become `is_deleted`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import sqlalchemy as sa

from ...extract.json_text import members_before, split_member_array
from ...extract.report import ExtractReport
from ...extract.rows import RowBuilder
from ...extract.state import ExtractState, load_state, save_state
from ...extract.window import ReadWindow, read_window
from ...extract.writer import StagingWriter
from .client import PAGED, last_page
from .objects import XeroObject


def _builder(obj: XeroObject) -> RowBuilder:
    return RowBuilder(list(obj.fields), id_field=obj.id_field, modified_field=obj.modified_field or "UpdatedDateUTC",
                      is_deleted=obj.is_deleted)


def window_where(obj: XeroObject, window: ReadWindow) -> str | None:
    clauses = [obj.where] if obj.where else []
    if window.end is not None:
        end = window.end.astimezone(dt.timezone.utc)
        clauses.append(f"UpdatedDateUTC < DateTime({end.year},{end.month:02d},{end.day:02d})")
    return " && ".join(clauses) or None


def _pages_with_text(client, collection: str, *, if_modified_since: dt.datetime | None, where: str | None,
                     order: str, include_archived: bool, page_size: int) -> Iterator[tuple]:
    """`client.iter_pages(...)`, each page either ("text", response text) or ("rows", records, texts);
    `_page_rows` turns either into (records, each record's JSON text or None).

    The same calls through the client's `get_page` (pacing, retries, token renewal, budget and call
    counts are the client's) and the same stop rule. The records are parsed once, keeping each one's
    text for `raw` instead of serializing every record again (as much work as parsing the page), and
    not in this thread when the envelope before them says how many there are: the next request goes
    out at once. A client without `get_page` gives iter_pages' records and no texts."""
    if not hasattr(client, "get_page") or collection not in PAGED:
        for rows in client.iter_pages(collection, if_modified_since=if_modified_since, where=where, order=order,
                                      include_archived=include_archived, page_size=page_size):
            yield "rows", rows, None
        return
    page = 1
    while True:
        body = client.get_page(collection, page, page_size=page_size, if_modified_since=if_modified_since, where=where,
                               order=order, include_archived=include_archived)
        try:
            text = body.decode("utf-8")
            head = members_before(text, collection)
        except UnicodeDecodeError:
            head = None
        pagination = head.get("pagination") if head else None
        if isinstance(pagination, dict) and _counted(pagination):
            # iter_pages stops after a short page or the last one: the envelope counts this page.
            yield "text", text
            size, count = pagination["pageSize"], pagination["itemCount"]
            rows = max(0, min(size, count - (page - 1) * size))
        else:
            envelope, records, texts = _read(body, collection)
            yield "rows", records, texts
            pagination, rows = envelope.get("pagination") or {}, len(records)
        if last_page(pagination, page, rows, page_size):
            return
        page += 1


def _counted(pagination: dict) -> bool:
    return all(type(pagination.get(k)) is int for k in ("page", "pageSize", "pageCount", "itemCount"))


def _read(body: bytes | str, collection: str) -> tuple[dict, list[dict], list[str] | None]:
    """A response as iter_pages reads it — (envelope, its `collection` records) — plus each
    record's text (None when the response is not of the usual shape: then json.loads reads it)."""
    try:
        split = split_member_array(body.decode("utf-8") if isinstance(body, bytes) else body, collection)
    except ValueError:  # UnicodeDecodeError included
        split = None
    if split is None:
        data = json.loads(body)
        return data, data.get(collection) or [], None
    return split


def _page_rows(page: tuple, collection: str) -> tuple[list[dict], list[str] | None]:
    """A `_pages_with_text` page as (records, their texts)."""
    if page[0] == "rows":
        return page[1], page[2]
    _envelope, records, texts = _read(page[1], collection)
    return records, texts


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
    writer = StagingWriter(engine, obj.table, _builder(obj), state, run_id=run_id, advance_cursor=False)
    report.columns_added = writer.columns_added
    # If-Modified-Since has second precision (Xero documents yyyy-mm-ddThh:mm:ss, UTC, no zone).
    since = window.start.astimezone(dt.timezone.utc).replace(tzinfo=None, microsecond=0) if window.start else None
    pages = _pages_with_text(client, obj.collection, if_modified_since=since, where=window_where(obj, window),
                             order="UpdatedDateUTC ASC", include_archived=obj.include_archived, page_size=page_size)
    writer.load(pages, lambda page: writer.prepare(*_page_rows(page, obj.collection)))
    if window.incremental and writer.max_modified is not None:
        state.cursor_modified_at = max(writer.max_modified, state.cursor_modified_at or writer.max_modified)
    with engine.begin() as conn:
        save_state(conn, state, run_id)
    report.rows, report.deleted, report.invalid = (writer.counts["rows"], writer.counts["deleted"], writer.counts["invalid"])
    report.invalid_sample = writer.invalid_sample
    return report


def extract_xero_reference(client, engine: sa.Engine, obj: XeroObject, *, run_id: str | None,
                           now: dt.datetime | None = None) -> ExtractReport:
    now = now or dt.datetime.now(dt.timezone.utc)
    state = _load_state(engine, obj.table)
    window = ReadWindow(None, None, now, now)
    report = ExtractReport(obj.collection, obj.table, window)
    writer = StagingWriter(engine, obj.table, _builder(obj), state, run_id=run_id, advance_cursor=False)
    report.columns_added = writer.columns_added
    records = client.get_all(obj.collection)
    writer.write_page(records)
    seen = {writer.builder.build(r, now)["id"] for r in records}
    table = writer.table
    with engine.begin() as conn:
        staged = {row.id for row in conn.execute(sa.select(table.c.id).where(table.c.is_deleted.is_(False)))}
        vanished = sorted(staged - seen)
        for i in range(0, len(vanished), 500):
            conn.execute(table.update().where(table.c.id.in_(vanished[i:i + 500])).values(is_deleted=True, extracted_at=now))
        save_state(conn, state, run_id)
    report.rows = writer.counts["rows"]
    report.deleted = writer.counts["deleted"] + len(vanished)
    report.purged_marked = len(vanished)
    report.invalid, report.invalid_sample = writer.counts["invalid"], writer.invalid_sample
    return report
