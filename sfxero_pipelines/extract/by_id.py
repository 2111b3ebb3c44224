"""Stage just the records that changed, by id: what the real-time lane reads after a webhook or a poll.

The same rows as the cycle's extract (the same `RowBuilder` per object, the same `StagingWriter`
upsert, so a record staged here and again by the next cycle is one row with the same columns), read
by id instead of by window:
- Salesforce: `SELECT <the extract's fields> FROM X WHERE Id IN (…)` through queryAll, 200 ids a query,
  so a soft-deleted record arrives flagged `IsDeleted` and is staged as deleted;
- Xero (Contacts, Invoices): `GET <collection>?IDs=…`, 50 ids a call, archived and voided included,
  with the object's `where` (sales invoices and bills share Invoices: each table gets its Type only).

Never touches an extract's cursor or its saved state: the lane reads a few records out of order, and
the cycle's next window still reads everything since its own cursor (the lane only gets there first).
Salesforce's field list is the one the last extract described (its saved describe); an object never
extracted is described here, without saving it. A record the API no longer returns (hard-deleted or
purged) is left for the cycle, which marks purged records from `/deleted`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator

import sqlalchemy as sa

from .report import ExtractReport
from .salesforce import field_specs, prepare_page, row_builder
from .state import load_state
from .window import ReadWindow
from .writer import StagingWriter
from .xero import page_rows, row_builder_for
from .xero_objects import XeroObject

SALESFORCE_IDS_PER_QUERY = 200
XERO_IDS_PER_CALL = 50
#: Xero collections the lane reads by id (the ones Xero's webhooks name).
XERO_BY_ID = ("Contacts", "Invoices")


def _chunks(ids: Iterable[str], size: int) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(i for i in ids if i))
    for start in range(0, len(unique), size):
        yield unique[start:start + size]


def _soql_id(value: str) -> str:
    if not value.isalnum() or len(value) not in (15, 18):
        raise ValueError(f"{value!r} is not a Salesforce record id")
    return f"'{value}'"


def stage_salesforce_by_id(client, engine: sa.Engine, sobject: str, table: str, ids: Iterable[str], *,
                           run_id: str | None, now: dt.datetime | None = None) -> ExtractReport:
    """Stage the Salesforce records `ids` of `sobject` into `table` as the cycle's extract would."""
    now = now or dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        state = load_state(conn, table)
    fields = state.columns.get("describe") or [[f["name"], f["type"]] for f in client.describe(sobject)["fields"]]
    specs = field_specs(fields)
    writer = StagingWriter(engine, table, row_builder(specs), state, run_id=run_id, advance_cursor=False)
    report = ExtractReport(sobject, table, ReadWindow(None, None, now, now))
    select = ", ".join(s.source for s in specs)

    def pages():
        for chunk in _chunks(ids, SALESFORCE_IDS_PER_QUERY):
            soql = f"SELECT {select} FROM {sobject} WHERE Id IN ({', '.join(map(_soql_id, chunk))})"
            yield from client.query_pages_auto(sobject, soql, include_deleted=True, expected_rows=len(chunk), raw=True)

    writer.load(pages(), functools.partial(prepare_page, writer))
    report.take_counts(writer)
    return report


def stage_xero_by_id(client, engine: sa.Engine, obj: XeroObject, ids: Iterable[str], *,
                     run_id: str | None, now: dt.datetime | None = None) -> ExtractReport:
    """Stage the Xero records `ids` of `obj` (Contacts or Invoices) as the cycle's extract would."""
    if obj.collection not in XERO_BY_ID:
        raise ValueError(f"{obj.collection} is not read by id (by id: {', '.join(XERO_BY_ID)})")
    now = now or dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        state = load_state(conn, obj.table)
    writer = StagingWriter(engine, obj.table, row_builder_for(obj, client.tenant_id), state, run_id=run_id, advance_cursor=False)
    report = ExtractReport(obj.collection, obj.table, ReadWindow(None, None, now, now))

    def pages():
        for chunk in _chunks(ids, XERO_IDS_PER_CALL):
            yield client.get_page(obj.collection, 1, page_size=XERO_IDS_PER_CALL, include_archived=True,
                                  where=obj.where, params={"i_ds": chunk})

    writer.load(pages(), lambda page: writer.prepare(*page_rows(page, obj.collection)))
    report.take_counts(writer)
    return report
