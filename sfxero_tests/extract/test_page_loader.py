"""The page loader (`StagingWriter.prepare*` + `commit`: `PageRows` column pass, bulk upsert) against
the reference — `RowBuilder.build` per record, `Upserter` per row — on SQLite and the real PostgreSQL:
- the same page binds the same values (raw aside: the record's own text) and stores the same
  values, column for column, as the database holds them;
- malformed records (a bad datetime, a missing id, an unknown enum value, ...) are staged with the
  reference's flag and reason next to the plain ones, and the counts and sample match;
- repeated ids, nested values, impossible dates and empty pages give the reference's result;
- the modified-timestamp guard holds; the cursor is saved with the page;
- a row the database refuses (a constraint, a value out of range) is staged with the refused
  fields null and their reason, or held when nothing of it can be stored; the rest of its page and
  the pages before it land, and the cursor moves past it;
- a page's records and their JSON texts are json.loads' records; the fetch/prepare pipeline keeps order, re-raises a
  stage's error and stops its threads when the consumer stops early.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
import sqlalchemy as sa

from sfxero_pipelines.clients.salesforce import clean_record, page_records, split_query_page
from sfxero_pipelines.extract.salesforce import field_specs
from sfxero_pipelines.extract.xero import row_builder_for
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS
from sfxero_pipelines.clients.prefetch import pipeline
from sfxero_pipelines.extract.rows import RowBuilder
from sfxero_pipelines.extract.state import ExtractState, load_state, save_state
from sfxero_pipelines.clients import json_records
from sfxero_pipelines.extract.writer import StagingWriter
from sfxero_pipelines.staging.schema import held_record
from sfxero_pipelines.staging.tables import Upserter

DESCRIBE = [["Id", "id"], ["IsDeleted", "boolean"], ["Name", "string"], ["Description", "textarea"],
            ["NumberOfEmployees", "int"], ["AnnualRevenue", "currency"], ["Probability", "percent"],
            ["CloseDate", "date"], ["CreatedDate", "datetime"], ["Active__c", "boolean"],
            ["BillingAddress", "address"], ["SystemModstamp", "datetime"]]


def _record(i: int, **fields) -> dict:
    base = {"Id": f"001{i:015d}", "IsDeleted": False, "Name": f"Account {i}", "Description": None,
            "NumberOfEmployees": 10 * i, "AnnualRevenue": 1000.5 + i, "Probability": 12.5,
            "CloseDate": "2026-11-21", "CreatedDate": "2026-11-01T05:49:07.000+0000", "Active__c": True,
            "SystemModstamp": f"2026-11-21T05:49:{i % 60:02d}.{i % 1000:03d}+0000"}
    return {**base, **fields}


ODD_BUT_VALID = [
    _record(1, Name="Ünïcode ☃ \"quoted\" back\\slash\nnew line\ttab", Description=""),
    _record(2, NumberOfEmployees=None, AnnualRevenue=None, Probability=None, CloseDate=None, CreatedDate=None,
            Active__c=None, Name=None),
    _record(3, NumberOfEmployees=-9007199254740993, AnnualRevenue=0.1 + 0.2, Probability=1e-7),
    _record(4, AnnualRevenue=12345678901234.567, Probability=100, NumberOfEmployees=0),
    _record(5, IsDeleted=True, Active__c=False, CreatedDate="2024-02-29T23:59:59.999Z", AnnualRevenue=5000000.0),
    _record(6, AnnualRevenue=-0.00005, Probability=1.5e300, Description="x" * 5000),
    {k: v for k, v in _record(7).items() if k not in ("Name", "CloseDate", "Active__c")},  # absent fields
    # Values the reference converts without a complaint: a number or a dict in a text field, a
    # numeric string in an int field, "true" for a boolean, another datetime shape and offset.
    _record(8, Name=42, Description={"nested": ["value"]}, NumberOfEmployees="12", Active__c="TRUE",
            CreatedDate="2026-11-01T07:49:07+02:00", CloseDate="2026-11-21T10:00:00"),
]
MALFORMED = [
    _record(100, CreatedDate="2026-13-45T99:00:00.000+0000"),
    {k: v for k, v in _record(101).items() if k != "Id"},
    _record(102, Active__c="yes"),
    _record(103, SystemModstamp=None),
    _record(104, CloseDate="2026-02-30", Probability="lots"),
    _record(105, SystemModstamp="2026-02-30T10:00:00.000+0000"),
    _record(106, NumberOfEmployees=True),
]


def _builder_sf() -> RowBuilder:
    return RowBuilder(field_specs(DESCRIBE), id_field="Id", modified_field="SystemModstamp",
                      is_deleted=lambda r: r.get("IsDeleted") in (True, "true"))


def _writer(staging, table: str, *, advance_cursor: bool = False, builder: RowBuilder | None = None,
            **kwargs) -> StagingWriter:
    return StagingWriter(staging.engine, table, builder or _builder_sf(), ExtractState(table), run_id="t",
                         advance_cursor=advance_cursor, **kwargs)


def _reference_write(staging, table: str, records: list[dict], builder: RowBuilder | None = None) -> list[dict]:
    """What write_page did before the column pass: build, one row per id, Upserter, one transaction."""
    builder = builder or _builder_sf()
    writer = _writer(staging, table, builder=builder)  # creates the table
    now = dt.datetime.now(dt.timezone.utc)
    rows = list({r["id"]: r for r in (builder.build(rec, now) for rec in records)}.values())
    if rows:
        with staging.engine.begin() as conn:
            Upserter(conn, writer.table).execute(conn, rows)
    return rows


def _stored(staging, table: str) -> dict[str, dict]:
    """Every column as the database holds it (text form and storage type), extracted_at aside."""
    engine = staging.engine
    with engine.connect() as conn:
        columns = [c["name"] for c in sa.inspect(conn).get_columns(table) if c["name"] != "extracted_at"]
        if engine.dialect.name == "sqlite":
            select = ", ".join(f'CAST("{c}" AS TEXT), typeof("{c}")' for c in columns)
        else:
            select = ", ".join(f'"{c}"::text, pg_typeof("{c}")::text' for c in columns)
        rows = conn.exec_driver_sql(f'SELECT {select} FROM "{table}"').all()
    out = {}
    for row in rows:
        values = dict(zip(columns, zip(row[0::2], row[1::2])))
        values["raw"] = json.loads(values["raw"][0])  # same JSON value; spacing differs by design
        out[values["id"][0]] = values
    return out


def _read_back(staging, table: str) -> dict[str, dict]:
    writer_table = sa.Table(table, sa.MetaData(), autoload_with=staging.engine)
    with staging.engine.connect() as conn:
        return {r["id"]: {k: v for k, v in r.items() if k != "extracted_at"}
                for r in conn.execute(sa.select(writer_table)).mappings()}


def _bound_without_raw(writer: StagingWriter, params: list, columns: tuple[str, ...] | None = None) -> list[tuple]:
    """Rows as dicts of every column but raw and extracted_at; a column a page left out is None."""
    names = [c.name for c in writer.table.columns]
    keep = [n for n in names if n not in ("raw", "extracted_at")]
    rows = [p if isinstance(p, dict) else dict(zip(columns or names, p)) for p in params]
    return [{n: row.get(n) for n in keep} for row in rows]


def _write_parsed(writer: StagingWriter, page: list) -> int:
    """Write and commit a page as the extracts do: parsed from its JSON text, with each record's text."""
    records = json_records.loads(json.dumps(page, ensure_ascii=False).encode())
    written = writer.write(writer.prepare(records, json_records.record_texts(records)))
    writer.close()
    return written


