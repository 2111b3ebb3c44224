"""The forms Xero's responses take beyond the schema's required fields: zone-less `DateString`
companions of MS-JSON dates, `FullyPaidOnDate` / `ExpectedPaymentDate` as MS dates, and a list
asked for without `page` answered as Xero does (no `pagination`; invoices without their lines)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from sfxero_tests.xero.conftest import resource_for
from sfxero_tests.xero.sdk import accounting, cc_client


def _ms(value: str) -> int:
    return int(value[len("/Date("):].split("+")[0].split(")")[0])


def _iso(value: str) -> str:
    return dt.datetime.fromtimestamp(_ms(value) / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture
def client(sandbox):
    with resource_for(sandbox, per_minute_limit=1_000_000).get_client() as xero:
        yield xero


def _page(client, collection: str) -> list[dict]:
    return json.loads(client.get_page(collection, 1, page_size=1000))[collection]


@pytest.mark.parametrize("collection, fields", [
    ("Invoices", ("Date", "DueDate")), ("CreditNotes", ("Date",)), ("BankTransactions", ("Date",)),
    ("Payments", ("Date",)), ("Overpayments", ("Date",)), ("Prepayments", ("Date",)),
    ("PurchaseOrders", ("Date", "DeliveryDate")),
])
def test_dates_come_with_their_zoneless_string(client, collection, fields):
    records = _page(client, collection)
    assert records
    for record in records:
        for field in fields:
            assert record[field + "String"] == _iso(record[field]), (collection, field)
            assert record[field + "String"].endswith("T00:00:00") and "Z" not in record[field + "String"]


def test_fully_paid_and_expected_payment_dates_are_ms_dates(client):
    invoices = _page(client, "Invoices")
    paid = [i for i in invoices if i["Status"] == "PAID"]
    assert paid and all(i["FullyPaidOnDate"].startswith("/Date(") and _ms(i["FullyPaidOnDate"]) % 86_400_000 == 0
                        for i in paid)
    assert all("FullyPaidOnDate" not in i for i in invoices if i["Status"] in ("AUTHORISED", "DRAFT"))
    expected = [i for i in invoices if "ExpectedPaymentDate" in i]
    assert expected and all(i["Type"] == "ACCREC" and i["Status"] == "AUTHORISED" for i in expected)
    assert all(_ms(i["ExpectedPaymentDate"]) > _ms(i["DueDate"]) for i in expected)
    credit_notes = [c for c in _page(client, "CreditNotes") if c["Status"] == "PAID"]
    assert credit_notes and all(c["FullyPaidOnDate"].startswith("/Date(") for c in credit_notes)


def test_a_written_expected_payment_date_is_stored_as_a_date(xero_sandbox):
    server = xero_sandbox()
    with resource_for(server, per_minute_limit=1_000_000).get_client() as xero:
        contact = next(c for p in xero.iter_pages("Contacts", include_archived=False) for c in p)
        written = xero.write("Invoices", [{
            "Type": "ACCREC", "Contact": {"ContactID": contact["ContactID"]}, "Date": "2026-01-15",
            "DueDate": "2026-02-15", "ExpectedPaymentDate": "2026-02-20", "Status": "AUTHORISED",
            "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"}]}],
            method="PUT", idempotency_key=str(uuid.uuid4()))[0]
    assert written["ExpectedPaymentDate"] == "/Date(1771545600000+0000)/"
    assert written["DateString"] == "2026-01-15T00:00:00" and written["DueDateString"] == "2026-02-15T00:00:00"


def test_a_list_without_page_has_no_pagination_and_invoices_no_lines(sandbox, monkeypatch):
    sdk, _ = cc_client(sandbox, monkeypatch)
    api, tenant = accounting(sandbox, sdk), sandbox.env["XERO_TENANT_ID"]
    unpaged = api.get_invoices(tenant)
    paged = api.get_invoices(tenant, page=1, page_size=1000)
    assert unpaged.pagination is None and paged.pagination is not None
    assert len(unpaged.invoices) == paged.pagination.item_count
    assert all(not i.line_items for i in unpaged.invoices)
    assert all(i.line_items for i in paged.invoices)
    one = api.get_invoice(tenant, unpaged.invoices[0].invoice_id).invoices[0]
    assert one.line_items  # a single invoice always has its lines
    contacts = api.get_contacts(tenant)
    assert contacts.pagination is None and contacts.contacts
