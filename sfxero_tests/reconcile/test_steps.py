"""The shared planner steps (reconcile/steps.py), each alone on hand-made frames: pure logic, no database."""

from __future__ import annotations

import json

import pandas as pd

from sfxero_pipelines.reconcile import normalize
from sfxero_pipelines.reconcile.fields import Entry, compare
from sfxero_pipelines.reconcile.steps import (changes_by_row, held_by, held_pair_rows, hold_reasons, link_pairs,
                                              pair_frame, sf_update_rows, split_held, staged_invalid, xero_owned)


def _pairs(rows: list[tuple[str, str, str, bool]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["sf_id", "xero_id", "match", "link"]).astype({"link": bool})


def test_link_pairs_keeps_only_records_with_a_link():
    records = pd.DataFrame({"id": ["a", "b", "c"], "link_id": ["x1", None, "x3"]}, dtype="object")
    out = link_pairs(records, "link_id")
    assert out.to_dict("records") == [{"sf_id": "a", "xero_id": "x1"}, {"sf_id": "c", "xero_id": "x3"}]


def test_pair_frame_lines_both_sides_up_by_pair():
    sf = pd.DataFrame({"id": ["a", "b"], "name": ["Acme", "Beta"], "n": [1, 2]}).set_index("id")
    target = pd.DataFrame({"id": ["x1", "x2"], "name": ["ACME", "Beta Ltd"]}).set_index("id")
    pf = pair_frame(_pairs([("b", "x2", "name", True), ("a", "x1", "link", False)]), sf, target,
                    {"s_name": "name", "s_n": "n"}, {"x_name": "name"})
    assert pf[["sf_id", "xero_id", "s_name", "x_name"]].values.tolist() == [["b", "x2", "Beta", "Beta Ltd"],
                                                                           ["a", "x1", "Acme", "ACME"]]
    # Values keep their objects (comparisons work on staged text, not inferred dtypes); link stays a flag.
    assert pf.s_n.dtype == object and pf.s_n.tolist() == [2, 1]
    assert pf.link.tolist() == [True, False]


def test_hold_reasons_takes_the_first_check_that_holds():
    pf = pd.DataFrame({"sf_id": ["a", "b", "c", "d"], "xero_id": ["x1", "x2", "x3", "x4"],
                       "s_invalid": [None, "bad date", "bad date", None]}, dtype="object")
    checks = [("sf_id", held_by({"b": "held at check: no name"}, "Account")),
              ("xero_id", held_by({"x3": "held at push: 400"}, "Xero Contact")),
              ("xero_id", held_by({}, "never")),  # nothing held: no check at all
              ("s_invalid", staged_invalid("Account"))]
    assert hold_reasons(pf, checks).tolist() == [None, "Account b held at check: no name",
                                                 "Xero Contact x3 held at push: 400", None]


def test_split_held_renumbers_what_is_compared():
    pf = pd.DataFrame({"sf_id": ["a", "b", "c"]})
    ok, held, why = split_held(pf, pd.Series([None, "held", None], dtype="object"))
    assert ok.sf_id.tolist() == ["a", "c"] and ok.index.tolist() == [0, 1]
    assert held.sf_id.tolist() == ["b"] and why == ["held"]


def test_changes_by_row_groups_fields_by_pair_row_and_direction():
    entries = [Entry(0, "sf_to_xero", "Name", "A", "B", "Name→Name"), Entry(2, "xero_to_sf", "Phone", "1", "2", "x"),
               Entry(0, "sf_to_xero", "Phone", None, "3", "p")]
    assert changes_by_row(entries, direction="sf_to_xero") == {
        0: {"Name": {"old": "A", "new": "B", "rule": "Name→Name"}, "Phone": {"old": None, "new": "3", "rule": "p"}}}
    assert changes_by_row(entries, direction="xero_to_sf", rule_prefix="R5: ") == {
        2: {"Phone": {"old": "1", "new": "2", "rule": "R5: x"}}}


def test_xero_owned_rule_brings_xero_value_to_salesforce_only():
    rule = xero_owned("Xero_Overdue__c", normalize.v_money, "Xero overdue → Xero_Overdue__c")
    pf = pd.DataFrame({"sf_id": ["a", "b"], "xero_id": ["x1", "x2"], "s_Xero_Overdue__c": ["10.00", "5"],
                       "x_Xero_Overdue__c": ["10", "7.5"], "s_modified_at": [None, None], "x_modified_at": [None, None]},
                      dtype="object")
    entries, _ = compare(pf, [rule], written_xero={}, written_sf={})
    assert [(e.row, e.direction, e.old, e.new) for e in entries] == [(1, "xero_to_sf", "5", 7.5)]
    assert xero_owned("Id__c", normalize.v_text, "id", x_col="xero_id").x_col == "xero_id"


def _diffs(rows: pd.DataFrame) -> list[dict]:
    return [json.loads(d) for d in rows["diff"]]


def test_sf_update_rows_write_each_rows_fields_onto_the_record():
    pairs = _pairs([("a", "x1", "link", False), ("b", "x2", "email", True)])
    changes = {1: {"Xero_Overdue__c": {"old": 5.0, "new": 7.5, "rule": "R4: x"}}}
    rows = sf_update_rows("R4", "Account", pairs, changes, "balances changed in Xero")
    assert rows[["recipe", "direction", "action", "source_id", "target_id", "reason"]].values.tolist() == [
        ["R4", "xero_to_sf", "update", "x2", "b", "balances changed in Xero"]]
    assert _diffs(rows) == [{"match": "email", "target_object": "Account", "fields": changes[1],
                             "payload": {"Account": {"Id": "b", "Xero_Overdue__c": 7.5}}}]
    linked = sf_update_rows("R1", "Account", pairs, changes, "why", payload=lambda r, f: {"custom": r}, with_link=True)
    assert _diffs(linked)[0]["payload"] == {"custom": 1} and _diffs(linked)[0]["link"] is True


def test_held_pair_rows_keep_how_the_pair_was_matched():
    rows = held_pair_rows("R2", _pairs([("o1", "i1", "reference", True)]), ["Opportunity o1 waits"])
    assert rows[["recipe", "action", "source_id", "target_id", "reason"]].values.tolist() == [
        ["R2", "held", "o1", "i1", "Opportunity o1 waits"]]
    assert _diffs(rows) == [{"match": "reference"}]