def _assert_binds_like_the_reference(staging, writer: StagingWriter, records: list[dict]) -> None:
    page = writer.prepare(records)
    now = dt.datetime.now(dt.timezone.utc)
    rows = list({r["id"]: r for r in (writer.builder.build(rec, now) for rec in records)}.values())
    with staging.engine.connect() as conn:
        expected = Upserter(conn, writer.table).params(rows)
    assert _bound_without_raw(writer, page.params, page.columns) == _bound_without_raw(writer, expected)
    if staging.engine.dialect.name == "sqlite":  # a column null in every row is left out, only such a one
        left_out = set(writer.rows.names) - set(page.columns)
        assert all(row[n] is None for row in _bound_without_raw(writer, expected) for n in left_out)
        assert all(any(row[n] is not None for row in _bound_without_raw(writer, expected))
                   for n in page.columns if n not in ("raw", "extracted_at"))
    assert page.ids == [r["id"] for r in rows] and page.modified == [r["modified_at"] for r in rows]
    assert page.invalid == [(r["id"], r["invalid_reason"]) for r in rows if r["invalid_reason"]]
    assert page.deleted == sum(1 for r in rows if r["is_deleted"])


def test_a_page_binds_and_stores_exactly_what_the_reference_does(staging):
    page = [_record(i) for i in range(10, 60)] + ODD_BUT_VALID
    writer = _writer(staging, "sf_fast")
    _assert_binds_like_the_reference(staging, writer, page)
    assert _write_parsed(writer, page) == len(page)
    _reference_write(staging, "sf_ref", page)
    assert _stored(staging, "sf_fast") == _stored(staging, "sf_ref")
    assert _read_back(staging, "sf_fast") == _read_back(staging, "sf_ref")
    assert writer.counts == {"rows": len(page), "deleted": 1}
    assert writer.max_modified == max(_builder_sf().build(r, None)["modified_at"] for r in page)
    row = _read_back(staging, "sf_fast")[_record(5)["Id"]]
    assert row["is_deleted"] is True and row["active__c"] is False and row["createddate"].microsecond == 999000
    # raw is the record's JSON text: the same JSON value.
    raw = _read_back(staging, "sf_fast")[_record(1)["Id"]]["raw"]
    assert (json.loads(raw) if isinstance(raw, str) else raw) == ODD_BUT_VALID[0]


