"""Suites and the runner, on SQLite and the real PostgreSQL, with rows staged directly:
- every suite file is a valid great-expectations 1.x suite and says what a failure means;
- each kind of bad invoice (unknown contact, unknown currency, negative amount, total ≠ lines + tax,
  date out of range, unknown status) fails the right expectation, with its id and value;
- good rows are not failing; deleted rows are not checked;
- a broken key constraint or too large a share of bad rows blocks the table; fewer bad rows do not;
- holds are written once, never duplicated on a re-run, and released when the record passes;
- accounting pre-validation: inactive account code / tax type on an item, archived contact,
  unknown item code, a PAID invoice being changed, contact names clashing.
"""

from __future__ import annotations

import datetime as dt

import pytest

from sfxero_pipelines.checks.holds import open_holds, sync_holds
from sfxero_pipelines.checks.runner import run_suite
from sfxero_pipelines.checks.suites import load_suite, suite_names
from sfxero_pipelines.config import ChecksConfig

from .conftest import holds, sf_table, xero_table

CFG = ChecksConfig(max_bad_share=0.9)
CONTACT = "c-good"


def _invoice(i: str, **over) -> dict:
    lines = [{"LineAmount": 100.0, "TaxAmount": 15.0}, {"LineAmount": 50.0, "TaxAmount": 7.5}]
    row = {"id": i, "invoice_id": i, "type": "ACCREC", "invoice_number": f"INV-{i}", "contact_id": CONTACT,
           "status": "AUTHORISED", "line_amount_types": "Exclusive", "currency_code": "USD", "sub_total": 150.0,
           "total_tax": 22.5, "total": 172.5, "amount_due": 172.5, "amount_paid": 0.0, "date": dt.date(2025, 3, 1),
           "due_date": dt.date(2025, 3, 31), "raw": {"InvoiceID": i, "LineItems": lines}}
    row.update(over)
    return row


@pytest.mark.parametrize("name", suite_names())
def test_suite_files_are_ge_suites_with_a_level(name, gx):
    suite = load_suite(name)
    parsed = gx.ExpectationSuite(name=suite["name"], expectations=[{"type": e["type"], "kwargs": e["kwargs"]}
                                                                   for e in suite["expectations"]])
    assert len(parsed.expectations) == len(suite["expectations"]) > 0
    assert all(e["meta"]["level"] in ("record", "table") and e["meta"]["why"] for e in suite["expectations"])
    assert suite["meta"]["table"] and suite["meta"]["hold_table"]


def test_each_bad_invoice_fails_its_rule_and_good_ones_pass(staging):
    xero_table(staging, "contacts", [{"id": CONTACT, "name": "Good Co", "contact_status": "ACTIVE"}])
    bad = {
        "inv-no-contact": ("contact_id", "c-missing"),
        "inv-currency": ("currency_code", "XYZ"),
        "inv-negative": ("amount_due", -5.0),
        "inv-mismatch": ("total", 180.0),
        "inv-date": ("date", dt.date(1999, 12, 31)),
    }
    rows = [_invoice(f"inv-good-{n}") for n in range(8)]
    rows += [_invoice(i, **{col: value}) for i, (col, value) in bad.items()]
    rows.append(_invoice("inv-deleted", currency_code="XYZ", is_deleted=True))
    rows.append(_invoice("inv-inclusive", line_amount_types="Inclusive", total=150.0, amount_due=150.0))
    xero_table(staging, "invoices", rows)

    with staging.begin() as conn:
        outcome = run_suite(conn, "xero_invoice", CFG)
    assert outcome.rows == 8 + len(bad) + 1  # the deleted row is not checked
    assert set(outcome.record_failures) == set(bad)
    expected_column = {"inv-no-contact": "contact_id", "inv-currency": "currency_code", "inv-negative": "amount_due",
                       "inv-mismatch": "total_mismatch", "inv-date": "date"}
    for record_id, column in expected_column.items():
        failures = outcome.record_failures[record_id]
        assert column in {f["column"] for f in failures}, (record_id, failures)
    assert {f["value"] for f in outcome.record_failures["inv-currency"]} == {"XYZ"}
    assert outcome.record_failures["inv-mismatch"][0]["value"] == pytest.approx(7.5)
    assert outcome.record_failures["inv-date"][0]["value"] == "1999-12-31"
    assert not outcome.blocking  # 5 of 14 bad is under max_bad_share 0.9


def test_share_of_bad_rows_above_threshold_blocks(staging):
    xero_table(staging, "contacts", [{"id": CONTACT, "name": "Good Co", "contact_status": "ACTIVE"}])
    xero_table(staging, "invoices", [_invoice("a"), _invoice("b"), _invoice("c", currency_code="???")])
    with staging.begin() as conn:
        lenient = run_suite(conn, "xero_invoice", ChecksConfig(max_bad_share=0.5))
        strict = run_suite(conn, "xero_invoice", ChecksConfig(max_bad_share=0.2))
    assert lenient.bad_rows == strict.bad_rows == 1
    assert not lenient.blocking
    assert strict.blocking and "max_bad_share" in strict.table_failures[0]


