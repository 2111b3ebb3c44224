"""Reading: paging, where/order, IDs/ContactIDs/Statuses, includeArchived, summaryOnly, If-Modified-Since,
and the SDK's own models deserializing every list the emulator serves."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from sfxero_pipelines import errors
from sfxero_tests.conftest import sandbox_call
from sfxero_tests.xero.conftest import resource_for
from sfxero_tests.xero.sdk import accounting, cc_client


def _ms(value: str) -> int:
    return int(value[len("/Date("):].split("+")[0].split(")")[0])


def test_sdk_models_deserialize_every_endpoint(sandbox, monkeypatch):
    client, _ = cc_client(sandbox, monkeypatch)
    api, tenant = accounting(sandbox, client), sandbox.env["XERO_TENANT_ID"]
    invoices = api.get_invoices(tenant, page=1, page_size=5)
    assert invoices.pagination.page_size == 5 and len(invoices.invoices) == 5
    inv = invoices.invoices[0]
    assert isinstance(inv.date, dt.date) and isinstance(inv.updated_date_utc, dt.datetime)
    assert api.get_invoice(tenant, inv.invoice_id).invoices[0].invoice_number == inv.invoice_number
    assert api.get_contacts(tenant, page=1).contacts[0].balances is not None
    assert api.get_credit_notes(tenant, page=1).credit_notes[0].allocations is not None
    assert api.get_bank_transactions(tenant, page=1).bank_transactions[0].bank_account.code == "090"
    payment = api.get_payments(tenant, page=1).payments[0]
    assert payment.invoice.invoice_id and payment.amount > 0
    assert {i.code for i in api.get_items(tenant).items} >= {"SUB-BASIC", "HW-GW"}
    codes = {a.code for a in api.get_accounts(tenant).accounts}
    assert {"090", "200", "400", "610"} <= codes
    assert {t.tax_type for t in api.get_tax_rates(tenant).tax_rates} >= {"OUTPUT", "INPUT", "NONE", "EXEMPTOUTPUT"}
    assert {c.code.value for c in api.get_currencies(tenant).currencies} >= {"USD", "EUR", "GBP"}


def test_paging_costs_ceil_n_over_page_size_calls(xero_client):
    total = sum(len(p) for p in xero_client.iter_pages("Invoices", page_size=1000))
    xero_client.api_calls.clear()
    pages = list(xero_client.iter_pages("Invoices", page_size=7))
    assert sum(len(p) for p in pages) == total and all(len(p) == 7 for p in pages[:-1])
    assert xero_client.api_calls["GET Invoices"] == math.ceil(total / 7)
    seen = [i["InvoiceID"] for p in pages for i in p]
    assert len(set(seen)) == total  # no record twice, none lost


def test_pagination_object_and_page_size_cap(sandbox, monkeypatch):
    client, _ = cc_client(sandbox, monkeypatch)
    api, tenant = accounting(sandbox, client), sandbox.env["XERO_TENANT_ID"]
    page = api.get_contacts(tenant, page=2, page_size=10)
    assert page.pagination.page == 2 and page.pagination.page_size == 10
    assert page.pagination.page_count == math.ceil(page.pagination.item_count / 10)
    assert api.get_invoices(tenant, page=1, page_size=5000).pagination.page_size == 1000


@pytest.mark.parametrize("where, check", [
    ('Status=="PAID"', lambda i: i["Status"] == "PAID"),
    ('Type=="ACCPAY" && Status!="DRAFT"', lambda i: i["Type"] == "ACCPAY" and i["Status"] != "DRAFT"),
    ('Status=="VOIDED" || Status=="DELETED"', lambda i: i["Status"] in ("VOIDED", "DELETED")),
    ('CurrencyCode=="EUR" AND Total>=100', lambda i: i["CurrencyCode"] == "EUR" and i["Total"] >= 100),
])
def test_where_filters_invoices(xero_client, where, check):
    everything = [i for p in xero_client.iter_pages("Invoices") for i in p]
    expected = {i["InvoiceID"] for i in everything if check(i)}
    got = [i for p in xero_client.iter_pages("Invoices", where=where) for i in p]
    assert expected and {i["InvoiceID"] for i in got} == expected


def test_where_dates_guids_and_string_methods(xero_client):
    invoices = [i for p in xero_client.iter_pages("Invoices") for i in p]
    dates = sorted(_ms(i["Date"]) for i in invoices)
    cut = dt.datetime.fromtimestamp(dates[len(dates) // 2] / 1000, tz=dt.timezone.utc)
    where = f"Date >= DateTime({cut.year}, {cut.month:02d}, {cut.day:02d})"
    got = [i for p in xero_client.iter_pages("Invoices", where=where) for i in p]
    assert got and all(_ms(i["Date"]) >= dates[len(dates) // 2] for i in got)
    assert len(got) == sum(1 for d in dates if d >= dates[len(dates) // 2])
    contact_id = invoices[0]["Contact"]["ContactID"]
    mine = [i for p in xero_client.iter_pages("Invoices", where=f'Contact.ContactID==Guid("{contact_id}")')
            for i in p]
    assert mine and all(i["Contact"]["ContactID"] == contact_id for i in mine)
    contacts = [c for p in xero_client.iter_pages("Contacts") for c in p]
    name = contacts[3]["Name"]
    starts = [c for p in xero_client.iter_pages("Contacts", where=f'Name.StartsWith("{name[:4]}")') for c in p]
    assert name in {c["Name"] for c in starts} and all(c["Name"].lower().startswith(name[:4].lower()) for c in starts)
    xero = [c for p in xero_client.iter_pages("Contacts", where='Name.Contains("(Xero)")') for c in p]
    assert xero and all("(xero)" in c["Name"].lower() for c in xero)


def test_order(xero_client):
    names = [c["Name"] for p in xero_client.iter_pages("Contacts", order="Name DESC") for c in p]
    assert names == sorted(names, key=str.lower, reverse=True)
    totals = [i["Total"] for p in xero_client.iter_pages("Invoices", order="Total ASC") for i in p]
    assert totals == sorted(totals)


def test_bad_where_is_a_query_parse_error(xero_client):
    with pytest.raises(errors.ApiError) as exc:
        list(xero_client.iter_pages("Invoices", where='Status=="PAID" &&'))
    assert exc.value.status == 400 and exc.value.code == "QueryParseException"


def test_ids_contact_ids_statuses_include_archived_summary_only(xero_client):
    invoices = [i for p in xero_client.iter_pages("Invoices") for i in p]
    ids = [invoices[0]["InvoiceID"], invoices[5]["InvoiceID"]]
    got = [i for p in xero_client.iter_pages("Invoices", params={"i_ds": ids}) for i in p]
    assert sorted(i["InvoiceID"] for i in got) == sorted(ids)
    contact_id = invoices[1]["Contact"]["ContactID"]
    by_contact = [i for p in xero_client.iter_pages("Invoices", params={"contact_i_ds": [contact_id]}) for i in p]
    assert by_contact and {i["Contact"]["ContactID"] for i in by_contact} == {contact_id}
    drafts = [i for p in xero_client.iter_pages("Invoices", statuses=["DRAFT", "SUBMITTED"]) for i in p]
    assert drafts and {i["Status"] for i in drafts} <= {"DRAFT", "SUBMITTED"}
    assert len(drafts) == sum(1 for i in invoices if i["Status"] in ("DRAFT", "SUBMITTED"))
    active = [c for p in xero_client.iter_pages("Contacts", include_archived=False) for c in p]
    every = [c for p in xero_client.iter_pages("Contacts", include_archived=True) for c in p]
    archived = [c for c in every if c["ContactStatus"] == "ARCHIVED"]
    assert len(every) == len(active) + len(archived) and all(c["ContactStatus"] == "ACTIVE" for c in active)
    summary = next(xero_client.iter_pages("Invoices", params={"summary_only": True}))
    assert summary and "LineItems" not in summary[0] and "Total" in summary[0]


def test_if_modified_since_returns_only_changes_and_unchanged_costs_one_call(xero_sandbox):
    server = xero_sandbox()
    with resource_for(server).get_client() as client:
        everything = [i for p in client.iter_pages("Invoices") for i in p]
        newest = max(_ms(i["UpdatedDateUTC"]) for i in everything)
        cursor = dt.datetime.fromtimestamp(newest / 1000 + 1, tz=dt.timezone.utc)
        client.api_calls.clear()
        assert [p for p in client.iter_pages("Invoices", if_modified_since=cursor)] == [[]]
        assert client.api_calls["GET Invoices"] == 1
        sandbox_call(server, "xero", "POST", "/__sandbox/clock", {"advance_s": 5})
        draft = next(i for i in everything if i["Status"] == "DRAFT")
        client.write("Invoices", [{"InvoiceID": draft["InvoiceID"], "Reference": "changed"}], idempotency_key="ims-1")
        changed = [i for p in client.iter_pages("Invoices", if_modified_since=cursor) for i in p]
        assert [i["InvoiceID"] for i in changed] == [draft["InvoiceID"]] and changed[0]["Reference"] == "changed"
        # Contacts and unpaged Items honour it too.
        assert [c for p in client.iter_pages("Contacts", if_modified_since=cursor) for c in p] == []
        assert client.get_all("Items", if_modified_since=cursor) == []
        assert len(client.get_all("Items")) == 12
