"""A declared recipe that pairs through another recipe's links (`match: [{link: R1}]`): it updates the
Salesforce records that recipe links (its links, and the pairs its plan of the same pass makes) and
never creates. R4's behaviour, declared: on the sandbox, a declaration of Xero balances onto the
Account plans exactly the Account updates the built-in R4 plans, on both staging backends, and converges
once pushed. R3's too: invoice status and payments declared onto the Opportunity R2 links plan exactly
R3's updates after invoices R2 wrote are approved and paid in Xero. Checked on load: the recipe named
must link the same two ends, write into Salesforce, and leave deletes to it."""

from __future__ import annotations

import json

import pytest
import yaml

from sfxero_pipelines.config import PushConfig, parse_config
from sfxero_pipelines.defs.salesforce.assets import build_salesforce_extract_asset
from sfxero_pipelines.defs.xero.assets import build_xero_extract_asset
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS
from sfxero_pipelines.push.run import push_to_salesforce
from sfxero_pipelines.reconcile.build import build_declared, build_family
from sfxero_pipelines.staging.state import links
from sfxero_pipelines.staging.state.plans import write_plan

from ..conftest import FAST_XERO
from ..extract.conftest import materialize, salesforce_resource, today, xero_resource
from ..push.conftest import records
from .test_r8_items_e2e import ROOT

#: R4, declared: the Xero balances onto the Accounts R1 links.
BALANCES = {"title": "Xero balances → Account", "from": {"xero": "Contacts"}, "to": {"salesforce": "Account"},
            "match": [{"link": "R1"}],
            "fields": {"Xero_Outstanding__c": "Balances.AccountsReceivable.Outstanding",
                       "Xero_Overdue__c": "Balances.AccountsReceivable.Overdue"}}


def _config(**recipe) -> dict:
    return {"recipes": {"BAL": {**BALANCES, **recipe}}}


def _refused(data: dict) -> tuple[str, str]:
    with pytest.raises(ConfigError) as refused:
        parse_config(data)
    return refused.value.key, refused.value.problem


def test_the_declaration_loads_and_lists_as_pairs_through_r1():
    from sfxero_pipelines.cli.recipes_cmd import recipe_lines

    cfg = parse_config(_config())
    r = cfg.recipes.declared["BAL"]
    assert r.pairs_via == "R1" and r.key_rule is None and r.writes_to == {"salesforce"}
    line = next(x for x in recipe_lines(cfg) if x["recipe"] == "BAL")
    assert line["match"] == "R1's links"


@pytest.mark.parametrize("change,key,words", [
    ({"match": [{"link": "R2"}]}, "recipes.BAL.match[0]",
     "R2 links Salesforce Opportunity to Xero Invoices, not Account to Contacts"),
    ({"match": [{"link": "R1"}, {"Xero_Contact_Id__c": "ContactID"}]}, "recipes.BAL.match",
     "pairs records by R1's links alone"),
    ({"match": [{"link": "NOPE"}]}, "recipes.BAL.match[0]", "no recipe NOPE keeps links"),
    ({"from": {"xero": "Bills"}, "to": {"salesforce": "Opportunity"}, "match": [{"link": "R2"}],
      "fields": {"Description": "Reference"}}, "recipes.BAL.match[0]",
     "R2 links Salesforce Opportunity to Xero Invoices, not Opportunity to Bills"),
    ({"deletes": "archive"}, "recipes.BAL.deletes", "the records belong to R1"),
    ({"from": {"salesforce": "Account"}, "to": {"xero": "Contacts"}, "fields": {"Website": "Website"}},
     "recipes.BAL.match[0]", "this recipe writes to Xero"),
])
def test_a_bad_pairing_is_refused_naming_the_key(change, key, words):
    found_key, problem = _refused(_config(**change))
    assert found_key == f"sfxero.yaml: {key}" and words in problem, (found_key, problem)


def _updates(rows, recipe: str) -> set[tuple[str, str, float]]:
    """(Account Id, field, new value) of a recipe's Account updates."""
    out = set()
    for r in rows[(rows.recipe == recipe).to_numpy() & (rows.action == "update").to_numpy()].itertuples():
        for field, change in json.loads(r.diff)["fields"].items():
            out.add((r.target_id, field, round(float(change["new"]), 2)))
    return out