def test_broken_key_constraint_blocks_the_table(staging):
    xero_table(staging, "accounts", [{"id": "a1", "code": "200", "name": "Sales", "status": "ACTIVE"}])
    xero_table(staging, "tax_rates", [{"id": "OUTPUT", "tax_type": "OUTPUT", "status": "ACTIVE"}])
    xero_table(staging, "items", [{"id": f"i{n}", "code": "DUP" if n < 2 else f"C{n}", "sales_account_code": "200",
                                   "sales_tax_type": "OUTPUT"} for n in range(30)])
    with staging.begin() as conn:
        outcome = run_suite(conn, "xero_item", CFG)
    assert outcome.blocking
    assert any("code" in f and "key constraint" in f for f in outcome.table_failures)


def test_holds_are_written_once_and_released_when_fixed(staging):
    xero_table(staging, "contacts", [{"id": CONTACT, "name": "Good Co", "contact_status": "ACTIVE"}])
    xero_table(staging, "invoices", [_invoice("good"), _invoice("bad", currency_code="XYZ", amount_due=-1.0)])
    for run in ("r1", "r2"):
        with staging.begin() as conn:
            outcome = run_suite(conn, "xero_invoice", CFG)
            sync_holds(conn, table_name="xero_invoice", suite="xero_invoice", failures=outcome.record_failures, run_id=run)
    held = holds(staging, "xero_invoice")
    assert sorted(h["reason"] for h in held) == [
        'expect_column_values_to_be_between(amount_due): -1.0',
        'expect_column_values_to_be_in_set(currency_code): "XYZ"']
    assert {h["record_id"] for h in held} == {"bad"} and {h["run_id"] for h in held} == {"r1"}
    assert all(h["stage"] == "check" and h["detail"]["suite"] == "xero_invoice" for h in held)
    with staging.engine.connect() as conn:
        assert open_holds(conn, "xero_invoice") == {"bad"}

    with staging.begin() as conn:
        conn.exec_driver_sql("UPDATE xero_invoice SET currency_code = 'USD', amount_due = 1 WHERE id = 'bad'")
        outcome = run_suite(conn, "xero_invoice", CFG)
        assert sync_holds(conn, table_name="xero_invoice", suite="xero_invoice",
                          failures=outcome.record_failures, run_id="r3") == (0, 2)
        assert open_holds(conn, "xero_invoice") == set()
    assert len(holds(staging, "xero_invoice", open_only=False)) == 2


def _accounting_world(db):
    xero_table(db, "accounts", [{"id": "a1", "code": "200", "name": "Sales", "status": "ACTIVE"},
                                {"id": "a2", "code": "299", "name": "Old sales", "status": "ARCHIVED"}])
    xero_table(db, "tax_rates", [{"id": "OUTPUT", "tax_type": "OUTPUT", "status": "ACTIVE"},
                                 {"id": "OLDTAX", "tax_type": "OLDTAX", "status": "DELETED"}])
    xero_table(db, "items", [
        {"id": "it1", "code": "GOOD", "sales_account_code": "200", "sales_tax_type": "OUTPUT"},
        {"id": "it2", "code": "OLDACC", "sales_account_code": "299", "sales_tax_type": "OUTPUT"},
        {"id": "it3", "code": "OLDTAX", "sales_account_code": "200", "sales_tax_type": "OLDTAX"}])
    xero_table(db, "contacts", [
        {"id": "x-live", "name": "Live Co", "contact_status": "ACTIVE"},
        {"id": "x-arch", "name": "Gone Co", "contact_status": "ARCHIVED", "is_deleted": True},
        {"id": "x-taken", "name": "Taken Name", "contact_status": "ACTIVE"}])
    xero_table(db, "invoices", [_invoice("xinv-paid", contact_id="x-live", status="PAID", sub_total=1000.0)])
    sf_table(db, "sf_account", {"name": "text", "xero_contact_id__c": "text"}, [
        {"id": "acc-live", "name": "Live Co", "xero_contact_id__c": "x-live"},
        {"id": "acc-arch", "name": "Gone Co", "xero_contact_id__c": "x-arch"},
        {"id": "acc-owner", "name": "Owner Co", "xero_contact_id__c": "x-taken"},
        {"id": "acc-clash", "name": "  taken   NAME "},
        {"id": "acc-dup1", "name": "Twin Ltd"}, {"id": "acc-dup2", "name": "twin ltd"}])
    sf_table(db, "sf_product2", {"name": "text", "productcode": "text"}, [
        {"id": f"p-{c}", "name": c, "productcode": c} for c in ("GOOD", "OLDACC", "OLDTAX", "NOITEM")])
    sf_table(db, "sf_opportunity", {"name": "text", "accountid": "text", "amount": "money", "iswon": "bool",
                                    "xero_invoice_id__c": "text"}, [
        {"id": "o-good", "accountid": "acc-live", "amount": 100.0, "iswon": True},
        {"id": "o-arch", "accountid": "acc-arch", "amount": 100.0, "iswon": True},
        {"id": "o-noitem", "accountid": "acc-live", "amount": 100.0, "iswon": True},
        {"id": "o-oldacc", "accountid": "acc-live", "amount": 100.0, "iswon": True},
        {"id": "o-oldtax", "accountid": "acc-live", "amount": 100.0, "iswon": True},
        {"id": "o-paid-same", "accountid": "acc-live", "amount": 1000.0, "iswon": True, "xero_invoice_id__c": "xinv-paid"},
        {"id": "o-paid-changed", "accountid": "acc-live", "amount": 1200.0, "iswon": True,
         "xero_invoice_id__c": "xinv-paid"},
        {"id": "o-open", "accountid": "acc-arch", "amount": 5.0, "iswon": False}])
    sf_table(db, "sf_opportunity_line_item", {"opportunityid": "text", "product2id": "text", "productcode": "text"}, [
        {"id": "l1", "opportunityid": "o-good", "product2id": "p-GOOD"},
        {"id": "l2", "opportunityid": "o-noitem", "product2id": "p-NOITEM"},
        {"id": "l3", "opportunityid": "o-oldacc", "product2id": "p-OLDACC", "productcode": "OLDACC"},
        {"id": "l4", "opportunityid": "o-oldtax", "product2id": "p-OLDTAX"},
        {"id": "l5", "opportunityid": "o-arch", "product2id": "p-GOOD"}])