def test_malformed_records_are_staged_with_the_reference_reason_and_the_rest_lands(staging):
    good = [_record(i) for i in range(20)]
    page = good[:5] + MALFORMED[:4] + good[5:15] + MALFORMED[4:] + good[15:]
    writer = _writer(staging, "sf_fast")
    _assert_binds_like_the_reference(staging, writer, page)
    assert _write_parsed(writer, page) == len(page)
    _reference_write(staging, "sf_ref", page)
    rows = _read_back(staging, "sf_fast")
    assert rows == _read_back(staging, "sf_ref") and _stored(staging, "sf_fast") == _stored(staging, "sf_ref")
    assert {r["Id"] for r in good} <= set(rows) and len(rows) == len(page)
    bad_datetime = MALFORMED[0]["Id"]
    assert rows[bad_datetime]["invalid_reason"].startswith("CreatedDate: unparseable datetime")
    assert rows[bad_datetime]["createddate"] is None and rows[bad_datetime]["name"] == "Account 100"
    missing = [r for r in rows.values() if r["id"].startswith("missing-id-")]
    assert len(missing) == 1 and "missing required field Id" in missing[0]["invalid_reason"]
    assert "not a boolean" in rows[MALFORMED[2]["Id"]]["invalid_reason"]
    assert "missing required field SystemModstamp" in rows[MALFORMED[3]["Id"]]["invalid_reason"]
    assert rows[MALFORMED[4]["Id"]]["invalid_reason"] == ("Probability: not a number: 'lots'; "
                                                          "CloseDate: unparseable date: '2026-02-30'")
    assert writer.counts == {"rows": len(page), "invalid": len(MALFORMED)}
    assert [s["id"] for s in writer.invalid_sample] == [r["id"] for r in rows.values() if r["invalid_reason"]][:10]


