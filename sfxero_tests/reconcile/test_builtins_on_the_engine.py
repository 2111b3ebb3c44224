"""R3 and R4 on the declared-recipe engine: their behaviour is the declaration the package ships
(config/builtin_recipes.yaml), which `sfxero recipes show R3` prints and `recipes.R3` in sfxero.yaml
overrides key by key; their rows keep the ledger keys the code planners gave them, so a sync that
converged before the move has nothing to write after it. Staged fixtures on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
import yaml

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.push.rows import PushRow
from sfxero_pipelines.reconcile.build import build_plan

from .test_invoices_plan import won
from ..test_cli import sfxero

#: The keys the code planners (reconcile/invoices.py and contacts.py at f1a4d1c, before the move) gave
#: the updates below: the ledger keys a running sync holds for R3's and R4's rows.
KEY_BEFORE_THE_MOVE = "sfx-897c3068a15536a651e8991a8199f1eaa66ba862"
R4_KEY_BEFORE_THE_MOVE = "sfx-f3680982364731225932bb38e9585f90a762b0d4"


def _rows(world, recipe: str, cfg: dict | None = None) -> list[PushRow]:
    family = {"R1": "contacts", "R3": "invoices", "R4": "contacts"}[recipe]
    with world.db.engine.connect() as conn:
        rows = build_plan(conn, parse_config(cfg or {}), families=(family,)).rows
    return [PushRow("", 0, r["recipe"], r["direction"], r["action"], r["source_id"], r["target_id"],
                    json.loads(r["diff"]) if isinstance(r["diff"], str) else (r["diff"] or {}))
            for r in rows.to_dict("records") if r["recipe"] == recipe]


def _r3_rows(world, cfg: dict | None = None) -> list[PushRow]:
    return _rows(world, "R3", cfg)


def _paid_in_xero(world) -> str:
    """An Opportunity R2 invoiced (linked), its invoice since paid in Xero; fixed ids so the key is too."""
    a = world.sf("Account", Name="Acme", Id="001000000000000AAA")
    o = won(world, a, amount=100.0, Id="006000000000000O01", Xero_Invoice_Id__c="x1", Xero_Invoice_Status__c="AUTHORISED",
            Xero_Amount_Paid__c=0.0, Xero_Amount_Due__c=120.0)
    world.link("R2", o, "x1")
    world.xero("Invoices", InvoiceID="x1", Type="ACCREC", Reference=o, Contact={"ContactID": "c1"}, CurrencyCode="GBP",
               SubTotal=100.0, Total=120.0, Status="PAID", AmountDue=0.0, AmountPaid=120.0,
               FullyPaidOnDate="2025-03-01T00:00:00")
    return o


def test_r3s_rows_keep_the_ledger_keys_and_rules_of_the_code_planner(world):
    o = _paid_in_xero(world)
    [row] = _r3_rows(world)
    assert (row.action, row.direction, row.source_id, row.target_id) == ("update", "xero_to_sf", "x1", o)
    assert row.fields["Xero_Invoice_Status__c"] == {
        "old": "AUTHORISED", "new": "PAID", "rule": "R3: invoice status → Xero_Invoice_Status__c; owner xero"}
    assert row.key == KEY_BEFORE_THE_MOVE
    assert row.diff["match"] == "link" and row.diff["engine"] == "declared" and row.diff["pairs_via"] == "R2"
    assert row.source_table == "xero_invoice", "a refused write holds the invoice, as before"


def test_r3_keeps_the_rule_r2s_pass_matched_by_and_runs_with_r2_off(world):
    a = world.sf("Account", Name="Acme")
    o = won(world, a, amount=100.0, Xero_Invoice_Status__c="DRAFT")
    x = world.xero("Invoices", Type="ACCREC", Reference=o, Contact={"ContactID": "c1"}, CurrencyCode="GBP",
                   SubTotal=100.0, Total=120.0, Status="AUTHORISED", AmountDue=120.0, AmountPaid=0.0)
    for cfg in ({}, {"recipes": {"R2": {"enabled": False}}}):
        [row] = _r3_rows(world, cfg)
        assert (row.action, row.source_id, row.target_id, row.diff["match"]) == ("update", x, o, "reference"), cfg
        assert set(row.fields) == {"Xero_Invoice_Status__c", "Xero_Amount_Paid__c", "Xero_Amount_Due__c"}
    assert _r3_rows(world, {"recipes": {"R3": {"enabled": False}}}) == []


def test_a_team_overrides_r3s_fields_in_sfxero_yaml(world):
    o = _paid_in_xero(world)
    fields = {"Xero_Invoice_Status__c": "Status", "Xero_Invoice_Number__c": {"from": "InvoiceNumber", "default": "none"}}
    [row] = _r3_rows(world, {"recipes": {"R3": {"fields": fields}}})
    assert row.target_id == o
    assert {f: c["new"] for f, c in row.fields.items()} == {"Xero_Invoice_Status__c": "PAID",
                                                           "Xero_Invoice_Number__c": "none"}
    assert row.fields["Xero_Invoice_Status__c"]["rule"] == "R3 Status→Xero_Invoice_Status__c; owner xero"
    assert row.key != KEY_BEFORE_THE_MOVE, "another declaration, other rows"


@pytest.mark.parametrize(("override", "key", "says"), [
    ({"fields": {"Xero_Due__c": "DueDat"}}, "recipes.R3.fields.Xero_Due__c", "Xero Invoices have no field DueDat"),
    ({"filters": [{"field": "Type", "value": "x"}]}, "recipes.R3.filters", "unknown key"),
    ({"fields": {"Xero_Amount_Paid__c": {"from": "AmountPaid", "transform": "upper"}}},
     "recipes.R3.fields.Xero_Amount_Paid__c.transform", "upper takes text values"),
    ({"match": ["link", {"Xero_Invoice_Id__c": "InvoiceID"}]}, "recipes.R3.match", "R3 is planned on R2's pairs"),
    ({"match": [{"link": "R1"}]}, "recipes.R3.match", "turn R3 off and declare a recipe of your own"),
    ({"from": {"xero": "Bills"}}, "recipes.R3.from", "only fields:, title: and enabled: change here"),
    ({"deletes": "archive"}, "recipes.R3.deletes", "R3 is planned on R2's pairs"),
])
def test_a_bad_override_is_refused_on_load_naming_the_key(override, key, says):
    with pytest.raises(ConfigError) as err:
        parse_config({"recipes": {"R3": override}})
    assert err.value.key == f"sfxero.yaml: {key}" and says in err.value.problem, str(err.value)


def test_a_field_the_staged_opportunity_lacks_stops_the_plan_naming_it(world):
    _paid_in_xero(world)
    with pytest.raises(ConfigError) as err:
        _r3_rows(world, {"recipes": {"R3": {"fields": {"Xero_Nope__c": "Status"}}}})
    assert "recipes.R3.fields.Xero_Nope__c" in str(err.value) and "Xero_Nope__c" in err.value.problem


def test_recipes_show_prints_the_shipped_declaration_and_the_override(tmp_path):
    shown = yaml.safe_load(sfxero("recipes", "show", "R3", env={"SFXERO_CONFIG": None}).stdout)["recipes"]["R3"]
    assert shown["built_in"] is True and shown["match"] == [{"link": "R2"}] and shown["deletes"] == "ignore"
    assert shown["from"] == {"xero": "Invoices"} and shown["to"] == {"salesforce": "Opportunity"}
    assert shown["fields"]["Xero_Fully_Paid_On__c"] == {"from": "FullyPaidOnDate", "transform": "date",
                                                        "rule": "invoice fully_paid_on_date"}
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"recipes": {"R3": {"fields": {"Xero_Invoice_Status__c": "Status"}}}}))
    shown = yaml.safe_load(sfxero("recipes", "show", "R3", env={"SFXERO_CONFIG": str(config)}).stdout)["recipes"]["R3"]
    assert shown["fields"] == {"Xero_Invoice_Status__c": {"from": "Status"}} and shown["match"] == [{"link": "R2"}]
    listed = sfxero("recipes", env={"SFXERO_CONFIG": str(config)}).stdout
    assert [line for line in listed.splitlines() if line.startswith("R3 ")][0].endswith("R2's links")


def _owing_in_xero(world) -> str:
    """An Account R1 links whose Xero Contact now owes more; fixed ids so the key is fixed too."""
    x = world.xero("Contacts", ContactID="x-acme", Name="Acme Ltd", ContactStatus="ACTIVE",
                   Balances={"AccountsReceivable": {"Outstanding": 120.5, "Overdue": 20.0}})
    a = world.sf("Account", Id="001000000000000AC1", Name="Acme Ltd", Xero_Contact_Id__c=x, Xero_Outstanding__c=100.0,
                 Xero_Overdue__c=20.0)
    world.link("R1", a, x)
    return a


def test_r4s_rows_keep_the_ledger_keys_and_rules_of_the_code_planner(world):
    a = _owing_in_xero(world)
    [row] = _rows(world, "R4")
    assert (row.action, row.direction, row.source_id, row.target_id) == ("update", "xero_to_sf", "x-acme", a)
    assert row.fields == {"Xero_Outstanding__c": {
        "old": "100", "new": 120.5, "rule": "R4: Xero ar_outstanding → Xero_Outstanding__c; owner xero"}}
    assert row.payload == {"Account": {"Id": a, "Xero_Outstanding__c": 120.5}}
    assert row.key == R4_KEY_BEFORE_THE_MOVE and row.diff["pairs_via"] == "R1"


def test_r4_compares_what_r1s_pass_read_and_reads_itself_for_a_field_the_pass_does_not(world):
    """The default fields come with R1's pairs (`s:`/`x:` columns); a team's field the pass does not read
    (a path under a transform) makes the engine read both records itself, with the same result for the rest."""
    a = _owing_in_xero(world)
    overdue = {"from": "Balances.AccountsReceivable.Overdue", "transform": "money(2)", "rule": "Xero ar_overdue"}
    fields = {"Xero_Outstanding__c": {"from": "Balances.AccountsReceivable.Outstanding", "rule": "Xero ar_outstanding"},
              "Xero_Overdue__c": overdue}
    [row] = _rows(world, "R4", {"recipes": {"R4": {"fields": fields}}})
    assert row.target_id == a and row.key == R4_KEY_BEFORE_THE_MOVE, "the same row, read the other way"
    assert _rows(world, "R4", {"recipes": {"R4": {"enabled": False}}}) == []


def test_r1s_create_writes_r4s_balances_back_as_zero(world):
    a = world.sf("Account", Name="New Co", BillingCountry="GB")

    def written_back(cfg: dict) -> dict:
        [create] = [r for r in _rows(world, "R1", cfg) if r.action == "create" and r.source_id == a]
        return create.diff["write_back"]["fields"]

    back = written_back({})
    assert back["Xero_Outstanding__c"] == {"path": "Balances.AccountsReceivable.Outstanding", "default": 0.0}
    assert back["Xero_Overdue__c"] == {"path": "Balances.AccountsReceivable.Overdue", "default": 0.0}
    assert written_back({"recipes": {"R4": {"enabled": False}}}) == {"Xero_Contact_Id__c": "ContactID"}