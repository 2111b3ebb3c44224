"""Every hold reason the code can produce has a sentence saying what is wrong and how to fix it.

Enumerated, not sampled: every expectation of every suite; every hold reason literal the planners
write (found in their source, so a new one without a sentence fails here); the push's rejection
prefixes. Links open the record in Salesforce and in Xero.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from sfxero_pipelines.checks.suites import load_suite, suite_names
from sfxero_pipelines.reconcile import hold_sentences as H

RECONCILE = Path(H.__file__).parent
#: The modules that decide `held` rows (fields.py's `why` is a field rule's label, not a hold).
PLANNERS = ("contacts.py", "invoices.py", "campaigns.py", "match.py", "deletes.py", "routing.py", "declared.py",
            "declared_sf.py")
SF = "https://acme.my.salesforce.com"
XERO_ID = "0a1b2c3d-0000-4000-8000-00000000abcd"


def _every_expectation():
    for name in suite_names():
        suite = load_suite(name)
        for exp in suite["expectations"]:
            yield name, suite["meta"].get("hold_table") or suite["meta"].get("table") or name, exp


@pytest.mark.parametrize("suite,table,exp", list(_every_expectation()),
                         ids=lambda v: v if isinstance(v, str) else f"{v['type']}({v['kwargs'].get('column')})")
def test_every_expectation_has_a_sentence(suite, table, exp):
    column = exp["kwargs"].get("column")
    held = {"stage": "check", "table_name": table, "record_id": "001000000000001AAA",
            "reason": f"{exp['type']}({column}): \"bad\"",
            "detail": {"suite": suite, "expectation": exp["type"], "column": column, "value": "bad",
                       "why": exp.get("meta", {}).get("why", "")}}
    for explained in (H.explain_hold(held, SF), H.explain_reason(held["reason"], table_name=table)):
        assert explained.recognised, explained
        assert H._label(column) in explained.sentence and "Held:" not in explained.sentence
        assert explained.rule.startswith(exp["type"])


#: What a formatted value stands for, by the expression's text: the planners' own variables.
_SAMPLES = [
    (re.compile(r"sobject|label|what"), "Opportunity"),
    (re.compile(r"^h_|holds\[|held_by"), "held at check: expect_column_values_to_not_be_null(name): null"),
    (re.compile(r"owes\("), "owes 10.00 overdue (1 invoice, oldest 3 days past due on 2025-03-01)"),
    (re.compile(r"^why$"), "no linked Account and no email to find a Contact or Lead by"),
    (re.compile(r"invalid"), "CloseDate is not a date"),
    (re.compile(r"target_label"), "Xero Contact"),
    (re.compile(r"code"), "'WIDGET'"),
]


def _sample(expr: ast.expr) -> str:
    text = ast.unparse(expr)
    return next((value for pattern, value in _SAMPLES if pattern.search(text)), "001000000000042AAA")


def _render(node: ast.JoinedStr | ast.Constant) -> str:
    if isinstance(node, ast.Constant):
        return node.value
    return "".join(v.value if isinstance(v, ast.Constant) else _sample(v.value) for v in node.values)


def _hold_literals() -> list[tuple[str, str]]:
    """(where, reason) of every hold reason the planners build: what is assigned to `why`/`reason`, set in
    `bad`, mapped into `reason`, or put in a ("held", …) tuple."""
    found = []
    for path in sorted(RECONCILE.glob("*.py")):
        if path.name not in PLANNERS:
            continue
        tree = ast.parse(path.read_text())
        regions = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(
                    (isinstance(t, ast.Name) and t.id in ("why", "reason")) or
                    (isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant) and t.slice.value == "reason")
                    for t in node.targets):
                regions.append(node.value)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                    node.func.attr == "setdefault" and isinstance(node.func.value, ast.Name) and node.func.value.id == "bad"
                    or node.func.attr == "fillna" and isinstance(node.func.value, ast.Name) and node.func.value.id == "reason"):
                regions.append(node)
            elif isinstance(node, ast.Tuple) and node.elts and isinstance(node.elts[0], ast.Constant) \
                    and node.elts[0].value == "held":
                regions.append(node.elts[-1])
        for region in regions:
            for sub in ast.walk(region):
                if isinstance(sub, ast.JoinedStr) or (isinstance(sub, ast.Constant) and isinstance(sub.value, str)
                                                      and " " in sub.value):
                    if not any(sub is inner for outer in ast.walk(region) if isinstance(outer, ast.JoinedStr)
                               and outer is not sub for inner in ast.walk(outer)):
                        found.append((f"{path.name}:{sub.lineno}", _render(sub)))
    return found


def test_the_enumeration_finds_the_known_reasons():
    texts = [t for _, t in _hold_literals()]
    assert any("has no line items to invoice" in t for t in texts)
    assert any("is required by Xero and the" in t for t in texts)
    assert any("no linked Account and no email" in t for t in texts)
    assert any("is archived or deleted" in t for t in texts)
    assert any("no routing rule matches the Account" in t for t in texts)
    assert any("no active contact group" in t for t in texts), "declared recipes' reasons are enumerated too"
    assert len(texts) >= 20


@pytest.mark.parametrize("where,reason", _hold_literals(), ids=lambda v: v if ":" in v else None)
def test_every_reconcile_hold_literal_has_a_sentence(where, reason):
    explained = H.explain_reason(reason, table_name="sf_account", record_id="001000000000001AAA", sf_url=SF)
    assert explained.recognised, (where, reason)
    assert explained.sentence != reason and explained.rule == reason


@pytest.mark.parametrize("reason", [
    f"Xero rejected the R2 create of Invoice: Item code 'WIDGET' is not valid",
    "R1 update of Contact not sent: the Contact it depends on was not written",
    "Salesforce rejected the R4 update of Account: FIELD_CUSTOM_VALIDATION_EXCEPTION: Phone is required",
])
def test_push_rejections_have_a_sentence(reason):
    explained = H.explain_reason(reason, table_name="sf_opportunity", record_id="006000000000001AAA", sf_url=SF)
    assert explained.recognised and "sfxero replay" in explained.sentence


def test_duplicate_account_name_sentence_and_links():
    held = {"stage": "check", "table_name": "sf_account", "record_id": "001000000000001AAA",
            "reason": 'expect_column_values_to_be_unique(name): "Gaillard Analytics SA"',
            "detail": {"suite": "sf_account", "expectation": "expect_column_values_to_be_unique", "column": "name",
                       "value": "Gaillard Analytics SA"}}
    e = H.explain_hold(held, SF)
    assert e.sentence == ("Two Salesforce Accounts are named 'Gaillard Analytics SA'; Xero needs unique contact names. "
                          "Rename one, or map Name to include the city.")
    assert ("Salesforce Account 001000000000001AAA",
            f"{SF}/lightning/r/Account/001000000000001AAA/view") in e.links
    item = H.explain_reason("Xero rejected the R2 create of Invoice: Item code 'W' is not valid",
                            table_name="sf_opportunity", record_id="006000000000001AAA", sf_url=SF)
    assert "Create the Item 'W' in Xero" in item.sentence
    linked = H.explain_reason(f"Account 001000000000002AAA held at check: x; Xero invoice {XERO_ID} held",
                              table_name="sf_opportunity", record_id="006000000000001AAA", sf_url=SF)
    urls = [u for _, u in linked.links]
    assert f"{SF}/lightning/r/Opportunity/006000000000001AAA/view" in urls
    assert f"{SF}/lightning/r/Account/001000000000002AAA/view" in urls
    assert f"https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID={XERO_ID}" in urls
    contact = H.explain_hold({"stage": "push", "table_name": "xero_contact", "record_id": XERO_ID,
                              "reason": "no linked Account and no email to find a Contact or Lead by"}, SF)
    assert ("Xero Contact " + XERO_ID, f"https://go.xero.com/Contacts/View/{XERO_ID}") in contact.links


def test_unknown_reason_is_kept_raw_and_counted():
    e = H.explain_reason("something new", table_name="sf_account")
    assert not e.recognised and e.sentence == "Held: something new"
    assert H.counts_by_kind([e, e]) == [(H.FALLBACK_KIND, 2)]
