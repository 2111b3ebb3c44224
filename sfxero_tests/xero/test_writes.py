"""Writes: batched create/update with partial failure, idempotent replay, Xero's validation rules,
payments, credit-note allocations and contact balances kept consistent."""

from __future__ import annotations

import uuid

import pytest
from xero_python.exceptions import AccountingBadRequestException

from sfxero_pipelines import errors
from sfxero_tests.conftest import sandbox_call
from sfxero_tests.xero.conftest import resource_for
from sfxero_tests.xero.sdk import accounting, cc_client

ZERO = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def fresh(xero_sandbox):
    server = xero_sandbox()
    with resource_for(server, per_minute_limit=1_000_000).get_client() as client:
        yield server, client


def _line(**kw):
    return {"Description": "Consulting", "Quantity": 2, "UnitAmount": 150.0, "AccountCode": "200",
            "TaxType": "OUTPUT", **kw}


def _active_contact(client):
    return next(c for p in client.iter_pages("Contacts", include_archived=False) for c in p)


def _invoice(contact, **kw):
    return {"Type": "ACCREC", "Contact": {"ContactID": contact["ContactID"]}, "Date": "2026-01-15",
            "DueDate": "2026-02-15", "Status": "AUTHORISED", "CurrencyCode": "USD", "LineItems": [_line()], **kw}


def test_batched_invoices_with_partial_failure(fresh):
    server, client = fresh
    contact = _active_contact(client)
    archived = next(c for p in client.iter_pages("Contacts") for c in p if c["ContactStatus"] == "ARCHIVED")
    batch = [
        _invoice(contact),
        _invoice(contact, LineItems=[_line(AccountCode="999")]),
        _invoice({"ContactID": archived["ContactID"]}),
        _invoice(contact, LineItems=[_line(TaxType="NO_SUCH_TAX")]),
        _invoice(contact, LineItems=[_line(LineAmount=999.0)]),
        _invoice(contact, CurrencyCode="CHF"),
    ]
    results = client.write("Invoices", batch, method="PUT", idempotency_key=str(uuid.uuid4()))
    assert [r["StatusAttributeString"] for r in results] == ["OK"] + ["ERROR"] * 5
    ok = results[0]
    assert ok["Total"] == 345.0 and ok["SubTotal"] == 300.0 and ok["TotalTax"] == 45.0 and ok["AmountDue"] == 345.0
    assert ok["InvoiceNumber"].startswith("INV-") and ok["InvoiceID"] != ZERO
    messages = [r["ValidationErrors"][0]["Message"] for r in results[1:]]
    assert "Account code '999'" in messages[0]
    assert "archived" in messages[1]
    assert "NO_SUCH_TAX" in messages[2]
    assert "does not match" in messages[3]
    assert "not subscribed to currency CHF" in messages[4]
    assert all(r["InvoiceID"] == ZERO and r["HasErrors"] for r in results[1:])
    held = {r["InvoiceID"] for r in sandbox_call(server, "xero", "GET", "/__sandbox/records/Invoices")}
    assert ok["InvoiceID"] in held


def test_summarized_errors_are_a_validation_exception(fresh, monkeypatch):
    server, client = fresh
    contact = _active_contact(client)
    with pytest.raises(errors.ApiError) as exc:
        client.write("Invoices", [_invoice(contact, LineItems=[_line(AccountCode="999")])], method="PUT",
                     idempotency_key=str(uuid.uuid4()), summarize_errors=True)
    assert exc.value.status == 400 and exc.value.code == "ValidationException" and "999" in str(exc.value)
    sdk, _ = cc_client(server, monkeypatch)
    with pytest.raises(AccountingBadRequestException) as sdk_exc:
        accounting(server, sdk).create_contacts(server.env["XERO_TENANT_ID"], {"Contacts": [
            {"Name": contact["Name"].upper()}]}, summarize_errors=True)
    assert "already assigned to another contact" in sdk_exc.value.reason


def test_idempotent_replay_and_key_reuse(fresh):
    server, client = fresh
    key = str(uuid.uuid4())
    body = [{"Name": "Idempotent Widgets Ltd", "EmailAddress": "ap@widgets.example.com"}]
    first = client.write("Contacts", body, method="PUT", idempotency_key=key)
    again = client.write("Contacts", body, method="PUT", idempotency_key=key)
    assert first == again and first[0]["StatusAttributeString"] == "OK"
    named = [c for c in sandbox_call(server, "xero", "GET", "/__sandbox/records/Contacts")
             if c["Name"] == "Idempotent Widgets Ltd"]
    assert len(named) == 1
    with pytest.raises(errors.ApiError) as exc:
        client.write("Contacts", [{"Name": "Something Else"}], method="PUT", idempotency_key=key)
    assert exc.value.status == 400 and "different request" in str(exc.value)