def test_xero_records_bind_like_the_reference_malformed_ones_included(staging):
    invoice = XERO_OBJECTS["invoices"]
    builder = row_builder_for(invoice)
    base = {"Type": "ACCREC", "Contact": {"ContactID": "c-1", "Name": "Acme"}, "Date": "/Date(1730764800000+0000)/",
            "DueDate": "/Date(1733356800000+0000)/", "Status": "AUTHORISED", "LineAmountTypes": "Exclusive",
            "SubTotal": 100.0, "TotalTax": 0.0, "Total": 100.0, "AmountDue": 100.0, "CurrencyCode": "EUR",
            "CurrencyRate": 1, "LineItems": [{"Description": "x", "LineAmount": 100.0}]}
    records = [{**base, "InvoiceID": f"inv-{i}", "UpdatedDateUTC": f"/Date({1732153357196 + i}+0000)/"}
               for i in range(30)]
    records[3]["Status"] = "NEWSTATUS"
    records[4]["Date"] = "junk"
    records[5]["Contact"] = None
    records[6]["Status"] = ["not", "hashable"]
    records[7]["UpdatedDateUTC"] = "2026-01-01T00:00:00"
    records[8]["Total"] = "100.5"
    del records[9]["InvoiceID"]
    records[10]["Status"] = "VOIDED"
    records.append({**records[0], "Reference": "second copy"})  # a repeated id: the last copy wins
    writer = _writer(staging, "xero_fast", builder=builder)
    _assert_binds_like_the_reference(staging, writer, records)
    writer.write_page(records)
    _reference_write(staging, "xero_ref", records, builder)
    assert _stored(staging, "xero_fast") == _stored(staging, "xero_ref")
    assert writer.counts == {"rows": 30, "deleted": 1, "invalid": 5}
    assert _read_back(staging, "xero_fast")["inv-0"]["reference"] == "second copy"


@pytest.mark.parametrize("case", ["repeated id", "nested value", "impossible date", "empty", "not objects"])
def test_odd_pages_give_the_reference_result(staging, case):
    page = [_record(i) for i in range(10)]
    if case == "repeated id":
        page.append(_record(3, Name="second copy", SystemModstamp="2026-11-21T06:00:00.000+0000"))
    elif case == "nested value":
        page[4]["Description"] = {"not": "a string"}
    elif case == "impossible date":
        page[4]["CloseDate"] = "2026-02-30"
        page[5]["CreatedDate"] = "2026-02-30T10:00:00.000+0000"
    elif case == "empty":
        page = []
    writer = _writer(staging, "sf_fast")
    if case == "not objects":
        with pytest.raises(AttributeError):  # as the reference: a page of non-objects is not records
            _write_parsed(writer, [1, 2])
        return
    assert _write_parsed(writer, page) == len(_reference_write(staging, "sf_ref", page))
    assert _read_back(staging, "sf_fast") == _read_back(staging, "sf_ref")
    if case == "repeated id":
        assert _read_back(staging, "sf_fast")[_record(3)["Id"]]["name"] == "second copy"
        assert writer.counts["rows"] == 10


def test_guard_holds_and_the_cursor_is_saved_with_the_page(staging):
    newer = _record(1, Name="newer", SystemModstamp="2026-11-22T00:00:00.000+0000")
    older = _record(1, Name="older", SystemModstamp="2026-11-21T00:00:00.000+0000")
    writer = _writer(staging, "sf_guard", advance_cursor=True)
    with staging.engine.begin() as conn:
        save_state(conn, writer.state)
    writer.write_page([newer])
    _write_parsed(writer, [older, _record(2)])  # a rerun of an earlier window
    rows = _read_back(staging, "sf_guard")
    assert rows[newer["Id"]]["name"] == "newer" and rows[_record(2)["Id"]]["name"] == "Account 2"
    assert writer.counts["rows"] == 3  # counted as read
    newest = _record(1, Name="newest", SystemModstamp="2026-11-23T00:00:00.000+0000")
    _write_parsed(writer, [newest, _record(3)])
    assert _read_back(staging, "sf_guard")[newest["Id"]]["name"] == "newest"
    with staging.engine.connect() as conn:
        state = load_state(conn, "sf_guard")
    assert (state.cursor_id, state.cursor_modified_at.isoformat()) == (_record(3)["Id"], "2026-11-21T05:49:03.003000+00:00")
    # A malformed record last in the page carries the cursor too.
    _write_parsed(writer, [_record(4), _record(5, CreatedDate="junk")])
    with staging.engine.connect() as conn:
        assert load_state(conn, "sf_guard").cursor_id == _record(5)["Id"]


