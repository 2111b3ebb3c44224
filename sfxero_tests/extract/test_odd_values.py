"""Values a source legally sends that PostgreSQL refuses, or that overflow a column, staged on both
backends through the real extract from the sandbox:
- a NUL (U+0000) in an Account's Name: the Account is staged with the NUL removed from its columns
  and its `raw`, the source record kept whole and recoverable (`original_record`), the page's other
  Accounts staged, and its Contacts not held for a missing Account;
- Opportunity Amounts of 1e15 and -9.99e17 (Salesforce currency fields hold 18 digits) staged
  exactly, with the page's other Opportunities and every line item;
- a Xero invoice of total 1e12 (and a Xero Contact with a NUL in its name) staged exactly.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from sfxero_pipelines.checks.runner import run_suite
from sfxero_pipelines.config import ChecksConfig
from sfxero_pipelines.defs.salesforce.assets import build_salesforce_extract_asset
from sfxero_pipelines.defs.xero.assets import build_xero_extract_asset
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS
from sfxero_pipelines.extract.rows import original_record
from sfxero_pipelines.sandbox.salesforce.store import normalize_id

from .conftest import FAST_XERO, materialize, metadata_of, salesforce_resource, staged, today, xero_resource

SF_OBJECTS = ["Account", "Contact", "Product2", "Opportunity", "OpportunityLineItem"]
SF_ASSETS = {o: build_salesforce_extract_asset(o) for o in SF_OBJECTS}


def sfid(prefix: str, n: int) -> str:
    return normalize_id(f"{prefix}5Hs{n:09d}")


A_NUL, A_OK, A_OTHER = (sfid("001", n) for n in (1, 2, 3))
C_NUL_1, C_NUL_2, C_OK = (sfid("003", n) for n in (1, 2, 3))
O_OK, O_HUGE, O_NEGATIVE, O_SMALL = (sfid("006", n) for n in (1, 2, 3, 4))
PRODUCT = sfid("01t", 1)
NUL_NAME = "Acme\u0000 Holdings"


def _opp(oid: str, amount: float) -> dict:
    return {"Id": oid, "Name": f"Deal {oid[-6:]}", "AccountId": A_OK, "StageName": "Closed Won",
            "CloseDate": "2026-06-30", "Amount": amount, "CurrencyIsoCode": "USD"}


def _line(oid: str, price: float) -> dict:
    return {"OpportunityId": oid, "Product2Id": PRODUCT, "Quantity": 1, "UnitPrice": price, "TotalPrice": price}


SF_FIXTURES = {"salesforce": {
    "Account": [{"Id": A_NUL, "Name": NUL_NAME, "BillingCountry": "United States"},
                {"Id": A_OK, "Name": "Plain Co", "BillingCountry": "United States"},
                {"Id": A_OTHER, "Name": "Other Co", "BillingCountry": "United States"}],
    "Contact": [{"Id": C_NUL_1, "LastName": "One", "Email": "one@acme.example.com", "AccountId": A_NUL},
                {"Id": C_NUL_2, "LastName": "Two", "Email": "two@acme.example.com", "AccountId": A_NUL},
                {"Id": C_OK, "LastName": "Three", "Email": "three@plain.example.com", "AccountId": A_OK}],
    "Product2": [{"Id": PRODUCT, "Name": "Consulting", "ProductCode": "GOOD", "IsActive": True}],
    "Opportunity": [_opp(O_OK, 1250.5), _opp(O_HUGE, 1e15), _opp(O_NEGATIVE, -9.99e17), _opp(O_SMALL, 0.01)],
    "OpportunityLineItem": [_line(O_OK, 1250.5), _line(O_HUGE, 1e15), _line(O_NEGATIVE, -9.99e17),
                            _line(O_SMALL, 0.01)],
}}


def _extract_salesforce(make_sandbox, staging, objects: list[str]):
    server = make_sandbox(fixtures=SF_FIXTURES)
    result = materialize([SF_ASSETS[o] for o in objects], {"salesforce": salesforce_resource(server), "staging": staging},
                         partition=today())
    assert result.success
    return result


def test_a_nul_in_an_account_name_stages_it_cleaned_with_the_original_kept(make_sandbox, staging):
    result = _extract_salesforce(make_sandbox, staging, ["Account", "Contact"])
    accounts = staged(staging, "sf_account")
    assert set(accounts) == {A_NUL, A_OK, A_OTHER}
    nul = accounts[A_NUL]
    assert nul["name"] == "Acme Holdings" and nul["invalid_reason"] is None
    assert nul["raw"]["Name"] == "Acme Holdings"
    assert original_record(nul["raw"])["Name"] == NUL_NAME  # the source's value, recoverable
    assert original_record(accounts[A_OK]["raw"]) == accounts[A_OK]["raw"]
    meta = metadata_of(result, "sf_account")
    assert meta["invalid_rows"] == 0 and meta["cleaned_rows"] == 1
    assert meta["cleaned_sample"] == [{"id": A_NUL, "fields": ["Name"]}]

    assert set(staged(staging, "sf_contact")) == {C_NUL_1, C_NUL_2, C_OK}
    with staging.engine.connect() as conn:
        outcome = run_suite(conn, "sf_contact", ChecksConfig())
    held_for_account = {i for i, failures in outcome.record_failures.items()
                        if any(f["column"] == "accountid" for f in failures)}
    assert outcome.rows == 3 and not held_for_account


def test_amounts_of_18_digits_stage_exactly_with_their_line_items(make_sandbox, staging):
    result = _extract_salesforce(make_sandbox, staging, ["Product2", "Opportunity", "OpportunityLineItem"])
    opportunities = staged(staging, "sf_opportunity")
    assert set(opportunities) == {O_OK, O_HUGE, O_NEGATIVE, O_SMALL}
    amounts = {i: float(r["amount"]) for i, r in opportunities.items()}
    assert amounts == {O_OK: 1250.5, O_HUGE: 1e15, O_NEGATIVE: -9.99e17, O_SMALL: 0.01}
    assert all(r["invalid_reason"] is None for r in opportunities.values())
    lines = staged(staging, "sf_opportunity_line_item")
    assert sorted(float(r["totalprice"]) for r in lines.values()) == [-9.99e17, 0.01, 1250.5, 1e15]
    assert metadata_of(result, "sf_opportunity")["invalid_rows"] == 0


def _ms(day: dt.date) -> str:
    stamp = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.timezone.utc)
    return f"/Date({int(stamp.timestamp() * 1000)}+0000)/"


def _invoice(contact_id: str, unit: float) -> dict:
    return {"InvoiceID": str(uuid.uuid4()), "Type": "ACCREC", "Contact": {"ContactID": contact_id},
            "Status": "AUTHORISED", "InvoiceNumber": f"INV-{uuid.uuid4().hex[:6]}", "Date": _ms(today()),
            "DueDate": _ms(today()), "LineAmountTypes": "NoTax", "CurrencyCode": "USD",
            "LineItems": [{"Description": "Everything", "Quantity": 1, "UnitAmount": unit, "AccountCode": "200",
                           "TaxType": "NONE"}]}


def _extract_xero(make_sandbox, staging, fixtures: dict, keys: list[str]):
    server = make_sandbox(xero_limits=FAST_XERO, fixtures={"xero": fixtures})
    assets = [build_xero_extract_asset(XERO_OBJECTS[key]) for key in keys]
    result = materialize(assets, {"xero": xero_resource(server), "staging": staging}, partition=today())
    assert result.success
    return result


def test_a_xero_invoice_of_a_trillion_stages_exactly(make_sandbox, staging):
    plain = {"ContactID": str(uuid.uuid4()), "Name": "Plain Ltd"}
    huge, small = _invoice(plain["ContactID"], 1e12), _invoice(plain["ContactID"], 99.95)
    _extract_xero(make_sandbox, staging, {"Contacts": [plain], "Invoices": [huge, small]}, ["invoices"])
    invoices = staged(staging, "xero_invoice")
    assert set(invoices) == {huge["InvoiceID"], small["InvoiceID"]}
    assert float(invoices[huge["InvoiceID"]]["total"]) == 1e12
    assert float(invoices[small["InvoiceID"]]["total"]) == 99.95
    assert all(r["invalid_reason"] is None for r in invoices.values())


def test_a_nul_in_a_xero_contact_name_stages_it_cleaned_with_the_original_kept(make_sandbox, staging):
    contact = {"ContactID": str(uuid.uuid4()), "Name": "Big\u0000 Spender Ltd"}
    plain = {"ContactID": str(uuid.uuid4()), "Name": "Plain Ltd"}
    _extract_xero(make_sandbox, staging, {"Contacts": [contact, plain]}, ["contacts"])
    contacts = staged(staging, "xero_contact")
    assert contacts[contact["ContactID"]]["name"] == "Big Spender Ltd"
    assert original_record(contacts[contact["ContactID"]]["raw"])["Name"] == contact["Name"]
    assert contacts[plain["ContactID"]]["name"] == "Plain Ltd"
    with staging.engine.connect() as conn:  # raw is JSON the server reads, NUL or not
        name = "raw->>'Name'" if conn.dialect.name == "postgresql" else "json_extract(raw, '$.Name')"
        names = conn.execute(sa.text(f"SELECT {name} FROM xero_contact")).scalars().all()
    assert sorted(names) == ["Big Spender Ltd", "Plain Ltd"]