def test_declared_balances_plan_exactly_r4s_account_updates(make_sandbox, staging, tmp_path, monkeypatch):
    server = make_sandbox(size="30", seed=7, xero_limits=FAST_XERO)
    resources = {"salesforce": salesforce_resource(server), "xero": xero_resource(server), "staging": staging}
    for sobject in ("Account", "Contact"):
        assert materialize([build_salesforce_extract_asset(sobject)], resources, partition=today()).success
    assert materialize([build_xero_extract_asset(XERO_OBJECTS["contacts"])], resources, partition=today()).success

    builtin = parse_config({})
    declared = parse_config({"recipes": {"R4": {"enabled": False}, "BAL": BALANCES}})
    with staging.engine.connect() as conn:
        r4 = _updates(build_family(conn, builtin, "contacts").rows, "R4")
        r1_pass = build_family(conn, declared, "contacts").rows
        assert not (r1_pass.recipe == "R4").any()
        bal = build_declared(conn, declared, "BAL", r1_pass).rows
    assert r4, "the seed's Accounts carry no Xero balances yet: R4 has updates to plan"
    assert _updates(bal, "BAL") == r4
    assert set(bal.action) <= {"update", "skip"}, "pairs through R1 are updated or in sync, never created"
    # Every pair is one R1 makes in this pass (none of them is in sync_link yet: nothing was pushed).
    paired = set(r1_pass.source_id[r1_pass.recipe.eq("R1") & r1_pass.action.isin(["update", "skip"])])
    assert set(bal.target_id) <= paired
    assert bal.reason[bal.action == "update"].str.endswith("matched by link R1").all()
    print(f"\n{staging.engine.dialect.name}: R4 planned {len(r4)} Account field updates over "
          f"{len({a for a, _, _ in r4})} Accounts; the declaration the same; {len(bal)} BAL rows in all")


def test_pushed_balances_converge_and_record_no_links_of_their_own(make_sandbox, sqlite_staging, monkeypatch,
                                                                   tmp_path):
    server = make_sandbox(size="30", seed=7, xero_limits=FAST_XERO)
    config = tmp_path / "bal.yaml"
    data = {"recipes": {"R4": {"enabled": False}, "BAL": BALANCES}}
    config.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("SFXERO_CONFIG", str(config))  # the push writes the plans of the recipes configured
    cfg = parse_config(data)
    resources = {"salesforce": salesforce_resource(server), "xero": xero_resource(server), "staging": sqlite_staging}

    def plan_balances():
        assert materialize([build_salesforce_extract_asset("Account")], resources, partition=today()).success
        with sqlite_staging.begin() as conn:
            r1 = build_family(conn, cfg, "contacts").rows
            rows = build_declared(conn, cfg, "BAL", r1).rows
            write_plan(conn, rows, recipes=("BAL",))
        return rows

    assert materialize([build_salesforce_extract_asset("Contact")], resources, partition=today()).success
    assert materialize([build_xero_extract_asset(XERO_OBJECTS["contacts"])], resources, partition=today()).success
    first = plan_balances()
    wanted = _updates(first, "BAL")
    assert wanted
    with salesforce_resource(server).get_client() as s:
        report = push_to_salesforce(sqlite_staging.engine, s, cfg=PushConfig(), run_id="bal-1")
    assert report.written == len(set(first.target_id[first.action == "update"])) and report.held == []
    accounts = {a["Id"]: a for a in records(server, "sf", "Account")}
    assert {(a, f, round(float(accounts[a][f]), 2)) for a, f, _ in wanted} == wanted
    with sqlite_staging.engine.connect() as conn:
        assert links.links_of(conn, "BAL") == {}, "the pairs are R1's: BAL records no link"
    second = plan_balances()
    assert set(second.action) == {"skip"}, "the next plan has nothing to write"


#: R3, declared: the invoice's status and payments onto the Opportunity R2 links it to.
PAYMENTS = {"title": "Invoice status and payments → Opportunity", "from": {"xero": "Invoices"},
            "to": {"salesforce": "Opportunity"}, "match": [{"link": "R2"}],
            "fields": {"Xero_Invoice_Status__c": "Status", "Xero_Amount_Paid__c": "AmountPaid",
                       "Xero_Amount_Due__c": "AmountDue",
                       "Xero_Fully_Paid_On__c": {"from": "FullyPaidOnDate", "transform": "date"}}}


def _every_update(rows, recipe: str) -> set[tuple[str, str, str]]:
    out = set()
    for r in rows[(rows.recipe == recipe).to_numpy() & (rows.action == "update").to_numpy()].itertuples():
        for field, change in json.loads(r.diff)["fields"].items():
            new = change["new"]
            out.add((r.target_id, field, f"{float(new):.2f}" if isinstance(new, (int, float)) else str(new)[:10]))
    return out