def test_a_failed_page_commits_nothing_and_the_next_page_still_lands(staging):
    writer = _writer(staging, "sf_fail")
    writer.write_page([_record(1)])
    page = writer.prepare([_record(2)])
    page.params[0] = page.params[0][:-1] + (object(),)  # a value no driver can bind
    with pytest.raises(Exception, match="object"):  # the driver's own error, naming the type
        writer.write(page)
    assert set(_read_back(staging, "sf_fail")) == {_record(1)["Id"]} and writer.counts["rows"] == 1
    writer.write_page([_record(3)])
    assert set(_read_back(staging, "sf_fail")) == {_record(1)["Id"], _record(3)["Id"]}


@pytest.mark.parametrize("with_texts", [False, True])
def test_pages_commit_in_batches_and_an_error_rolls_back_only_the_uncommitted_ones(staging, with_texts):
    writer = _writer(staging, "sf_batch", advance_cursor=True, commit_rows=5)
    pages = [[_record(i) for i in range(k * 3, k * 3 + 3)] for k in range(4)]

    def source():
        for page in pages[:3]:
            yield page
        raise RuntimeError("the source broke")

    def prepare(page):
        return writer.prepare(page, json_records.record_texts(page) if with_texts else None)

    with pytest.raises(RuntimeError, match="the source broke"):
        writer.load(source(), prepare)
    # Pages 0 and 1 (6 rows >= 5) were committed with their cursor; page 2 was rolled back.
    committed = {r["Id"] for page in pages[:2] for r in page}
    assert set(_read_back(staging, "sf_batch")) == committed
    with staging.engine.connect() as conn:
        assert load_state(conn, "sf_batch").cursor_id == pages[1][-1]["Id"]
    # The connection (SQLite's write lock) was given back: another writer goes on.
    other = _writer(staging, "sf_batch", advance_cursor=True)
    other.load(iter(pages[2:]), other.prepare)
    assert set(_read_back(staging, "sf_batch")) == {r["Id"] for page in pages for r in page}
    with staging.engine.connect() as conn:
        assert load_state(conn, "sf_batch").cursor_id == pages[3][-1]["Id"]
    assert other.counts["rows"] == 6


def test_a_load_that_fails_before_its_first_commit_leaves_the_next_one_working(staging):
    writer = _writer(staging, "sf_first")

    def source():
        yield [_record(1)]
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError):
        writer.load(source(), writer.prepare)
    assert _read_back(staging, "sf_first") == {}
    again = _writer(staging, "sf_first")  # the same pooled connection: its session state is intact
    again.load(iter([[_record(1)], [_record(2)]]), again.prepare)
    assert set(_read_back(staging, "sf_first")) == {_record(1)["Id"], _record(2)["Id"]}


def test_a_load_gives_the_connection_back_with_its_own_settings(staging):
    sqlite = staging.engine.dialect.name == "sqlite"

    def settings():
        with staging.engine.connect() as conn:
            return [conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in ("cache_size", "wal_autocheckpoint")] \
                if sqlite else []

    before = settings()
    # A commit after every page: on SQLite each one has the WAL checkpointed by a thread of its own.
    writer = _writer(staging, "sf_settings", commit_rows=1)
    writer.load(iter([[_record(i)] for i in range(6)]), writer.prepare)
    assert settings() == before and writer.counts["rows"] == 6 and len(_read_back(staging, "sf_settings")) == 6
    assert not [t for t in threading.enumerate() if t.name == "sfxero-checkpoint"]
    if sqlite:
        with staging.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def test_json_records_read_and_write_what_json_does():
    records = [_record(i) for i in range(5)] + ODD_BUT_VALID + [{}, {"a": [1, {"b": "},{"}]}]
    text = json.dumps({"Invoices": records}, ensure_ascii=False)
    assert json_records.loads(text.encode()) == json_records.loads(text) == json.loads(text)
    assert [json.loads(r) for r in json_records.record_texts(records)] == records
    # What orjson refuses, json reads (and fails on with its own error).
    assert json_records.loads('{"a": NaN, "b": "\\ud800"}')["b"] == "\ud800"
    with pytest.raises(json.JSONDecodeError):
        json_records.loads("[1,]")
    huge = {"n": 10 ** 30}
    assert json_records.record_texts([huge, {"m": 1}]) == ['{"n": 1000000000000000000000000000000}', '{"m":1}']