def test_unit_amounts_keep_two_decimals_unless_unitdp_4_and_lines_round_half_away(fresh):
    """Xero keeps UnitAmount to 2 dp unless the write carries `unitdp=4`, Quantity to 4 dp, and
    rounds amounts in decimal with a midpoint away from zero (2.675 → 2.68, where a binary float's
    round() gives 2.67)."""
    _server, client = fresh
    contact = _active_contact(client)
    lines = [_line(Quantity=3.3333333, UnitAmount=0.123456789), _line(Quantity=1, UnitAmount=2.675)]

    def write(**kw):
        [result] = client.write("Invoices", [_invoice(contact, Status="DRAFT", LineItems=[dict(li) for li in lines])],
                                method="PUT", idempotency_key=str(uuid.uuid4()), **kw)
        assert result["StatusAttributeString"] == "OK", result
        return [(li["Quantity"], li["UnitAmount"], li["LineAmount"]) for li in result["LineItems"]], result["SubTotal"]

    assert write() == ([(3.3333, 0.12, 0.40), (1.0, 2.68, 2.68)], 3.08)
    assert write(unitdp=4) == ([(3.3333, 0.1235, 0.41), (1.0, 2.675, 2.68)], 3.09)


def test_contact_rules_put_vs_post_upsert(fresh):
    _server, client = fresh
    existing = _active_contact(client)
    dup = client.write("Contacts", [{"Name": existing["Name"]}], method="PUT", idempotency_key="c-1")
    assert dup[0]["StatusAttributeString"] == "ERROR" and dup[0]["HasValidationErrors"]
    upsert = client.write("Contacts", [{"Name": existing["Name"], "EmailAddress": "new@example.com"}],
                          method="POST", idempotency_key="c-2")
    assert upsert[0]["ContactID"] == existing["ContactID"] and upsert[0]["EmailAddress"] == "new@example.com"
    other = client.write("Contacts", [{"Name": "Rename Target Co"}], method="PUT", idempotency_key="c-3")[0]
    clash = client.write("Contacts", [{"ContactID": other["ContactID"], "Name": existing["Name"]}],
                         idempotency_key="c-4")
    assert "already assigned" in clash[0]["ValidationErrors"][0]["Message"]
    assert client.get_by_id("Contacts", other["ContactID"])["Name"] == "Rename Target Co"


def test_status_transitions_and_duplicate_numbers(fresh):
    _server, client = fresh
    invoices = [i for p in client.iter_pages("Invoices") for i in p]
    paid = next(i for i in invoices if i["Status"] == "PAID" and i["Type"] == "ACCREC")
    r = client.write("Invoices", [{"InvoiceID": paid["InvoiceID"], "Reference": "edit"}], idempotency_key="s-1")
    assert "cannot be edited" in r[0]["ValidationErrors"][0]["Message"]
    authorised = next(i for i in invoices if i["Status"] == "AUTHORISED" and i["AmountPaid"] == 0
                      and i["AmountCredited"] == 0)
    back = client.write("Invoices", [{"InvoiceID": authorised["InvoiceID"], "Status": "DRAFT"}], idempotency_key="s-2")
    assert "Invalid status change" in back[0]["ValidationErrors"][0]["Message"]
    void = client.write("Invoices", [{"InvoiceID": authorised["InvoiceID"], "Status": "VOIDED"}], idempotency_key="s-3")
    assert void[0]["Status"] == "VOIDED" and void[0]["AmountDue"] == 0
    part_paid = next(i for i in invoices if i["Status"] == "AUTHORISED" and i["AmountPaid"] > 0)
    no_void = client.write("Invoices", [{"InvoiceID": part_paid["InvoiceID"], "Status": "VOIDED"}],
                           idempotency_key="s-4")
    assert no_void[0]["StatusAttributeString"] == "ERROR"
    contact = _active_contact(client)
    dup = client.write("Invoices", [_invoice(contact, InvoiceNumber=paid["InvoiceNumber"])], method="PUT",
                       idempotency_key="s-5")
    assert dup[0]["ValidationErrors"][0]["Message"] == "Invoice # must be unique."


