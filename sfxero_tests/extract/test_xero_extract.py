"""Xero extract into staging, on SQLite and the real PostgreSQL, through real Dagster runs against
the Xero emulator over HTTPS:
- a full extract equals the emulator's records, field for field;
- a change, a new record, a void and an archive made through the API between runs arrive
  (deletes as `is_deleted`, never a disappearance);
- a record written in the same second as the cursor is not lost;
- rematerializing one partition fixes exactly its window; a 30-day backfill equals a full extract;
- malformed records are staged with a reason, and the rest of the page still lands.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

from sfxero_pipelines.defs.xero.assets import build_xero_extract_asset
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS

from ..conftest import sandbox_call
from .conftest import FAST_XERO, materialize, metadata_of, staged, today, xero_resource

PAGED = ["contacts", "invoices", "bills", "credit_notes", "bank_transactions", "payments"]
REFERENCE = ["items", "accounts", "tax_rates", "currencies"]


def _ms(day: dt.date, hour: int = 12) -> str:
    stamp = dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone.utc)
    return f"/Date({int(stamp.timestamp() * 1000)}+0000)/"


def _invoice(contact_id: str, day: dt.date, *, status: str = "AUTHORISED", number: str | None = None, **extra) -> dict:
    return {"InvoiceID": str(uuid.uuid4()), "Type": "ACCREC", "Contact": {"ContactID": contact_id}, "Status": status,
            "InvoiceNumber": number or f"INV-{uuid.uuid4().hex[:6]}", "Date": _ms(day, 0), "DueDate": _ms(day, 0),
            "LineAmountTypes": "Exclusive", "CurrencyCode": "USD", "UpdatedDateUTC": _ms(day),
            "LineItems": [{"Description": "Consulting", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200",
                           "TaxType": "OUTPUT"}], **extra}


def _records(server, collection: str) -> dict[str, dict]:
    rows = sandbox_call(server, "xero", "GET", f"/__sandbox/records/{collection}")
    id_field = XERO_OBJECTS[next(k for k, o in XERO_OBJECTS.items() if o.collection == collection)].id_field
    return {r[id_field]: r for r in rows}


def _run(server, staging, keys: list[str], **kwargs):
    # Built now: the partitions follow the configuration in force (see `past_days`).
    return materialize([build_xero_extract_asset(XERO_OBJECTS[k]) for k in keys],
                       {"xero": xero_resource(server), "staging": staging}, **kwargs)


def test_full_extract_equals_emulator_records(make_sandbox, staging):
    server = make_sandbox(xero_limits=FAST_XERO)
    assert _run(server, staging, PAGED, partition=today()).success
    assert _run(server, staging, REFERENCE).success
    for key in PAGED + REFERENCE:
        obj = XERO_OBJECTS[key]
        expected = _records(server, obj.collection)
        if obj.where:  # invoices and bills share /Invoices
            wanted_type = obj.where.split('"')[1]
            expected = {k: v for k, v in expected.items() if v["Type"] == wanted_type}
        rows = staged(staging, obj.table)
        assert set(rows) == set(expected), key
        assert expected, f"the sandbox should hold some {key}"
        for record_id, record in expected.items():
            raw = rows[record_id]["raw"]
            for field, value in record.items():
                if not field.startswith("_"):
                    assert raw.get(field) == value, (key, record_id, field)
            assert rows[record_id]["is_deleted"] == record["_deleted"], (key, record_id)


def test_changes_new_records_and_deletes_arrive(make_sandbox, staging):
    server = make_sandbox(xero_limits=FAST_XERO)
    assert _run(server, staging, ["contacts", "invoices"], partition=today()).success
    contacts, invoices = staged(staging, "xero_contact"), staged(staging, "xero_invoice")
    live_contact = next(c for c in contacts.values() if not c["is_deleted"])
    # Neither paid nor credited: Xero refuses to void an invoice with payments or allocations.
    authorised = next(i for i in invoices.values() if i["status"] == "AUTHORISED" and not i["amount_paid"]
                      and not i["amount_credited"])

    with xero_resource(server).get_client() as client:
        client.write("Contacts", [{"ContactID": live_contact["id"], "EmailAddress": "changed@example.com"}],
                     idempotency_key=str(uuid.uuid4()))
        new_invoice = {k: v for k, v in _invoice(live_contact["id"], today()).items() if k not in ("InvoiceID", "UpdatedDateUTC")}
        created = client.write("Invoices", [new_invoice],
                               method="PUT", idempotency_key=str(uuid.uuid4()))[0]
        client.write("Invoices", [{"InvoiceID": authorised["id"], "Status": "VOIDED"}], idempotency_key=str(uuid.uuid4()))
        other = next(c for c in contacts.values() if not c["is_deleted"] and c["id"] != live_contact["id"]
                     and c["id"] not in {i["contact_id"] for i in invoices.values() if i["status"] in ("DRAFT", "AUTHORISED", "SUBMITTED")})
        client.write("Contacts", [{"ContactID": other["id"], "ContactStatus": "ARCHIVED"}], idempotency_key=str(uuid.uuid4()))

    result = _run(server, staging, ["contacts", "invoices"], partition=today())
    assert result.success
    meta = metadata_of(result, "xero_invoice")
    assert meta["incremental"] is True and meta["rows_staged"] < len(invoices)  # read since the cursor, not all
    contacts, invoices = staged(staging, "xero_contact"), staged(staging, "xero_invoice")
    assert contacts[live_contact["id"]]["email_address"] == "changed@example.com"
    assert created["InvoiceID"] in invoices and not invoices[created["InvoiceID"]]["is_deleted"]
    assert invoices[authorised["id"]]["is_deleted"] and invoices[authorised["id"]]["status"] == "VOIDED"
    assert contacts[other["id"]]["is_deleted"] and contacts[other["id"]]["contact_status"] == "ARCHIVED"


def test_record_written_in_the_cursor_second_is_not_lost(make_sandbox, staging):
    server = make_sandbox(xero_limits=FAST_XERO)
    sandbox_call(server, "xero", "POST", "/__sandbox/clock", {"freeze": True})
    assert _run(server, staging, ["contacts"], partition=today()).success
    with xero_resource(server).get_client() as client:
        first = client.write("Contacts", [{"Name": "Same Second One"}], method="PUT", idempotency_key=str(uuid.uuid4()))[0]
    assert _run(server, staging, ["contacts"], partition=today()).success
    with xero_resource(server).get_client() as client:  # same frozen second as the cursor now
        second = client.write("Contacts", [{"Name": "Same Second Two"}], method="PUT", idempotency_key=str(uuid.uuid4()))[0]
    assert first["UpdatedDateUTC"] == second["UpdatedDateUTC"]
    assert _run(server, staging, ["contacts"], partition=today()).success
    assert {first["ContactID"], second["ContactID"]} <= set(staged(staging, "xero_contact"))


def _dated_fixture() -> tuple[dict, dict[dt.date, list[str]]]:
    contact = {"ContactID": str(uuid.uuid4()), "Name": "Window Test Ltd", "UpdatedDateUTC": _ms(today() - dt.timedelta(days=40))}
    by_day: dict[dt.date, list[str]] = {}
    invoices = []
    for offset in (1, 2, 3, 5, 8, 13, 21, 29):
        day = today() - dt.timedelta(days=offset)
        for _ in range(2):
            inv = _invoice(contact["ContactID"], day)
            invoices.append(inv)
            by_day.setdefault(day, []).append(inv["InvoiceID"])
    return {"xero": {"Contacts": [contact], "Invoices": invoices}}, by_day


def test_rematerializing_one_partition_fixes_exactly_its_window(make_sandbox, staging, past_days):
    fixtures, by_day = _dated_fixture()
    server = make_sandbox(xero_limits=FAST_XERO, fixtures=fixtures)
    days = sorted(by_day)
    assert _run(server, staging, ["invoices"], partition_range=(days[0], today())).success
    broken_day, other_day = days[-2], days[-1]
    with staging.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM xero_invoice WHERE id IN ({','.join(repr(i) for i in by_day[broken_day])})")
        conn.exec_driver_sql(f"UPDATE xero_invoice SET total = -1 WHERE id = '{by_day[other_day][0]}'")
    assert _run(server, staging, ["invoices"], partition=broken_day).success
    rows = staged(staging, "xero_invoice")
    assert set(by_day[broken_day]) <= set(rows)  # its window is repaired
    assert rows[by_day[other_day][0]]["total"] == -1  # nothing outside its window was touched


def test_backfill_over_30_days_equals_full_extract(make_sandbox, staging, tmp_path, past_days):
    from sfxero_pipelines.defs.staging.resources import StagingDatabase

    fixtures, _ = _dated_fixture()
    server = make_sandbox(xero_limits=FAST_XERO, fixtures=fixtures)
    assert _run(server, staging, ["invoices"], partition_range=(today() - dt.timedelta(days=30), today() - dt.timedelta(days=1))).success
    full = StagingDatabase(url=f"sqlite:///{tmp_path / 'full.db'}")
    assert _run(server, full, ["invoices"], partition=today()).success
    backfilled, extracted = staged(staging, "xero_invoice"), staged(full, "xero_invoice")
    assert len(extracted) == 16
    assert set(backfilled) == set(extracted)
    assert all(backfilled[i]["raw"] == extracted[i]["raw"] for i in extracted)
    full.dispose()


def test_malformed_records_are_staged_with_a_reason(make_sandbox, staging):
    contact = {"ContactID": str(uuid.uuid4()), "Name": "Odd Data GmbH"}
    good = _invoice(contact["ContactID"], today())
    unknown_status = _invoice(contact["ContactID"], today(), status="ARCHIVED")
    bad_date = _invoice(contact["ContactID"], today(), DueDate="31/02/2026")
    no_contact = _invoice(contact["ContactID"], today())
    no_contact.pop("Contact")
    server = make_sandbox(xero_limits=FAST_XERO, fixtures={"xero": {"Contacts": [contact], "Invoices": [good]}})
    # The emulator validates what it stores, as Xero does; records a misbehaving API would send are
    # put straight into its store, and it serves them as they are.
    with server.xero.org.lock:
        for record in (unknown_status, bad_date, no_contact):
            server.xero.org.c["Invoices"].put(record)
    result = _run(server, staging, ["invoices"], partition=today())
    assert result.success
    rows = staged(staging, "xero_invoice")
    assert len(rows) == 4, rows.keys()
    assert rows[good["InvoiceID"]]["invalid_reason"] is None
    assert "Status: unknown value 'ARCHIVED'" in rows[unknown_status["InvoiceID"]]["invalid_reason"]
    assert "DueDate" in rows[bad_date["InvoiceID"]]["invalid_reason"] and rows[bad_date["InvoiceID"]]["due_date"] is None
    assert "missing required field Contact.ContactID" in rows[no_contact["InvoiceID"]]["invalid_reason"]
    assert metadata_of(result, "xero_invoice")["invalid_rows"] == 3


def test_metadata_reports_rows_window_calls_and_budget(make_sandbox, staging):
    server = make_sandbox(xero_limits=FAST_XERO)
    result = _run(server, staging, ["invoices"], partition=today())
    meta = metadata_of(result, "xero_invoice")
    assert meta["dagster/row_count"] == len(staged(staging, "xero_invoice")) > 0
    assert meta["window_start"] == "beginning" and meta["window_end"] == "now"
    assert meta["api_calls"]["GET Invoices"] == 1
    assert "day_remaining" in meta["api_budget"]
    # An incremental run with nothing new costs exactly one call.
    again = metadata_of(_run(server, staging, ["invoices"], partition=today()), "xero_invoice")
    assert again["api_calls"].get("GET Invoices") == 1 and again["api_calls_total"] - again["api_calls"].get("token", 0) == 1


def test_pages_make_iter_pages_calls_and_records(make_sandbox):
    from sfxero_pipelines.extract.xero import page_rows, _pages

    sandbox = make_sandbox(xero_limits=FAST_XERO)  # no minute limit: a 429 wait would count a call twice

    since = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0) + dt.timedelta(days=1)
    cases = [("Invoices", 'Type=="ACCREC"', None), ("Contacts", None, None), ("Payments", None, None),
             ("Invoices", None, since)]  # the last: nothing modified since, one call
    for collection, where, modified_since in cases:
        for page_size in (7, 10, 1000):
            args = dict(where=where, order="UpdatedDateUTC ASC", include_archived=True, page_size=page_size,
                        if_modified_since=modified_since)
            with xero_resource(sandbox).get_client() as client:
                expected = list(client.iter_pages(collection, **args))
                expected_calls = dict(client.api_calls)
            with xero_resource(sandbox).get_client() as client:
                pages = [page_rows(page, collection) for page in _pages(client, collection, **args)]
                assert dict(client.api_calls) == expected_calls, (collection, page_size)
            assert [records for records, _ in pages] == expected, (collection, page_size)
            for records, texts in pages:
                assert [json.loads(t) for t in texts] == records


def test_pages_stop_rule_without_a_leading_pagination():
    from sfxero_pipelines.extract.xero import page_rows, _pages

    records = [{"InvoiceID": f"i{n}", "Total": n} for n in range(7)]

    class Client:
        def __init__(self, layout):
            self.layout, self.calls = layout, []

        def get_page(self, collection, page, page_size, **kwargs):
            self.calls.append(page)
            rows = records[(page - 1) * page_size:page * page_size]
            pagination = {"page": page, "pageSize": page_size, "pageCount": 3, "itemCount": len(records)}
            body = {"before": {"Id": "x", "pagination": pagination, "Invoices": rows},
                    "after": {"Invoices": rows, "pagination": pagination},
                    "none": {"Id": "x", "Invoices": rows},
                    "uncounted": {"pagination": {"page": page}, "Invoices": rows}}[self.layout]
            return json.dumps(body).encode()

    for layout in ("before", "after", "none", "uncounted"):
        client = Client(layout)
        pages = [page_rows(p, "Invoices") for p in _pages(
            client, "Invoices", if_modified_since=None, where=None, order="x", include_archived=True, page_size=3)]
        assert client.calls == [1, 2, 3], layout
        assert [r for rows, _ in pages for r in rows] == records
        assert all([json.loads(t) for t in texts] == rows for rows, texts in pages)