def test_page_records_are_clean_record_of_each_with_their_texts():
    records = [{"attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{i}"}, "Id": str(i),
                "Name": 'a "b" {c} [d]'} for i in range(3)]
    nested = [{"attributes": {"type": "Contact"}, "Id": "003",
               "Account": {"attributes": {"type": "Account", "url": "/x"}, "Name": "A"}}]
    # "attributes" as a value, and a record without its own: each is still clean_record of it.
    odd = [{"attributes": {"type": "Account"}, "Id": "1", "Name": "attributes"}, {"Id": "2", "Name": "x"}]
    for body in ({"totalSize": 3, "done": False, "nextRecordsUrl": "/services/data/v59.0/query/01g-3",
                  "records": records},
                 {"records": records, "totalSize": 3, "done": True},
                 {"totalSize": 1, "done": True, "records": nested},
                 {"totalSize": 2, "done": True, "records": odd},
                 {"totalSize": 0, "done": True, "records": []}):
        for separators in ((",", ":"), (", ", ": ")):
            raw = json.dumps(body, separators=separators).encode()
            envelope, _ = split_query_page(raw)
            assert envelope == {k: v for k, v in body.items() if k != "records"}
            records, texts = page_records(raw)
            assert records == [clean_record(r) for r in body["records"]] == [json.loads(t) for t in texts]


def test_pipeline_keeps_order_reraises_and_stops_its_threads():
    assert list(pipeline(iter(range(50)), lambda x: x * 2)) == [x * 2 for x in range(50)]

    def failing(x):
        if x == 7:
            raise RuntimeError("bad page")
        return x

    with pytest.raises(RuntimeError, match="bad page"):
        list(pipeline(iter(range(20)), failing))

    fetched = []

    def pages():
        for i in range(1000):
            fetched.append(i)
            yield i

    before = threading.active_count()
    for i, page in enumerate(pipeline(pages(), lambda x: x)):
        if i == 3:
            break
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before  # both stages stopped
    assert len(fetched) < 20  # the source was closed, not drained


def test_a_new_table_takes_pages_whole_until_an_id_repeats_then_upserts_with_the_guard(staging):
    # On PostgreSQL, into a table it created, the writer COPYs pages straight into the table; the
    # page with an id already there is undone alone and goes through the upsert, as do the rest.
    pages = [[_record(i) for i in range(0, 5)], [_record(i) for i in range(5, 10)],
             [_record(2, Name="older copy", SystemModstamp="2026-11-20T00:00:00.000+0000"),
              _record(7, Name="newer copy", SystemModstamp="2026-11-22T00:00:00.000+0000"), _record(10)],
             [_record(11)]]
    writer = _writer(staging, "sf_new", advance_cursor=True)
    writer.load(iter(pages), lambda page: writer.prepare(page, json_records.record_texts(page)))
    _reference_write(staging, "sf_ref", [r for page in pages[:2] for r in page])
    _reference_write(staging, "sf_ref", pages[2] + pages[3])
    rows = _read_back(staging, "sf_new")
    assert rows == _read_back(staging, "sf_ref") and _stored(staging, "sf_new") == _stored(staging, "sf_ref")
    assert rows[_record(2)["Id"]]["name"] == "Account 2" and rows[_record(7)["Id"]]["name"] == "newer copy"
    assert len(rows) == 12 and writer.counts["rows"] == 14
    with staging.engine.connect() as conn:
        assert load_state(conn, "sf_new").cursor_id == _record(11)["Id"]


