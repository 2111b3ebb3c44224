"""Quotes, PurchaseOrders, ManualJournals, Journals, BankTransfers, ContactGroups, TrackingCategories,
Overpayments, Prepayments and Users through xero-python's own AccountingApi: list, get,
If-Modified-Since, paging and the writes Xero allows, every response validated against the spec."""

from __future__ import annotations

import datetime as dt
import math
import uuid

import pytest
from xero_python.accounting import (BankTransfer, BankTransfers, Contact, ContactGroup, ContactGroups, Contacts,
                                    LineItem, ManualJournal, ManualJournalLine, ManualJournals, PurchaseOrder,
                                    PurchaseOrders, Quote, Quotes, QuoteStatusCodes)
from xero_python.exceptions import AccountingBadRequestException

from sfxero_tests.conftest import sandbox_call
from sfxero_tests.xero.sdk import accounting, cc_client


@pytest.fixture
def api(sandbox, monkeypatch):
    client, _ = cc_client(sandbox, monkeypatch)
    return accounting(sandbox, client), sandbox.env["XERO_TENANT_ID"]


@pytest.fixture
def fresh_api(xero_sandbox, monkeypatch):
    server = xero_sandbox()
    client, _ = cc_client(server, monkeypatch)
    return accounting(server, client), server.env["XERO_TENANT_ID"], server


def _records(server, plural: str) -> list[dict]:
    return sandbox_call(server, "xero", "GET", f"/__sandbox/records/{plural}")


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _contact_id(sandbox) -> str:
    return next(c["ContactID"] for c in _records(sandbox, "Contacts") if c["ContactStatus"] == "ACTIVE")