def test_payments_keep_amounts_status_and_balances_consistent(fresh):
    _server, client = fresh
    contact = client.write("Contacts", [{"Name": "Balance Check Pty Ltd"}], method="PUT", idempotency_key="p-0")[0]
    inv = client.write("Invoices", [_invoice(contact)], method="PUT", idempotency_key="p-1")[0]
    assert client.get_by_id("Contacts", contact["ContactID"])["Balances"]["AccountsReceivable"]["Outstanding"] == 345.0
    pay = {"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Account": {"Code": "090"}, "Date": "2026-02-01",
           "Amount": 100.0}
    first = client.write("Payments", [pay], method="PUT", idempotency_key="p-2")
    assert first[0]["StatusAttributeString"] == "OK"
    after = client.get_by_id("Invoices", inv["InvoiceID"])
    assert (after["AmountPaid"], after["AmountDue"], after["Status"]) == (100.0, 245.0, "AUTHORISED")
    too_much = client.write("Payments", [{**pay, "Amount": 1000.0}], method="PUT", idempotency_key="p-3")
    assert "exceeds the amount outstanding" in too_much[0]["ValidationErrors"][0]["Message"]
    rest = client.write("Payments", [{**pay, "Amount": 245.0}], method="POST", idempotency_key="p-4")[0]
    paid = client.get_by_id("Invoices", inv["InvoiceID"])
    assert paid["Status"] == "PAID" and paid["AmountDue"] == 0 and paid["FullyPaidOnDate"]
    assert client.get_by_id("Contacts", contact["ContactID"])["Balances"]["AccountsReceivable"]["Outstanding"] == 0
    # Deleting a payment (POST /Payments/{id} Status DELETED) reopens the invoice.
    sdk_api = client._api
    sdk_api.delete_payment(client.tenant_id, rest["PaymentID"], {"Status": "DELETED"})
    reopened = client.get_by_id("Invoices", inv["InvoiceID"])
    assert reopened["Status"] == "AUTHORISED" and reopened["AmountDue"] == 245.0
    assert client.get_by_id("Payments", rest["PaymentID"])["Status"] == "DELETED"


def test_credit_note_allocation_reduces_amount_due(fresh):
    _server, client = fresh
    contact = _active_contact(client)
    inv = client.write("Invoices", [_invoice(contact)], method="PUT", idempotency_key="cn-1")[0]
    cn = client.write("CreditNotes", [{"Type": "ACCRECCREDIT", "Contact": {"ContactID": contact["ContactID"]},
                                       "Status": "AUTHORISED", "CurrencyCode": "USD", "Date": "2026-01-20",
                                       "LineItems": [_line(Quantity=1, UnitAmount=100.0, TaxType="NONE")]}],
                      method="PUT", idempotency_key="cn-2")[0]
    assert cn["RemainingCredit"] == 100.0 and cn["CreditNoteNumber"].startswith("CN-")
    alloc = client.allocate_credit_note(cn["CreditNoteID"], [{"Invoice": {"InvoiceID": inv["InvoiceID"]},
                                                              "Amount": 60.0, "Date": "2026-01-21"}],
                                        idempotency_key="cn-3")
    assert alloc[0]["Amount"] == 60.0
    after = client.get_by_id("Invoices", inv["InvoiceID"])
    assert (after["AmountCredited"], after["AmountDue"]) == (60.0, 285.0)
    assert client.get_by_id("CreditNotes", cn["CreditNoteID"])["RemainingCredit"] == 40.0
    over = client.allocate_credit_note(cn["CreditNoteID"], [{"Invoice": {"InvoiceID": inv["InvoiceID"]},
                                                             "Amount": 50.0, "Date": "2026-01-21"}],
                                       idempotency_key="cn-4")
    assert over[0]["StatusAttributeString"] == "ERROR"


def test_bank_transactions_and_items(fresh):
    _server, client = fresh
    bt = client.write("BankTransactions", [{"Type": "SPEND", "BankAccount": {"Code": "090"},
                                            "Contact": {"Name": "Brand New Supplier"},
                                            "LineItems": [_line(AccountCode="429", TaxType="INPUT")]}],
                      method="PUT", idempotency_key="b-1")[0]
    assert bt["Total"] == 345.0 and bt["Status"] == "AUTHORISED"
    not_bank = client.write("BankTransactions", [{"Type": "SPEND", "BankAccount": {"Code": "200"},
                                                  "LineItems": [_line()]}], method="PUT", idempotency_key="b-2")
    assert not_bank[0]["StatusAttributeString"] == "ERROR"
    item = client.write("Items", [{"Code": "NEW-1", "Name": "New thing",
                                   "SalesDetails": {"UnitPrice": 10.0, "AccountCode": "200"}}],
                        method="PUT", idempotency_key="i-1")[0]
    assert client.get_by_id("Items", item["ItemID"])["Code"] == "NEW-1"
    dup = client.write("Items", [{"Code": "NEW-1", "Name": "Again"}], method="PUT", idempotency_key="i-2")
    assert "already exists" in dup[0]["ValidationErrors"][0]["Message"]