def test_the_collector_is_paused_during_a_load_and_given_back_as_it_was(staging):
    import gc

    seen = []
    writer = _writer(staging, "sf_gc")

    def prepare(page):
        seen.append(gc.isenabled())
        return writer.prepare(page)

    def failing():
        yield [_record(1)]
        raise RuntimeError("the source broke")

    assert gc.isenabled()
    writer.load(iter([[_record(2)], [_record(3)]]), prepare)
    with pytest.raises(RuntimeError):
        writer.load(failing(), prepare)
    assert seen == [False] * 3 and gc.isenabled()
    gc.disable()  # a caller that turned it off keeps it off
    try:
        writer.load(iter([[_record(4)]]), prepare)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_money_binds_on_postgresql_as_the_server_casts_the_float(pg_url):
    # Money is bound as a Decimal on PostgreSQL (so a binary COPY can write it): it must store what
    # binding the float did, PostgreSQL's float8 -> numeric(18,4) cast.
    import random
    from decimal import Decimal

    from sfxero_pipelines.settings import engine_for
    from sfxero_pipelines.staging.tables import _pg_numeric

    rng = random.Random(5)
    floats = [0.1 + 0.2, 12345678901234.567, -0.00005, 0.00005, 2.5e-05, 1.5e-05, 1e-7, 0.0, -0.0, 1234.5678,
              99999999999999.99 / 10, 1e-300, 31424000.0, -7.0, 99999999999999.0, 2.0 ** 46 + 1,
              *(float(rng.randrange(-10**13, 10**13)) for _ in range(1000)), *(rng.uniform(-1e13, 1e13) for _ in range(3000)),
              *(rng.uniform(-10, 10) for _ in range(3000)), *(round(rng.uniform(-1e6, 1e6), 2) for _ in range(3000))]
    engine = engine_for(pg_url)
    with engine.connect() as conn:
        differ = conn.exec_driver_sql(
            "SELECT count(*) FROM unnest(%s::float8[], %s::numeric[]) AS t(f, d) "
            "WHERE CAST(f AS numeric(18, 4)) IS DISTINCT FROM CAST(d AS numeric(18, 4))",
            (floats, [Decimal(_pg_numeric(f)) for f in floats])).scalar()  # an int for a whole amount
    engine.dispose()
    assert differ == 0


def _refuse(staging, table: str) -> None:
    """Make the database itself refuse some rows of `table`: a Name 'Refused Co' or a million
    employees (the row can be staged without them), the id 'unstorable' (it cannot)."""
    with staging.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT refused_values CHECK "
                                 "(name IS DISTINCT FROM 'Refused Co' AND coalesce(numberofemployees, 0) < 1000000)")
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT refused_id CHECK (id <> 'unstorable')")
        else:
            conn.exec_driver_sql(f"CREATE TRIGGER refused_values BEFORE INSERT ON {table} WHEN NEW.name = 'Refused Co' "
                                 "OR NEW.numberofemployees >= 1000000 BEGIN SELECT RAISE(ABORT, 'refused value'); END")
            conn.exec_driver_sql(f"CREATE TRIGGER refused_id BEFORE INSERT ON {table} WHEN NEW.id = 'unstorable' "
                                 "BEGIN SELECT RAISE(ABORT, 'refused id'); END")


