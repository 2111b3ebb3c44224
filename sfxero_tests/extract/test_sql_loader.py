"""The SQL page loader (`StagingWriter.write_json_page`) against the Python path (`write_page`), on
SQLite and the real PostgreSQL:
- the same page stages the same stored values, column for column (as the database holds them);
- malformed records (a bad datetime, a missing id, ...) are staged with the Python path's flag and
  reason while the rest of the page lands through SQL, and the counts and sample match;
- pages the SQL cannot take whole (a repeated id, a nested value, a date PostgreSQL refuses) fall
  back to the Python path for the page, with the same result;
- the modified-timestamp guard holds across both paths; the cursor is saved with the page.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from sfxero_pipelines.defs.salesforce.client import clean_record, page_records_json, split_query_page
from sfxero_pipelines.defs.salesforce.extract import field_specs
from sfxero_pipelines.extract.rows import RowBuilder
from sfxero_pipelines.extract.state import ExtractState, load_state
from sfxero_pipelines.extract.writer import StagingWriter

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
    _record(5, IsDeleted=True, Active__c=False, CreatedDate="2024-02-29T23:59:59.999Z"),
    _record(6, AnnualRevenue=-0.00005, Probability=1.5e300, Description="x" * 5000),
    {k: v for k, v in _record(7).items() if k not in ("Name", "CloseDate", "Active__c")},  # absent fields
]


def _writer(staging, table: str, *, advance_cursor: bool = False) -> StagingWriter:
    builder = RowBuilder(field_specs(DESCRIBE), id_field="Id", modified_field="SystemModstamp",
                         is_deleted=lambda r: r.get("IsDeleted") in (True, "true"))
    return StagingWriter(staging.engine, table, builder, ExtractState(table), run_id="t",
                         advance_cursor=advance_cursor, json_deleted_field="IsDeleted")


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


def _no_python_page(writer: StagingWriter, monkeypatch) -> None:
    def refuse(records):
        raise AssertionError("the page took the Python path")
    monkeypatch.setattr(writer, "write_page", refuse)


def test_sql_path_stores_exactly_what_the_python_path_stores(staging, monkeypatch):
    page = [_record(i) for i in range(10, 60)] + ODD_BUT_VALID
    sql, py = _writer(staging, "sf_sql"), _writer(staging, "sf_py")
    _no_python_page(sql, monkeypatch)
    assert sql.write_json_page(json.dumps(page, separators=(",", ":"), ensure_ascii=False)) == len(page)
    py.write_page(page)
    assert _stored(staging, "sf_sql") == _stored(staging, "sf_py")
    assert _read_back(staging, "sf_sql") == _read_back(staging, "sf_py")
    assert sql.counts == py.counts and sql.counts["deleted"] == 1 and sql.counts["invalid"] == 0
    assert sql.max_modified == py.max_modified
    # SQLAlchemy reads SQL-written rows back as typed values, as it does Python-written ones.
    row = _read_back(staging, "sf_sql")[_record(5)["Id"]]
    assert row["is_deleted"] is True and row["active__c"] is False and row["createddate"].microsecond == 999000


def test_malformed_records_are_staged_with_a_reason_and_the_rest_lands(staging, monkeypatch):
    good = [_record(i) for i in range(20)]
    bad_datetime = _record(100, CreatedDate="2026-13-45T99:00:00.000+0000")
    no_id = {k: v for k, v in _record(101).items() if k != "Id"}
    bad_bool, text_int = _record(102, Active__c="yes"), _record(103, NumberOfEmployees="12")
    no_modstamp = _record(104, SystemModstamp=None)
    page = good[:5] + [bad_datetime, no_id] + good[5:15] + [bad_bool, text_int, no_modstamp] + good[15:]
    sql, py = _writer(staging, "sf_sql"), _writer(staging, "sf_py")
    _no_python_page(sql, monkeypatch)  # the good records go through SQL, only the odd ones through Python
    assert sql.write_json_page(json.dumps(page)) == len(page)
    py.write_page(page)
    rows = _read_back(staging, "sf_sql")
    assert rows == _read_back(staging, "sf_py") and _stored(staging, "sf_sql") == _stored(staging, "sf_py")
    assert {r["Id"] for r in good} <= set(rows) and len(rows) == len(page)
    assert rows[bad_datetime["Id"]]["invalid_reason"].startswith("CreatedDate: unparseable datetime")
    assert rows[bad_datetime["Id"]]["createddate"] is None and rows[bad_datetime["Id"]]["name"] == "Account 100"
    missing = [r for r in rows.values() if r["id"].startswith("missing-id-")]
    assert len(missing) == 1 and "missing required field Id" in missing[0]["invalid_reason"]
    assert "not a boolean" in rows[bad_bool["Id"]]["invalid_reason"]
    assert rows[text_int["Id"]]["invalid_reason"] is None and rows[text_int["Id"]]["numberofemployees"] == 12
    assert "missing required field SystemModstamp" in rows[no_modstamp["Id"]]["invalid_reason"]
    assert sql.counts == py.counts and sql.counts["invalid"] == 4
    assert sql.invalid_sample == py.invalid_sample


@pytest.mark.parametrize("case", ["repeated id", "nested value", "impossible date", "empty"])
def test_pages_the_sql_cannot_take_whole_take_the_python_path(staging, case):
    page = [_record(i) for i in range(10)]
    if case == "repeated id":
        page.append(_record(3, Name="second copy", SystemModstamp="2026-11-21T06:00:00.000+0000"))
    elif case == "nested value":
        page[4]["Description"] = {"not": "a string"}
    elif case == "impossible date":  # passes the shape check; PostgreSQL's cast refuses it
        page[4]["CloseDate"] = "2026-02-30"
        page[5]["CreatedDate"] = "2026-02-30T10:00:00.000+0000"
    elif case == "empty":
        page = []
    sql, py = _writer(staging, "sf_sql"), _writer(staging, "sf_py")
    assert sql.write_json_page(json.dumps(page)) == py.write_page(page)
    assert _read_back(staging, "sf_sql") == _read_back(staging, "sf_py")
    assert sql.counts == py.counts and sql.invalid_sample == py.invalid_sample
    if case == "repeated id":
        assert _read_back(staging, "sf_sql")[_record(3)["Id"]]["name"] == "second copy"


def test_guard_holds_across_paths_and_the_cursor_is_saved_with_the_page(staging, monkeypatch):
    newer = _record(1, Name="newer", SystemModstamp="2026-11-22T00:00:00.000+0000")
    older = _record(1, Name="older", SystemModstamp="2026-11-21T00:00:00.000+0000")
    sql = _writer(staging, "sf_guard", advance_cursor=True)
    sql.write_page([newer])
    _no_python_page(sql, monkeypatch)
    sql.write_json_page(json.dumps([older, _record(2)]))  # a rerun of an earlier window
    rows = _read_back(staging, "sf_guard")
    assert rows[newer["Id"]]["name"] == "newer" and rows[_record(2)["Id"]]["name"] == "Account 2"
    assert sql.counts["rows"] == 3  # counted as read, as write_page counts them
    newest = _record(1, Name="newest", SystemModstamp="2026-11-23T00:00:00.000+0000")
    sql.write_json_page(json.dumps([newest, _record(3)]))
    assert _read_back(staging, "sf_guard")[newest["Id"]]["name"] == "newest"
    with staging.engine.connect() as conn:
        state = load_state(conn, "sf_guard")
    assert (state.cursor_id, state.cursor_modified_at.isoformat()) == (_record(3)["Id"], "2026-11-21T05:49:03.003000+00:00")
    # A left-over record last in the page carries the cursor too.
    sql.write_json_page(json.dumps([_record(4), _record(5, CreatedDate="junk")]))
    with staging.engine.connect() as conn:
        assert load_state(conn, "sf_guard").cursor_id == _record(5)["Id"]


def test_page_records_json_is_clean_record_of_each():
    records = [{"attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{i}"}, "Id": str(i),
                "Name": 'a "b" {c} [d]'} for i in range(3)]
    nested = [{"attributes": {"type": "Contact"}, "Id": "003",
               "Account": {"attributes": {"type": "Account", "url": "/x"}, "Name": "A"}}]
    for body in ({"totalSize": 3, "done": False, "nextRecordsUrl": "/services/data/v59.0/query/01g-3",
                  "records": records},
                 {"records": records, "totalSize": 3, "done": True},
                 {"totalSize": 1, "done": True, "records": nested},
                 {"totalSize": 0, "done": True, "records": []}):
        for separators in ((",", ":"), (", ", ": ")):
            raw = json.dumps(body, separators=separators).encode()
            envelope, _ = split_query_page(raw)
            assert envelope == {k: v for k, v in body.items() if k != "records"}
            assert json.loads(page_records_json(raw)) == [clean_record(r) for r in body["records"]]