def test_accounting_prevalidation_holds_what_xero_would_reject(staging):
    _accounting_world(staging)
    with staging.begin() as conn:
        invoices = run_suite(conn, "accounting_invoice_push", CFG)
        contacts = run_suite(conn, "accounting_contact_push", CFG)
        items = run_suite(conn, "xero_item", CFG)

    failed = {i: {f["column"]: f["value"] for f in fs} for i, fs in invoices.record_failures.items()}
    assert failed == {
        "o-arch": {"archived_xero_contact": "x-arch (Gone Co) is ARCHIVED"},
        "o-noitem": {"unknown_item_codes": "NOITEM"},
        "o-oldacc": {"inactive_account_codes": "OLDACC→299"},
        "o-oldtax": {"inactive_tax_types": "OLDTAX→OLDTAX"},
        "o-paid-changed": {"paid_invoice_change": "INV-xinv-paid is PAID at 1000.00; opportunity amount is 1200.00"},
    }
    assert invoices.rows == 7  # won opportunities only
    assert set(contacts.record_failures) == {"acc-dup1", "acc-dup2", "acc-clash"}
    assert contacts.record_failures["acc-clash"][0]["value"] == "x-taken (Taken Name) is linked to acc-owner"
    # The same rules on the Xero items themselves.
    assert {i: {f["column"] for f in fs} for i, fs in items.record_failures.items()} == {
        "it2": {"sales_account_code"}, "it3": {"sales_tax_type"}}


def test_missing_tables_skip_rules_instead_of_failing_everything(staging):
    sf_table(staging, "sf_opportunity", {"name": "text", "accountid": "text", "amount": "money"},
             [{"id": "o1", "name": "x", "accountid": "acc-unstaged", "amount": 1.0}])
    with staging.begin() as conn:
        outcome = run_suite(conn, "sf_opportunity", CFG)
        unstaged = run_suite(conn, "xero_invoice", CFG)
    assert outcome.record_failures == {} and not outcome.blocking
    skipped = {e.column: e.skipped for e in outcome.expectations if e.skipped}
    assert "sf_account_ids" in skipped["accountid"] and "not staged" in skipped["stagename"]
    assert unstaged.staged is False


def test_an_account_of_another_organisation_keeps_its_contact_id_out_of_this_ones_check(staging):
    """With several organisations (routing), an Account routed elsewhere carries that organisation's
    ContactID: `foreign_ids` leaves it to that organisation's runs; this organisation's own Accounts are
    still checked against its contacts."""
    xero_table(staging, "contacts", [{"id": CONTACT, "name": "Good Co", "contact_status": "ACTIVE"}])
    sf_table(staging, "sf_account", {"name": "text", "xero_contact_id__c": "text"},
             [{"id": "001MINE", "name": "Mine", "xero_contact_id__c": CONTACT},
              {"id": "001THEIRS", "name": "Theirs", "xero_contact_id__c": "another-organisations-contact"},
              {"id": "001STALE", "name": "Stale", "xero_contact_id__c": "a-contact-gone-from-here"}])
    with staging.begin() as conn:
        alone = run_suite(conn, "sf_account", CFG)
        routed = run_suite(conn, "sf_account", CFG, foreign_ids=frozenset({"001THEIRS"}))
    assert set(alone.record_failures) == {"001THEIRS", "001STALE"}
    assert set(routed.record_failures) == {"001STALE"}
    assert routed.record_failures["001STALE"][0]["column"] == "xero_contact_id__c"
