"""The collections around the invoices staged by real Dagster runs against the Xero emulator, on SQLite
and PostgreSQL: quotes, purchase orders, overpayments, prepayments and manual journals by
UpdatedDateUTC window (deletes flagged, malformed staged with a reason, ceil(N/page)+1 calls);
bank transfers, contact groups and tracking categories read whole with their deleted ones;
journals after the last JournalNumber staged, ceil(N/100)+1 calls, their own offset cursor."""

from __future__ import annotations

import datetime as dt
import math
import uuid

import sqlalchemy as sa

from sfxero_pipelines.defs.xero.assets import build_xero_extract_asset
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS

from ..conftest import sandbox_call
from .conftest import FAST_XERO, materialize, metadata_of, staged, today, xero_resource

PARTITIONED = ["quotes", "purchase_orders", "overpayments", "prepayments", "manual_journals"]
WHOLE = ["bank_transfers", "contact_groups", "tracking_categories"]
_DEAD = {"DELETED", "VOIDED", "ARCHIVED"}


def _run(server, staging, keys, **kwargs):
    # Built now: the partitions follow the configuration in force (see `past_days`).
    return materialize([build_xero_extract_asset(XERO_OBJECTS[k]) for k in keys],
                       {"xero": xero_resource(server), "staging": staging}, **kwargs)


def _records(server, key: str) -> dict[str, dict]:
    obj = XERO_OBJECTS[key]
    return {r[obj.id_field]: r for r in sandbox_call(server, "xero", "GET", f"/__sandbox/records/{obj.collection}")}


def _calls(result, table: str, collection: str) -> int:
    return metadata_of(result, table)["api_calls"][f"GET {collection}"]


def test_every_new_object_stages_equal_to_the_emulator(make_sandbox, staging):
    server = make_sandbox(xero_limits=FAST_XERO)
    assert _run(server, staging, PARTITIONED, partition=today()).success
    assert _run(server, staging, WHOLE).success
    for key in PARTITIONED + WHOLE:
        obj, expected = XERO_OBJECTS[key], _records(server, key)
        rows = staged(staging, obj.table)
        assert expected and set(rows) == set(expected), key
        for record_id, record in expected.items():
            assert rows[record_id]["is_deleted"] == (record.get("Status") in obj.deleted_statuses), (key, record_id)
            assert rows[record_id]["invalid_reason"] is None, (key, rows[record_id]["invalid_reason"])
            if key != "contact_groups":  # lists leave group members out; GET by id has them
                assert {k: v for k, v in rows[record_id]["raw"].items()} == \
                    {k: v for k, v in record.items() if not k.startswith("_")}, (key, record_id)
    assert any(r["is_deleted"] for r in staged(staging, "xero_contact_group").values())
    assert any(r["is_deleted"] for r in staged(staging, "xero_tracking_category").values())


def _sdk_write(server, label: str, method: str, **kwargs) -> dict:
    import json

    with xero_resource(server).get_client() as client:
        return json.loads(client._call(label, method, idempotency_key=str(uuid.uuid4()), **kwargs)[1])


