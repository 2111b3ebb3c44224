"""R11 (examples/r11_opportunities_to_quotes.yaml) end to end on the sandbox, through the real `sfxero
sync` in its own process: every Opportunity at the proposal stage whose Account R1 links becomes one
Xero quote whose lines are its products (code, quantity, price), the first sync converges (its
verifying pass plans nothing to write), each line tracked to the Department category's Sales option,
and a changed quantity updates the same quote in the next cycle instead of making a second one."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from ..extract.test_salesforce_extract import simple_salesforce
from ..push.conftest import live, records
from .test_r8_items_e2e import _sfxero, example_world

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "r11_opportunities_to_quotes.yaml"
STAGE = "Proposal/Price Quote"


def _quoted(server) -> dict[str, dict]:
    return {o["Id"]: o for o in records(server, "sf", "Opportunity")
            if o.get("StageName") == STAGE and not o.get("IsDeleted")}


def _lines(server, opportunity_id: str) -> list[tuple]:
    return [(li.get("ProductCode"), float(li["Quantity"]), round(float(li["UnitPrice"]), 2))
            for li in sorted(records(server, "sf", "OpportunityLineItem"), key=lambda li: li["Id"])
            if li["OpportunityId"] == opportunity_id and not li.get("IsDeleted")]


def _quotes_by_reference(server) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = collections.defaultdict(list)
    for q in live(records(server, "xero", "Quotes")):
        out[q.get("Reference")].append(q)
    return out


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_r11_quotes_converge_with_their_lines_and_follow_a_changed_quantity(make_sandbox, tmp_path, backend, request):
    server, env = example_world(make_sandbox, tmp_path, backend, request, EXAMPLE)

    first = _sfxero(env, "sync")
    assert first.returncode in (0, 1) and "Converged:" in first.stdout, first.stdout[-3000:] + first.stderr[-3000:]
    quoted = _quoted(server)
    linked = {a["Id"] for a in records(server, "sf", "Account") if a.get("Xero_Contact_Id__c")}
    expected = {i for i, o in quoted.items() if o.get("AccountId") in linked}
    assert expected, "the seed has Opportunities being quoted for Accounts in Xero"
    quotes = _quotes_by_reference(server)
    assert {r for r in quotes if r in quoted} == expected, [r["reason"] for r in json.loads(_sfxero(env, "plan", "--json").stdout)["rows"] if r["recipe"] == "R11"]
    for opp_id in expected:
        assert len(quotes[opp_id]) == 1, f"{opp_id}: one quote, not {len(quotes[opp_id])}"
        got = [(li.get("ItemCode"), float(li["Quantity"]), round(float(li["UnitAmount"]), 2))
               for li in quotes[opp_id][0]["LineItems"]]
        assert got == _lines(server, opp_id)
        assert {(t["Name"], t["Option"]) for li in quotes[opp_id][0]["LineItems"] for t in li["Tracking"]} == \
            ({("Department", "Sales")} if got else set()), "each line tracked to the Sales department"
    planned = json.loads(_sfxero(env, "plan", "--json").stdout)
    r11 = planned["summary"]["R11"]
    assert (r11["create"], r11["update"], r11["skip"]) == (0, 0, len(expected)), r11

    # A quantity changed in Salesforce: the next cycle rewrites that quote's lines, and only that quote.
    opp_id = sorted(i for i in expected if _lines(server, i))[0]
    line = next(li for li in sorted(records(server, "sf", "OpportunityLineItem"), key=lambda li: li["Id"])
                if li["OpportunityId"] == opp_id and not li.get("IsDeleted"))
    simple_salesforce(server).OpportunityLineItem.update(line["Id"], {"Quantity": float(line["Quantity"]) + 3})
    second = _sfxero(env, "sync")
    assert second.returncode in (0, 1) and "Converged:" in second.stdout, second.stdout[-3000:]
    quotes = _quotes_by_reference(server)
    assert len(quotes[opp_id]) == 1
    assert [float(li["Quantity"]) for li in quotes[opp_id][0]["LineItems"]] == [q for _, q, _ in _lines(server, opp_id)]
    assert sum(len(quotes[i]) for i in expected) == len(expected), "no quote was created twice"