def test_declared_payments_plan_exactly_r3s_opportunity_updates(make_sandbox, staging, monkeypatch):
    from .test_finance_example_e2e import run_cycle

    server = make_sandbox(size="30", seed=7, xero_limits=FAST_XERO)
    monkeypatch.setenv("SFXERO_CONFIG", str(ROOT / "sfxero.yaml"))
    first = run_cycle(server, staging.engine, "c1")  # R2 creates the won Opportunities' invoices
    assert first["xero"].by_recipe["R2"] > 0
    invoiced = sorted((i for i in records(server, "xero", "Invoices") if i.get("Type") == "ACCREC"
                       and i.get("Status") == "DRAFT" and i.get("Total", 0) > 1
                       and str(i.get("Reference") or "").startswith("006")), key=lambda i: i["Reference"])
    assert len(invoiced) >= 3, "R2 wrote drafts"
    with xero_resource(server).get_client() as x:  # approved in Xero, then a part payment and a whole one
        x.write("Invoices", [{"InvoiceID": i["InvoiceID"], "Status": "AUTHORISED"} for i in invoiced[:3]],
                idempotency_key="approve")
        for n, (inv, share) in enumerate(zip(invoiced[:2], (0.5, 1.0))):
            x.write("Payments", [{"Invoice": {"InvoiceID": inv["InvoiceID"]}, "Account": {"Code": "090"},
                                  "Date": "2026-12-01", "Amount": round(inv["Total"] * share, 2)}],
                    method="PUT", idempotency_key=f"pay-{n}")
    resources = {"salesforce": salesforce_resource(server), "xero": xero_resource(server), "staging": staging}
    for key in ("invoices", "payments"):
        assert materialize([build_xero_extract_asset(XERO_OBJECTS[key])], resources, partition=today()).success
    # The Opportunities as R2's write-back left them (status and amounts of the drafts).
    assert materialize([build_salesforce_extract_asset("Opportunity")], resources, partition=today()).success
    builtin = parse_config({})
    declared = parse_config({"recipes": {"R3": {"enabled": False}, "PAY": PAYMENTS}})
    with staging.engine.connect() as conn:
        r3 = _every_update(build_family(conn, builtin, "invoices").rows, "R3")
        r2_pass = build_family(conn, declared, "invoices").rows
        pay = build_declared(conn, declared, "PAY", r2_pass).rows
    assert {o for o, _, _ in r3} == {i["Reference"] for i in invoiced[:3]}, "R3 plans the approved and paid ones"
    assert _every_update(pay, "PAY") == r3
    print(f"\n{staging.engine.dialect.name}: R3 planned {len(r3)} Opportunity field updates over "
          f"{len({o for o, _, _ in r3})} Opportunities; the declaration the same")


def test_a_contact_r1_creates_is_written_back_with_the_declared_balances_so_the_next_plan_is_quiet(
        make_sandbox, staging, tmp_path, monkeypatch):
    """R4 off, its balances declared (with `default: 0`, what a contact created a moment ago owes): R1's
    create writes them back with the ContactID, as it does R4's, so the cycle after has no update to make."""
    from .test_finance_example_e2e import run_cycle

    server = make_sandbox(size="30", seed=7, xero_limits=FAST_XERO)
    fields = {f: {"from": path, "default": 0.0} for f, path in BALANCES["fields"].items()}
    config = tmp_path / "bal.yaml"
    config.write_text(yaml.safe_dump({"recipes": {"R4": {"enabled": False}, "BAL": {**BALANCES, "fields": fields}}}))
    monkeypatch.setenv("SFXERO_CONFIG", str(config))
    first = run_cycle(server, staging.engine, "c1")
    assert first["plan"]["R1"]["create"] > 0 and first["plan"]["BAL"]["update"] > 0, first["plan"]
    created = {a["Id"]: a for a in records(server, "sf", "Account") if a.get("Xero_Contact_Id__c")}
    new = [c["ContactNumber"] for c in records(server, "xero", "Contacts") if c.get("ContactNumber") in created]
    assert new and all(created[i]["Xero_Outstanding__c"] == 0.0 == created[i]["Xero_Overdue__c"] for i in new)
    second = run_cycle(server, staging.engine, "c2")
    assert second["plan"]["BAL"].get("update", 0) == 0, second["plan"]["BAL"]
    assert second["plan"]["BAL"]["skip"] >= first["plan"]["BAL"]["update"] + len(new)


def test_r2s_create_writes_back_what_a_declaration_through_r2_reads_without_a_transform():
    from sfxero_pipelines.reconcile import invoices

    cfg = parse_config({"recipes": {"R3": {"enabled": False}, "PAY": PAYMENTS}})
    back = invoices.write_back_fields(cfg)
    assert {f: back[f] for f in ("Xero_Invoice_Status__c", "Xero_Amount_Paid__c", "Xero_Amount_Due__c")} == {
        "Xero_Invoice_Status__c": "Status", "Xero_Amount_Paid__c": "AmountPaid", "Xero_Amount_Due__c": "AmountDue"}
    assert "Xero_Fully_Paid_On__c" not in back, "a transformed field is left to the recipe's own plan"
    assert invoices.write_back_fields(parse_config({"recipes": {"R3": {"enabled": False}}})) == {
        "Xero_Invoice_Id__c": "InvoiceID", "Xero_Invoice_Number__c": "InvoiceNumber"}