def test_partitioned_objects_are_incremental_and_flag_deletes(make_sandbox, staging):
    server = make_sandbox(xero_limits=FAST_XERO)
    keys = ["quotes", "purchase_orders", "manual_journals"]
    first = _run(server, staging, keys, partition=today())
    quotes = staged(staging, "xero_quote")
    # Quotes come 100 a page (GET /Quotes takes no pageSize); the others 1000.
    assert _calls(first, "xero_quote", "Quotes") <= math.ceil(len(quotes) / 100) + 1
    assert _calls(first, "xero_purchase_order", "PurchaseOrders") <= \
        math.ceil(len(staged(staging, "xero_purchase_order")) / 1000) + 1
    draft_mj = next(m for m in staged(staging, "xero_manual_journal").values() if m["status"] == "DRAFT")
    contact = next(c for c in _records_of(server, "Contacts") if c["ContactStatus"] == "ACTIVE")
    line = {"Description": "Seats", "Quantity": 1, "UnitAmount": 40.0, "AccountCode": "200", "TaxType": "OUTPUT"}
    quote = _sdk_write(server, "PUT Quotes", "create_quotes", quotes={"Quotes": [
        {"Contact": {"ContactID": contact["ContactID"]}, "Date": "2026-03-01", "LineItems": [line]}]})["Quotes"][0]
    _sdk_write(server, "POST ManualJournals/{id}", "update_manual_journal", manual_journal_id=draft_mj["id"],
               manual_journals={"ManualJournals": [{"Narration": "x", "Status": "DELETED"}]})
    again = _run(server, staging, keys, partition=today())
    assert again.success and metadata_of(again, "xero_quote")["incremental"] is True
    assert _calls(again, "xero_quote", "Quotes") == 1 and _calls(again, "xero_purchase_order", "PurchaseOrders") == 1
    assert 1 <= metadata_of(again, "xero_quote")["rows_staged"] < len(quotes)  # since the cursor, not all
    assert not staged(staging, "xero_quote")[quote["QuoteID"]]["is_deleted"]
    journals = staged(staging, "xero_manual_journal")
    assert journals[draft_mj["id"]]["is_deleted"] and journals[draft_mj["id"]]["status"] == "DELETED"
    _sdk_write(server, "POST Quotes/{id}", "update_quote", quote_id=quote["QuoteID"], quotes={"Quotes": [
        {"Contact": {"ContactID": contact["ContactID"]}, "Date": "2026-03-01", "Status": "DELETED"}]})
    assert _run(server, staging, keys, partition=today()).success
    deleted = staged(staging, "xero_quote")[quote["QuoteID"]]
    assert deleted["is_deleted"] and deleted["status"] == "DELETED"


def _records_of(server, collection: str) -> list[dict]:
    return sandbox_call(server, "xero", "GET", f"/__sandbox/records/{collection}")


def _day(ms_date: str) -> dt.date:
    return dt.datetime.fromtimestamp(int(ms_date[6:-7]) / 1000, tz=dt.timezone.utc).date()