def test_quotes_list_get_filters_and_if_modified_since(api, sandbox):
    accounting_api, tenant = api
    seeded = _records(sandbox, "Quotes")
    listed = accounting_api.get_quotes(tenant, page=1).quotes
    assert len(listed) == min(100, len(seeded)) and {q.quote_id for q in listed} <= {q["QuoteID"] for q in seeded}
    invoiced = [q for q in seeded if q["Status"] == "INVOICED"]
    assert invoiced, "some quotes were accepted into invoices"
    invoice_numbers = {i["InvoiceNumber"] for i in _records(sandbox, "Invoices") if i["Type"] == "ACCREC"}
    assert all(q["Reference"] in invoice_numbers for q in invoiced)
    one = accounting_api.get_quote(tenant, listed[0].quote_id).quotes[0]
    assert one.quote_number == listed[0].quote_number and one.line_items
    by_status = accounting_api.get_quotes(tenant, status="INVOICED").quotes
    assert {q.quote_id for q in by_status} == {q["QuoteID"] for q in invoiced}
    contact = invoiced[0]["Contact"]["ContactID"]
    assert {q.quote_id for q in accounting_api.get_quotes(tenant, contact_id=contact).quotes} == \
        {q["QuoteID"] for q in seeded if q["Contact"]["ContactID"] == contact}
    assert [q.quote_id for q in accounting_api.get_quotes(tenant, quote_number=one.quote_number).quotes] == \
        [one.quote_id]
    newest = max(_utc(q.updated_date_utc) for q in listed)
    since = accounting_api.get_quotes(tenant, if_modified_since=newest - dt.timedelta(seconds=1)).quotes
    assert since and all(_utc(q.updated_date_utc) >= newest - dt.timedelta(seconds=1) for q in since)
    cut = dt.date.fromisoformat(sorted(q.date.isoformat() for q in listed)[len(listed) // 2])
    assert all(q.date >= cut for q in accounting_api.get_quotes(tenant, date_from=cut).quotes)


def test_quotes_page_by_a_fixed_hundred(fresh_api):
    accounting_api, tenant, server = fresh_api
    contact = _contact_id(server)
    line = LineItem(description="Seats", quantity=1.0, unit_amount=10.0, account_code="200", tax_type="OUTPUT")
    for _ in range(3):
        accounting_api.create_quotes(tenant, Quotes(quotes=[
            Quote(contact=Contact(contact_id=contact), date=dt.date(2026, 3, 1), line_items=[line])
            for _ in range(50)]))
    total = len(_records(server, "Quotes"))
    first = accounting_api.get_quotes(tenant, page=1)
    assert total > 100 and len(first.quotes) == 100
    pages = math.ceil(total / 100)
    last = accounting_api.get_quotes(tenant, page=pages).quotes
    assert len(last) == total - 100 * (pages - 1)
    seen = {q.quote_id for p in range(1, pages + 1) for q in accounting_api.get_quotes(tenant, page=p).quotes}
    assert len(seen) == total


def test_quote_create_update_and_status_flow(fresh_api):
    accounting_api, tenant, server = fresh_api
    contact = _contact_id(server)
    line = LineItem(description="Implementation", quantity=2.0, unit_amount=500.0, account_code="200",
                    tax_type="OUTPUT")
    created = accounting_api.create_quotes(tenant, Quotes(quotes=[
        Quote(contact=Contact(contact_id=contact), date=dt.date(2026, 2, 1), expiry_date=dt.date(2026, 3, 1),
              line_items=[line], title="Rollout")])).quotes[0]
    assert created.quote_number.startswith("QU-") and created.total == 1150.0 and created.status.value == "DRAFT"
    sent = accounting_api.update_quote(tenant, created.quote_id, Quotes(quotes=[
        Quote(contact=Contact(contact_id=contact), date=dt.date(2026, 2, 1), status=QuoteStatusCodes.SENT)])).quotes[0]
    assert sent.status.value == "SENT" and _utc(sent.updated_date_utc) >= _utc(created.updated_date_utc)
    results = accounting_api.update_or_create_quotes(tenant, Quotes(quotes=[
        Quote(quote_id=created.quote_id, contact=Contact(contact_id=contact), date=dt.date(2026, 2, 1),
              status=QuoteStatusCodes.INVOICED),
        Quote(contact=Contact(contact_id=contact), line_items=[line])]), summarize_errors=False).quotes
    assert results[0].status_attribute_string == "ERROR" and "SENT to INVOICED" in results[0].validation_errors[0].message
    assert results[1].status_attribute_string == "ERROR" and "Date is required" in results[1].validation_errors[0].message
    with pytest.raises(AccountingBadRequestException):
        accounting_api.create_quotes(tenant, Quotes(quotes=[Quote(date=dt.date(2026, 2, 1), line_items=[line])]))


def test_purchase_orders_billed_paged_and_written(fresh_api):
    accounting_api, tenant, server = fresh_api
    seeded = _records(server, "PurchaseOrders")
    billed = [p for p in seeded if p["Status"] == "BILLED"]
    bills = {i["InvoiceNumber"]: i for i in _records(server, "Invoices") if i["Type"] == "ACCPAY"}
    assert billed and all(p["Reference"] in bills and p["Total"] == bills[p["Reference"]]["Total"] for p in billed)
    page = accounting_api.get_purchase_orders(tenant, page=1, page_size=2)
    assert page.pagination.page_size == 2 and page.pagination.item_count == len(seeded)
    assert len(page.purchase_orders) == 2
    assert {p.purchase_order_id for p in accounting_api.get_purchase_orders(tenant, status="BILLED").purchase_orders} \
        == {p["PurchaseOrderID"] for p in billed}
    supplier = billed[0]["Contact"]["ContactID"]
    line = LineItem(description="Gateways", quantity=10.0, unit_amount=80.0, account_code="310", tax_type="INPUT")
    order = accounting_api.create_purchase_orders(tenant, PurchaseOrders(purchase_orders=[
        PurchaseOrder(contact=Contact(contact_id=supplier), date=dt.date(2026, 4, 1), line_items=[line],
                      delivery_date=dt.date(2026, 4, 20))])).purchase_orders[0]
    assert order.purchase_order_number.startswith("PO-") and order.total == 920.0
    got = accounting_api.get_purchase_order(tenant, order.purchase_order_id).purchase_orders[0]
    assert got.purchase_order_number == order.purchase_order_number
    authorised = accounting_api.update_purchase_order(tenant, order.purchase_order_id, PurchaseOrders(
        purchase_orders=[PurchaseOrder(contact=Contact(contact_id=supplier), status="AUTHORISED")])).purchase_orders[0]
    assert authorised.status == "AUTHORISED"
    since = accounting_api.get_purchase_orders(tenant, if_modified_since=_utc(authorised.updated_date_utc)
                                               - dt.timedelta(seconds=1)).purchase_orders
    assert order.purchase_order_id in {p.purchase_order_id for p in since} and len(since) < len(seeded)
    with pytest.raises(AccountingBadRequestException) as refused:
        accounting_api.update_purchase_order(tenant, order.purchase_order_id, PurchaseOrders(
            purchase_orders=[PurchaseOrder(status="DRAFT")]))
    assert "AUTHORISED to DRAFT" in refused.value.body.decode()


def test_manual_journals_monthly_balanced_and_posting_writes_a_journal(fresh_api):
    accounting_api, tenant, server = fresh_api
    seeded = _records(server, "ManualJournals")
    posted = [m for m in seeded if m["Status"] == "POSTED"]
    months = {m["Narration"][-7:] for m in posted}
    assert len(months) == len(posted) >= 12  # one per month
    page = accounting_api.get_manual_journals(tenant, page=1, page_size=5)
    assert len(page.manual_journals) == 5 and page.pagination.item_count == len(seeded)
    first = page.manual_journals[0]
    assert sum(line.line_amount for line in accounting_api.get_manual_journal(
        tenant, first.manual_journal_id).manual_journals[0].journal_lines) == 0
    journals_before = _last_journal_number(accounting_api, tenant)
    lines = [ManualJournalLine(line_amount=120.0, account_code="404", description="Bank fee"),
             ManualJournalLine(line_amount=-120.0, account_code="090", description="Bank")]
    created = accounting_api.create_manual_journals(tenant, ManualJournals(manual_journals=[
        ManualJournal(narration="Fees", journal_lines=lines, date=dt.date(2026, 5, 31), status="POSTED")]))
    mj = created.manual_journals[0]
    assert mj.status == "POSTED"
    newest = accounting_api.get_journals(tenant, offset=journals_before).journals
    assert [(j.source_type, j.source_id) for j in newest] == [("MANJOURNAL", mj.manual_journal_id)]
    assert sorted(line.net_amount for line in newest[0].journal_lines) == [-120.0, 120.0]
    unbalanced = accounting_api.update_or_create_manual_journals(tenant, ManualJournals(manual_journals=[
        ManualJournal(narration="Oops", journal_lines=[ManualJournalLine(line_amount=10.0, account_code="404"),
                                                       ManualJournalLine(line_amount=-9.0, account_code="090")])]),
        summarize_errors=False).manual_journals[0]
    assert unbalanced.status_attribute_string == "ERROR" and "debits" in unbalanced.validation_errors[0].message
    voided = accounting_api.update_manual_journal(tenant, mj.manual_journal_id, ManualJournals(manual_journals=[
        ManualJournal(narration="Fees", status="VOIDED")])).manual_journals[0]
    assert voided.status == "VOIDED"
    since = accounting_api.get_manual_journals(tenant, if_modified_since=_utc(voided.updated_date_utc)
                                               - dt.timedelta(seconds=1)).manual_journals
    assert [m.manual_journal_id for m in since] == [mj.manual_journal_id]


def _last_journal_number(accounting_api, tenant) -> int:
    offset = 0
    while True:
        page = accounting_api.get_journals(tenant, offset=offset).journals
        if not page:
            return offset
        offset = page[-1].journal_number


def test_journals_page_by_offset_in_hundreds(api, sandbox):
    accounting_api, tenant = api
    offset, numbers, calls = 0, [], 0
    while True:
        page = accounting_api.get_journals(tenant, offset=offset).journals
        calls += 1
        if not page:
            break
        assert len(page) <= 100
        numbers += [j.journal_number for j in page]
        offset = page[-1].journal_number
        if len(page) < 100:  # a short page is the last: the next offset would answer empty
            break
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) > 100
    assert calls == math.ceil(len(numbers) / 100) + (len(numbers) % 100 == 0)
    journal = accounting_api.get_journals(tenant, offset=10).journals[0]
    assert journal.journal_number == 11
    assert round(sum(line.net_amount for line in journal.journal_lines), 2) == 0
    assert accounting_api.get_journal(tenant, journal.journal_id).journals[0].journal_number == 11
    types = {j.source_type for p in range(0, len(numbers), 100)
             for j in accounting_api.get_journals(tenant, offset=p).journals}
    assert {"ACCREC", "ACCPAY", "ACCRECPAYMENT", "MANJOURNAL", "TRANSFER", "CASHREC"} <= types
    cut = _utc(journal.created_date_utc)
    since = accounting_api.get_journals(tenant, if_modified_since=cut).journals
    assert since and all(_utc(j.created_date_utc) >= cut for j in since)
    payments = accounting_api.get_journals(tenant, payments_only=True).journals
    assert payments and {j.source_type for j in payments} <= {"ACCRECPAYMENT", "ACCPAYPAYMENT"}


def test_bank_transfers_list_create_delete(fresh_api):
    accounting_api, tenant, server = fresh_api
    seeded = accounting_api.get_bank_transfers(tenant).bank_transfers
    assert len(seeded) >= 12 and all(t.from_bank_account.code == "090" for t in seeded)
    one = accounting_api.get_bank_transfer(tenant, seeded[0].bank_transfer_id).bank_transfers[0]
    assert one.amount == seeded[0].amount
    accounts = {a["Code"]: a["AccountID"] for a in _records(server, "Accounts")}
    from xero_python.accounting import Account
    created = accounting_api.create_bank_transfer(tenant, BankTransfers(bank_transfers=[BankTransfer(
        from_bank_account=Account(account_id=accounts["091"]), to_bank_account=Account(account_id=accounts["090"]),
        amount=250.0, date=dt.date(2026, 6, 1))])).bank_transfers[0]
    assert created.amount == 250.0 and created.status == "AUTHORISED"
    since = accounting_api.get_bank_transfers(tenant, if_modified_since=_utc(created.created_date_utc)
                                              - dt.timedelta(seconds=1)).bank_transfers
    assert [t.bank_transfer_id for t in since] == [created.bank_transfer_id]
    with pytest.raises(AccountingBadRequestException) as refused:
        accounting_api.create_bank_transfer(tenant, BankTransfers(bank_transfers=[BankTransfer(
            from_bank_account=Account(account_id=accounts["090"]),
            to_bank_account=Account(account_id=accounts["090"]), amount=5.0)]))
    assert "different" in refused.value.body.decode()
    sandbox_response = _delete_transfer(server, created.bank_transfer_id)
    assert sandbox_response["BankTransfers"][0]["Status"] == "DELETED"
    assert created.bank_transfer_id not in {t.bank_transfer_id for t in
                                            accounting_api.get_bank_transfers(tenant).bank_transfers}
    assert created.bank_transfer_id in {t.bank_transfer_id for t in
                                        accounting_api.get_bank_transfers(tenant, include_deleted=True).bank_transfers}


def _delete_transfer(server, transfer_id: str) -> dict:
    import requests

    env = server.env
    token = requests.post(env["XERO_IDENTITY_URL"] + "/connect/token", data={"grant_type": "client_credentials"},
                          auth=(env["XERO_CLIENT_ID"], env["XERO_CLIENT_SECRET"]),
                          verify=env["SFXERO_CA_BUNDLE"], timeout=30).json()["access_token"]
    response = requests.post(f"{env['XERO_API_URL']}/BankTransfers/{transfer_id}", json={"Status": "DELETED"},
                             headers={"Authorization": f"Bearer {token}", "xero-tenant-id": env["XERO_TENANT_ID"]},
                             verify=env["SFXERO_CA_BUNDLE"], timeout=30)
    response.raise_for_status()
    return response.json()


def test_contact_groups_create_members_and_delete(fresh_api):
    accounting_api, tenant, server = fresh_api
    groups = accounting_api.get_contact_groups(tenant).contact_groups
    assert {g.name for g in groups} >= {"Key accounts", "Newsletter"}
    key = next(g for g in groups if g.name == "Key accounts")
    members = accounting_api.get_contact_group(tenant, key.contact_group_id).contact_groups[0].contacts
    assert len(members) == 10
    created = accounting_api.create_contact_group(tenant, ContactGroups(contact_groups=[
        ContactGroup(name="Renewals Q3")])).contact_groups[0]
    assert created.status == "ACTIVE"
    contact = _contact_id(server)
    added = accounting_api.create_contact_group_contacts(tenant, created.contact_group_id, Contacts(contacts=[
        Contact(contact_id=contact)])).contacts
    assert [c.contact_id for c in added] == [contact]
    with pytest.raises(AccountingBadRequestException):
        accounting_api.create_contact_group(tenant, ContactGroups(contact_groups=[ContactGroup(name="renewals q3")]))
    accounting_api.delete_contact_group_contacts(tenant, created.contact_group_id)
    assert not accounting_api.get_contact_group(tenant, created.contact_group_id).contact_groups[0].contacts
    deleted = accounting_api.update_contact_group(tenant, created.contact_group_id, ContactGroups(contact_groups=[
        ContactGroup(status="DELETED")])).contact_groups[0]
    assert deleted.status == "DELETED"


def test_tracking_categories_users_overpayments_prepayments(api, sandbox):
    accounting_api, tenant = api
    active = accounting_api.get_tracking_categories(tenant).tracking_categories
    everything = accounting_api.get_tracking_categories(tenant, include_archived=True).tracking_categories
    assert {c.name for c in active} == {"Region", "Department"} and len(everything) == len(active) + 1
    region = accounting_api.get_tracking_category(tenant, active[0].tracking_category_id).tracking_categories[0]
    assert region.options and region.name == active[0].name
    users = accounting_api.get_users(tenant).users
    assert len(users) == 3 and accounting_api.get_user(tenant, users[0].user_id).users[0].email_address
    newest = max(_utc(u.updated_date_utc) for u in users)
    assert len(accounting_api.get_users(tenant, if_modified_since=newest).users) == 1
    overpayments = accounting_api.get_overpayments(tenant, page=1, page_size=1000).overpayments
    assert overpayments
    one = accounting_api.get_overpayment(tenant, overpayments[0].overpayment_id).overpayments[0]
    assert one.total == overpayments[0].total
    prepayments = accounting_api.get_prepayments(tenant, page=1).prepayments
    assert prepayments and accounting_api.get_prepayment(tenant, prepayments[0].prepayment_id).prepayments[0].total
    for method, plural, items in (("get_overpayments", "overpayments", overpayments),
                                  ("get_prepayments", "prepayments", prepayments)):
        first = getattr(accounting_api, method)(tenant, page=1, page_size=1)
        assert len(getattr(first, plural)) == 1 and first.pagination.item_count == len(items)
        newest = max(_utc(i.updated_date_utc) for i in items)
        since = getattr(getattr(accounting_api, method)(tenant, if_modified_since=newest), plural)
        assert since and all(_utc(i.updated_date_utc) >= newest for i in since) and len(since) <= len(items)


def test_an_allocated_overpayment_reduces_its_invoice(make_sandbox, monkeypatch, response_validator):
    server = make_sandbox(size=400)
    server.xero.response_hooks.append(response_validator)
    client, _ = cc_client(server, monkeypatch)
    accounting_api, tenant = accounting(server, client), server.env["XERO_TENANT_ID"]
    allocated = [o for o in accounting_api.get_overpayments(tenant, page=1, page_size=1000).overpayments
                 if o.allocations]
    assert allocated
    allocation = allocated[0].allocations[0]
    invoice = accounting_api.get_invoice(tenant, allocation.invoice.invoice_id).invoices[0]
    assert allocated[0].overpayment_id in {o.overpayment_id for o in invoice.overpayments}
    assert invoice.amount_due == round(invoice.total - invoice.amount_paid - invoice.amount_credited, 2)
    assert invoice.amount_credited >= allocation.amount


def test_every_new_collection_is_seeded_at_every_size(sandbox):
    for plural in ("Quotes", "PurchaseOrders", "Overpayments", "Prepayments", "ManualJournals", "BankTransfers",
                   "ContactGroups", "TrackingCategories", "Users"):
        assert _records(sandbox, plural), plural
    journals = _records(sandbox, "Journals")
    assert len(journals) > 100 and [j["JournalNumber"] for j in journals] == list(range(1, len(journals) + 1))


def test_ids_unknown_to_the_new_collections_are_404(api):
    accounting_api, tenant = api
    from xero_python.exceptions import NotFoundException

    for method in ("get_quote", "get_purchase_order", "get_manual_journal", "get_journal", "get_bank_transfer",
                   "get_contact_group", "get_tracking_category", "get_user", "get_overpayment", "get_prepayment"):
        with pytest.raises(NotFoundException):
            getattr(accounting_api, method)(tenant, str(uuid.uuid4()))


def test_fixtures_load_the_new_collections_through_xeros_rules(xero_sandbox, monkeypatch):
    contact_id, quote_id = str(uuid.uuid4()), str(uuid.uuid4())
    line = {"Description": "Seats", "Quantity": 2, "UnitAmount": 50, "AccountCode": "200", "TaxType": "OUTPUT"}
    fixtures = {"xero": {
        "Contacts": [{"ContactID": contact_id, "Name": "Fixture Buyer"}],
        "Quotes": [{"QuoteID": quote_id, "Contact": {"ContactID": contact_id}, "Date": "2026-01-10",
                    "LineItems": [line], "Status": "SENT"}],
        "ManualJournals": [{"Narration": "Opening balance", "Status": "POSTED", "JournalLines": [
            {"LineAmount": 500, "AccountCode": "090"}, {"LineAmount": -500, "AccountCode": "960"}]}],
        "ContactGroups": [{"Name": "VIP"}],
        "Users": [{"FirstName": "Ana", "LastName": "Ruiz", "EmailAddress": "ana@example.com",
                   "OrganisationRole": "STANDARD"}],
    }}
    server = xero_sandbox(fixtures=fixtures)
    client, _ = cc_client(server, monkeypatch)
    accounting_api, tenant = accounting(server, client), server.env["XERO_TENANT_ID"]
    quote = accounting_api.get_quote(tenant, quote_id).quotes[0]
    assert quote.total == 115.0 and quote.quote_number == "QU-0001" and quote.status.value == "SENT"
    journals = accounting_api.get_journals(tenant).journals
    assert [j.source_type for j in journals] == ["MANJOURNAL"]
    assert [g.name for g in accounting_api.get_contact_groups(tenant).contact_groups] == ["VIP"]
    assert [u.first_name for u in accounting_api.get_users(tenant).users] == ["Ana"]
    assert accounting_api.get_purchase_orders(tenant, page=1).purchase_orders == []
    with pytest.raises(ValueError, match=r"fixture ManualJournals\[0\]: .*debits"):
        xero_sandbox(fixtures={"xero": {"ManualJournals": [{"Narration": "x", "JournalLines": [
            {"LineAmount": 5, "AccountCode": "090"}, {"LineAmount": -4, "AccountCode": "960"}]}]}})



PAGED_BY_PAGE_SIZE = (("get_purchase_orders", "purchase_orders", "PurchaseOrders", "purchase_order_id"),
                      ("get_overpayments", "overpayments", "Overpayments", "overpayment_id"),
                      ("get_prepayments", "prepayments", "Prepayments", "prepayment_id"),
                      ("get_manual_journals", "manual_journals", "ManualJournals", "manual_journal_id"))


def test_paged_collections_walk_every_page_to_exactly_the_orgs_records(xero_sandbox, monkeypatch):
    """A page size that needs two pages or more (three where there are three records): the pages are disjoint, their pagination agrees
    with itself, and together they hold every record the organisation has, none twice."""
    server = xero_sandbox(size=400)
    client, _ = cc_client(server, monkeypatch)
    accounting_api, tenant = accounting(server, client), server.env["XERO_TENANT_ID"]
    for method, plural, collection, id_attr in PAGED_BY_PAGE_SIZE:
        held = {r[collection[:-1] + "ID"] for r in _records(server, collection)}
        assert len(held) >= 2, collection
        size = max(1, len(held) // 3)
        first = getattr(accounting_api, method)(tenant, page=1, page_size=size)
        pages = first.pagination.page_count
        assert first.pagination.item_count == len(held) and pages == math.ceil(len(held) / size) >= 2, collection
        seen: list[str] = []
        for page in range(1, pages + 2):  # one past the last: empty, as Xero answers
            got = getattr(getattr(accounting_api, method)(tenant, page=page, page_size=size), plural)
            assert len(got) == (0 if page > pages else min(size, len(held) - (page - 1) * size)), (collection, page)
            seen += [getattr(r, id_attr) for r in got]
        assert len(seen) == len(set(seen)) and set(seen) == held, collection
