"""The model-based soak (`sfxero bench soak`): its model's rules on their own, and a short soak as a user
runs it, which must find no mismatch and no duplicate with faults on."""

from __future__ import annotations

import pytest

from sfxero_pipelines.bench.soak_model import Edit, Provenance, predict

from .test_benches import bench, scratch  # noqa: F401 - the fixture

BEFORE = {"pairs": {"001A": {"contact": "c-1", "sf": {"Name": "Acme", "AccountNumber": "A1", "BillingCity": "Oslo"},
                             "xero": {"Name": "Acme", "AccountNumber": "A1", "BillingCity": "Oslo"}}},
          "invoices": {"inv-1": {"opportunity": "006A", "total": 100.0, "paid": 40.0}}}


def test_the_owner_of_a_field_wins_and_the_other_sides_edit_is_overwritten_in_the_plan():
    edits = [Edit("salesforce", "update", "001A", "Name", "Acme One"), Edit("xero", "update", "001A", "Name", "Acme X"),
             Edit("salesforce", "update", "001A", "BillingCity", "Rome")]
    expected = predict(BEFORE, edits)
    assert expected.fields == {("001A", "Name"): ("Acme One", "Acme One"), ("001A", "BillingCity"): ("Oslo", "Oslo")}
    assert expected.overwritten == {("R1", "001A", "Name"), ("R5", "001A", "BillingCity")}


def test_an_edit_by_the_owner_alone_propagates_and_overwrites_nothing():
    expected = predict(BEFORE, [Edit("xero", "update", "001A", "BillingCity", "Rome")])
    assert expected.fields == {("001A", "BillingCity"): ("Rome", "Rome")} and not expected.overwritten


def test_an_edit_stands_when_the_owners_value_is_our_own_write_and_the_plan_notes_it():
    ours = {"pairs": {"001A": {**BEFORE["pairs"]["001A"], "ours": {"BillingCity": True}}}}
    expected = predict(ours, [Edit("salesforce", "update", "001A", "BillingCity", "Rome")])
    assert expected.fields == {("001A", "BillingCity"): ("Rome", "Oslo")}
    assert expected.suppressed == {("001A", "BillingCity")} and not expected.overwritten


def test_an_empty_owner_value_erases_nothing():
    blank = {"pairs": {"001A": {"contact": "c-1", "sf": {"AccountNumber": None}, "xero": {"AccountNumber": None}}}}
    expected = predict(blank, [Edit("xero", "update", "001A", "AccountNumber", "X-9")])
    assert expected.fields == {("001A", "AccountNumber"): (None, "X-9")} and not expected.overwritten


def test_provenance_knows_the_values_a_contact_the_sync_created_was_created_with():
    seen = {"pairs": {"001A": {"contact": "c-new", "sf": {}, "xero": {"Name": "Acme", "AccountNumber": None,
                                                                          "BillingCity": "Oslo"}},
                      "001B": {"contact": "c-seeded", "sf": {}, "xero": {"Name": "B", "AccountNumber": None,
                                                                            "BillingCity": "Rome"}}}}
    provenance = Provenance({"c-seeded"})
    provenance.see(seen)
    assert seen["pairs"]["001A"]["ours"]["BillingCity"] and not seen["pairs"]["001B"]["ours"]["BillingCity"]
    provenance.edited(seen, [Edit("xero", "update", "001A", "BillingCity", "Oslo")])
    provenance.see(seen)
    assert not seen["pairs"]["001A"]["ours"]["BillingCity"]


def test_payments_add_up_to_paid_when_nothing_is_due():
    part = predict(BEFORE, [Edit("xero", "payment", "inv-1", value=10)])
    assert part.opportunities == {"006A": (50.0, "AUTHORISED")}
    whole = predict(BEFORE, [Edit("xero", "payment", "inv-1", value=10), Edit("xero", "payment", "inv-1", value=50)])
    assert whole.opportunities == {"006A": (100.0, "PAID")}


def test_a_deleted_account_keeps_its_contact_and_its_pending_edits_are_not_predicted():
    expected = predict(BEFORE, [Edit("salesforce", "update", "001A", "Name", "Gone"),
                                Edit("salesforce", "delete", "001A")])
    assert expected.deleted_accounts == {"001A": "c-1"} and not expected.fields


@pytest.mark.slow
def test_a_short_soak_with_faults_on_finds_no_mismatch_and_no_duplicate(tmp_path, scratch):  # noqa: F811
    out = bench(tmp_path, scratch, "soak", "--cycles", "3", "--size", "40")
    assert out["bench"] == "soak" and out["cycles"] == 3
    assert out["edits"] > 0 and out["facts_checked"] > out["edits"]
    assert out["faults"] > 0, "the soak runs with the sandbox's fault injection on"
    assert out["mismatches"] == 0, out["mismatch_detail"]
    assert out["duplicates"] == 0, out["mismatch_detail"]


def test_cycles_is_refused_for_other_benches_and_below_one():
    from ..test_cli import sfxero

    other = sfxero("bench", "push", "--cycles", "3")
    assert other.returncode == 2 and other.stderr.strip() == "sfxero: --cycles: applies to `bench soak` only"
    zero = sfxero("bench", "soak", "--cycles", "0")
    assert zero.returncode == 2 and "--cycles" in zero.stderr and "at least 1" in zero.stderr
