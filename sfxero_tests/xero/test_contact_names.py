"""A Xero Contact always has a Name: the emulator refuses a nameless one per element, as Xero does
(summarizeErrors=false: the element comes back with ERROR and its ValidationErrors, the rest of
the batch is written), whether it is written directly or named on the fly by a document."""

from __future__ import annotations

import uuid

import pytest

from sfxero_tests.conftest import sandbox_call
from sfxero_tests.xero.conftest import resource_for


@pytest.fixture
def fresh(xero_sandbox):
    server = xero_sandbox()
    with resource_for(server, per_minute_limit=1_000_000).get_client() as client:
        yield server, client


def _names(server) -> list:
    return [c.get("Name") for c in sandbox_call(server, "xero", "GET", "/__sandbox/records/Contacts")]


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_contact_without_a_name_is_refused_per_element(fresh, method):
    server, client = fresh
    before = len(_names(server))
    batch = [{"Name": f"Named {method} Ltd"}, {"EmailAddress": "nobody@example.com"}, {"Name": ""},
             {"Name": "   "}]
    results = client.write("Contacts", batch, method=method, idempotency_key=str(uuid.uuid4()))
    assert [r["StatusAttributeString"] for r in results] == ["OK", "ERROR", "ERROR", "ERROR"]
    assert all(r["ValidationErrors"][0]["Message"] == "The contact name must be specified" for r in results[1:])
    assert len(_names(server)) == before + 1


def test_document_naming_a_blank_contact_creates_none(fresh):
    server, client = fresh
    names = _names(server)
    invoice = {"Type": "ACCREC", "Contact": {"Name": "   "}, "Date": "2026-01-15", "DueDate": "2026-02-15",
               "Status": "DRAFT", "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 10.0,
                                                 "AccountCode": "200", "TaxType": "OUTPUT"}]}
    result = client.write("Invoices", [invoice], method="PUT", idempotency_key=str(uuid.uuid4()))[0]
    assert result["StatusAttributeString"] == "ERROR"
    assert "Contact" in result["ValidationErrors"][0]["Message"]
    after = _names(server)
    assert len(after) == len(names) and all(isinstance(n, str) and n.strip() for n in after)
