"""The validator really validates: a broken body fails, the emulator's real responses pass."""

from __future__ import annotations

from sfxero_tests.xero.conftest import ResponseValidator


def test_validator_rejects_a_response_that_breaks_the_spec(openapi_spec):
    validator = ResponseValidator(openapi_spec)
    bad = b'{"Invoices": [{"InvoiceID": "x", "Status": "ARCHIVED", "Total": "ten"}]}'
    validator("GET", "/api.xro/2.0/Invoices", "", 200, {"content-type": "application/json"}, bad,
              "application/json")
    assert validator.failures and "Invoices" in validator.failures[0]


def test_every_endpoint_response_validates(xero_client, validate_xero_responses):
    for collection in ("Contacts", "Invoices", "CreditNotes", "BankTransactions", "Payments"):
        pages = list(xero_client.iter_pages(collection, page_size=1000))
        assert pages and pages[0], collection
        first = pages[0][0]
        id_field = {"Contacts": "ContactID", "Invoices": "InvoiceID", "CreditNotes": "CreditNoteID",
                    "BankTransactions": "BankTransactionID", "Payments": "PaymentID"}[collection]
        assert xero_client.get_by_id(collection, first[id_field])[id_field] == first[id_field]
    for collection in ("Items", "Accounts", "TaxRates", "Currencies", "Organisation"):
        assert xero_client.get_all(collection), collection
    assert validate_xero_responses.validated >= 15
    assert not validate_xero_responses.failures