@pytest.mark.parametrize("new_table", [True, False], ids=["new-table", "existing-table"])
def test_a_row_the_database_refuses_is_staged_with_its_reason_and_its_page_lands(staging, new_table):
    table = "sf_refuse"
    writer = _writer(staging, table, advance_cursor=True)
    if not new_table:
        writer.write_page([_record(100)])  # ids already there: the upsert path, not the straight COPY
        writer = _writer(staging, table, advance_cursor=True)
    _refuse(staging, table)
    with staging.engine.begin() as conn:
        save_state(conn, writer.state)
    first = [_record(i) for i in range(1, 4)]
    refused = _record(5, Name="Refused Co", NumberOfEmployees=5_000_000)
    unstorable = _record(6, Id="unstorable")
    second = [_record(4), refused, unstorable, _record(7, Name=None), _record(8)]
    writer.write(writer.prepare(first))  # the same transaction as the refused page: must survive it
    writer.write(writer.prepare(second, json_records.record_texts(second)))
    writer.close()

    rows = _read_back(staging, table)
    expected = {r["Id"] for r in first + second if r is not unstorable} | ({_record(100)["Id"]} if not new_table else set())
    assert set(rows) == expected
    bad = rows[refused["Id"]]
    assert bad["name"] is None and bad["numberofemployees"] is None and bad["annualrevenue"] == refused["AnnualRevenue"]
    assert "Name: the database refused 'Refused Co'" in bad["invalid_reason"]
    assert "NumberOfEmployees: the database refused 5000000" in bad["invalid_reason"]
    raw = json.loads(bad["raw"]) if isinstance(bad["raw"], str) else bad["raw"]
    assert raw["Name"] == "Refused Co"  # the source's value stays in raw
    assert all(rows[i]["invalid_reason"] is None for i in expected - {refused["Id"]})
    assert rows[_record(8)["Id"]]["name"] == "Account 8"
    with staging.engine.connect() as conn:
        holds = conn.execute(sa.select(held_record.c.stage, held_record.c.record_id, held_record.c.reason)
                             .where(held_record.c.table_name == table)).all()
        assert load_state(conn, table).cursor_id == _record(8)["Id"]  # past the refused and held rows
    assert [(stage, record_id) for stage, record_id, _ in holds] == [("extract", "unstorable")]
    assert holds[0].reason.startswith("the database refused the record: ")
    assert writer.counts["rows"] == 7 and writer.counts["invalid"] == 2 and writer.counts["held"] == 1
    assert {s["id"] for s in writer.invalid_sample} == {refused["Id"], "unstorable"}

    # A rerun of the held record updates its hold, not a second one; the rest of that page lands.
    again = _writer(staging, table, advance_cursor=True)
    again.write_page([unstorable, _record(9)])
    open_holds = sa.select(sa.func.count()).select_from(held_record).where(held_record.c.released_at.is_(None))
    with staging.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(held_record)).scalar_one() == 1
        assert conn.execute(open_holds).scalar_one() == 1
    assert _record(9)["Id"] in _read_back(staging, table)
    # Once the database takes it, the record is staged and its hold released.
    with staging.engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT refused_id" if conn.dialect.name == "postgresql"
                             else "DROP TRIGGER refused_id")
    _writer(staging, table, advance_cursor=True).write_page([unstorable])
    assert "unstorable" in _read_back(staging, table)
    with staging.engine.connect() as conn:
        assert conn.execute(open_holds).scalar_one() == 0


def test_numbers_no_column_holds_are_flagged_and_the_rest_of_the_page_lands(staging):
    """NaN and Infinity (json.loads reads them) and an integer beyond 64 bits: the record is staged
    with that column null and the reason, on both backends, its JSON raw included."""
    writer = _writer(staging, "sf_numbers")
    body = ('[{"Id": "001000000000000001", "AnnualRevenue": NaN, "Probability": Infinity, '
            '"SystemModstamp": "2026-11-21T05:49:01.001+0000"},'
            '{"Id": "001000000000000002", "NumberOfEmployees": 123456789012345678901234, '
            '"SystemModstamp": "2026-11-21T05:49:02.002+0000"},'
            '{"Id": "001000000000000003", "AnnualRevenue": 1e15, "NumberOfEmployees": 9223372036854775807, '
            '"SystemModstamp": "2026-11-21T05:49:03.003+0000"}]')
    records = json_records.loads(body)
    for texts in (None, json_records.record_texts(records)):
        writer.write(writer.prepare(records, texts))
        writer.close()
        rows = _read_back(staging, "sf_numbers")
        assert set(rows) == {r["Id"] for r in records}
        first, second, third = (rows[r["Id"]] for r in records)
        assert first["annualrevenue"] is None and first["probability"] is None
        assert "AnnualRevenue: not a finite number: nan" in first["invalid_reason"]
        assert "Probability: not a finite number: inf" in first["invalid_reason"]
        assert second["numberofemployees"] is None
        assert "NumberOfEmployees: out of range for a 64-bit integer" in second["invalid_reason"]
        assert third["invalid_reason"] is None and third["annualrevenue"] == 1e15
        assert third["numberofemployees"] == 2 ** 63 - 1