def test_a_past_window_of_quotes_reads_exactly_that_window(make_sandbox, staging, past_days):
    # GET /Quotes takes no `where`: the window's end is applied to the records read.
    server = make_sandbox(xero_limits=FAST_XERO)
    quotes = _records(server, "quotes")
    days = sorted({_day(q["UpdatedDateUTC"]) for q in quotes.values()})
    day = days[len(days) // 2]
    assert _run(server, staging, ["quotes"], partition=day).success
    assert set(staged(staging, "xero_quote")) == {i for i, q in quotes.items() if _day(q["UpdatedDateUTC"]) == day}


def test_malformed_quote_is_staged_with_a_reason(make_sandbox, staging):
    server = make_sandbox(xero_limits=FAST_XERO)
    odd = {"QuoteID": str(uuid.uuid4()), "QuoteNumber": "QU-ODD", "Status": "REVISED", "Date": "31/02/2026",
           "UpdatedDateUTC": f"/Date({int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000) - 60_000}+0000)/"}
    with server.xero.org.lock:
        server.xero.org.c["Quotes"].put(odd)
    assert _run(server, staging, ["quotes"], partition=today()).success
    rows = staged(staging, "xero_quote")
    reason = rows[odd["QuoteID"]]["invalid_reason"]
    assert "Status: unknown value 'REVISED'" in reason and "missing required field Contact.ContactID" in reason
    assert "Date" in reason and len(rows) == len(_records(server, "quotes"))


def test_journals_by_offset_cursor_and_call_bound(make_sandbox, staging):
    server = make_sandbox(xero_limits=FAST_XERO)
    total = len(server.xero.org.journals)
    first = _run(server, staging, ["journals"])
    assert first.success
    rows = staged(staging, "xero_journal")
    assert len(rows) == total and sorted(r["journal_number"] for r in rows.values()) == list(range(1, total + 1))
    assert _calls(first, "xero_journal", "Journals") <= math.ceil(total / 100) + 1
    with staging.engine.connect() as conn:
        cursor = conn.execute(sa.text("SELECT cursor_id FROM extract_state WHERE table_name = 'xero_journal'")).scalar()
    assert cursor == str(total)
    unchanged = _run(server, staging, ["journals"])
    assert _calls(unchanged, "xero_journal", "Journals") == 1 and metadata_of(unchanged, "xero_journal")["rows_staged"] == 0
    lines = [{"LineAmount": 10.0, "AccountCode": "404"}, {"LineAmount": -10.0, "AccountCode": "090"}]
    for n in range(3):
        _sdk_write(server, "PUT ManualJournals", "create_manual_journals", manual_journals={"ManualJournals": [
            {"Narration": f"Fee {n}", "JournalLines": lines, "Status": "POSTED"}]})
    after = _run(server, staging, ["journals"])
    assert metadata_of(after, "xero_journal")["rows_staged"] == 3 and _calls(after, "xero_journal", "Journals") == 1
    newest = staged(staging, "xero_journal")
    assert {r["source_type"] for r in newest.values() if r["journal_number"] > total} == {"MANJOURNAL"}


def test_whole_objects_flag_a_deleted_transfer(make_sandbox, staging):
    server = make_sandbox(xero_limits=FAST_XERO)
    assert _run(server, staging, ["bank_transfers"]).success
    transfers = staged(staging, "xero_bank_transfer")
    transfer_id = _sdk_write(server, "PUT BankTransfers", "create_bank_transfer", bank_transfers={"BankTransfers": [
        {"FromBankAccount": {"Code": "090"}, "ToBankAccount": {"Code": "091"}, "Amount": 42.0}]}
    )["BankTransfers"][0]["BankTransferID"]
    _sdk_write(server, "POST BankTransfers/{id}", "delete_bank_transfer", bank_transfer_id=transfer_id,
               bank_transfer_delete_by_url_param={"Status": "DELETED"})
    result = _run(server, staging, ["bank_transfers"])
    rows = staged(staging, "xero_bank_transfer")
    assert len(rows) == len(transfers) + 1 and rows[transfer_id]["is_deleted"] and rows[transfer_id]["amount"] == 42.0
    assert _calls(result, "xero_bank_transfer", "BankTransfers") == 1


def test_new_suites_pass_on_seeded_data_and_catch_a_bad_record(make_sandbox, staging):
    from sfxero_pipelines.checks.runner import run_suite
    from sfxero_pipelines.config import ChecksConfig

    server = make_sandbox(xero_limits=FAST_XERO)
    stray = {"QuoteID": str(uuid.uuid4()), "QuoteNumber": "QU-STRAY", "Status": "SENT", "CurrencyCode": "USD",
             "Contact": {"ContactID": str(uuid.uuid4()), "Name": "Nobody"}, "Date": "/Date(1767225600000+0000)/",
             "Total": 10.0, "SubTotal": 10.0,
             "UpdatedDateUTC": f"/Date({int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000) - 60_000}+0000)/"}
    with server.xero.org.lock:
        server.xero.org.c["Quotes"].put(stray)
    assert _run(server, staging, ["contacts"] + PARTITIONED, partition=today()).success
    assert _run(server, staging, ["bank_transfers", "journals"]).success
    cfg = ChecksConfig()
    with staging.engine.connect() as conn:
        for table in ("xero_purchase_order", "xero_overpayment", "xero_prepayment", "xero_manual_journal",
                      "xero_bank_transfer", "xero_journal", "xero_quote"):
            outcome = run_suite(conn, table, cfg)
            assert outcome.staged and outcome.rows > 0, table
            expected_bad = {stray["QuoteID"]} if table == "xero_quote" else set()
            assert set(outcome.record_failures) == expected_bad, (table, sorted(outcome.record_failures)[:3])
