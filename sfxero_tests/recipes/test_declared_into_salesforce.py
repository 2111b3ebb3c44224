"""Declared recipes into Salesforce (Xero collection → Salesforce object), the shipped example R9/R10:
it loads and passes every check; each kind of bad declaration is refused with one line naming the
key (on load, or against the Salesforce describe); `sfxero recipes` lists them. Then the planner on
a staged world (no sandbox): rows per kind of record, the delete policies, and the push's upsert and
links through sf_write. Pure but for SQLite."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from sfxero_pipelines.config import config_problems, parse_config
from sfxero_pipelines.config.declared import salesforce_problems
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.push.rows import PushRow
from sfxero_pipelines.push.run import sf_write

from ..test_cli import sfxero
from .test_declared_config import _sandbox_describe
from .test_finance_example_e2e import EXAMPLE

BASE = yaml.safe_load(EXAMPLE.read_text())


def _with(change, name: str = "R9") -> dict:
    data = copy.deepcopy(BASE)
    change(data["recipes"][name])
    return data


def test_the_finance_example_loads_and_passes_every_check():
    cfg, problems = config_problems(BASE)
    assert problems == []
    r9 = cfg.recipes.declared["R9"]
    assert (r9.source.xero, r9.to.salesforce, r9.direction) == ("CreditNotes", "Xero_Credit_Note__c", "xero_to_sf")
    assert (r9.key_rule.target, r9.fields["Account__c"].ref, r9.fields["Account__c"].via) == \
        ("Xero_Credit_Note_Id__c", "Contact.ContactID", "R1")
    assert cfg.recipes.declared["R10_BILLS"].source.xero == "Bills"
    assert salesforce_problems(cfg.recipes.declared, _sandbox_describe) == []


@pytest.mark.parametrize("change, key, fragment", [
    (lambda r: r.update({"match": ["link"]}), "recipes.R9.match", "needs a key pair after link"),
    (lambda r: r["fields"].update({"Total__c": "Totl"}), "recipes.R9.fields.Total__c", "Xero CreditNotes have no field Totl"),
    (lambda r: r["fields"].update({"Account__c": {"ref": "Contact.ContactId", "via": "R1"}}),
     "recipes.R9.fields.Account__c", "have no field Contact.ContactId"),
    (lambda r: r["fields"].update({"Total__c": {"lookup": "PricebookEntry.UnitPrice"}}), "recipes.R9.fields.Total__c",
     "lookup: reads related Salesforce records"),
    (lambda r: r["fields"].update({"Account__c": {"ref": "Contact.ContactID", "via": "R6"}}),
     "recipes.R9.fields.Account__c.via", "no recipe R6 keeps links"),
    (lambda r: r.update({"sync": "two_way"}), "recipes.R9", None),
    (lambda r: r.update({"write_back": {"Name": "CreditNoteID"}}), "recipes.R9", "write_back"),
    (lambda r: r.update({"from": {"xero": "CreditNotes", "where": "Status = 'PAID'"}}), "recipes.R9.from",
     "a Xero source takes filter"),
])
def test_a_bad_declaration_into_salesforce_is_refused_on_load_naming_the_key(change, key, fragment):
    with pytest.raises(ConfigError) as exc:
        parse_config(_with(change))
    line = str(exc.value)
    assert "\n" not in line and line.startswith(f"sfxero.yaml: {key}"), line
    if fragment:
        assert fragment in line, line


@pytest.mark.parametrize("change, key, fragment", [
    (lambda r: r["fields"].update({"Totl__c": "Total"}), "recipes.R9.fields.Totl__c",
     "Salesforce Xero_Credit_Note__c has no field Totl__c"),
    (lambda r: r.update({"match": ["link", {"Xero_Id__c": "CreditNoteID"}]}), "recipes.R9.match[1]",
     "Salesforce Xero_Credit_Note__c has no field Xero_Id__c"),
    (lambda r: r["fields"].update({"Total__c": {"value": "lots"}}), "recipes.R9.fields.Total__c.value", "is not a number"),
])
def test_salesforce_fields_of_a_recipe_into_salesforce_are_checked_against_the_describe(change, key, fragment):
    cfg = parse_config(_with(change))
    problems = salesforce_problems(cfg.recipes.declared, _sandbox_describe)
    assert problems and problems[0][0] == key and fragment in problems[0][1], problems


def test_recipes_validate_and_list_show_the_recipes_into_salesforce(tmp_path):
    ok = sfxero("recipes", "validate", str(EXAMPLE), env={"SFXERO_STAGING_URL": None})
    assert ok.returncode == 0 and "valid (10 recipes, 3 declared" in ok.stdout, ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_with(lambda r: r["fields"].update({"Colour__c": "Type"}))))
    result = sfxero("recipes", "validate", str(bad), env={"SFXERO_STAGING_URL": None})
    assert result.returncode == 2
    assert result.stdout.strip() == f"{bad}: recipes.R9.fields.Colour__c: Salesforce Xero_Credit_Note__c has no field Colour__c"
    listed = sfxero("recipes", env={"SFXERO_CONFIG": str(EXAMPLE)})
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert "Xero CreditNotes" in rows["R9"] and "Salesforce Xero_Credit_Note__c" in rows["R9"]
    assert "link, Xero_Id__c = InvoiceID" in rows["R10_BILLS"] and "Type IN ('RECEIVE', 'SPEND')" in rows["R10_BANK"]


def test_a_declared_create_is_an_upsert_that_records_its_link():
    diff = {"target_object": "Xero_Credit_Note__c", "source_table": "xero_credit_note", "engine": "declared",
            "lookup_by": "Xero_Credit_Note_Id__c", "link": True,
            "fields": {"Xero_Credit_Note_Id__c": {"old": None, "new": "cn-1", "rule": "R9"}},
            "payload": {"Xero_Credit_Note__c": {"Xero_Credit_Note_Id__c": "cn-1", "Name": "CN-1"}}}
    row = PushRow("p", 1, "R9", "xero_to_sf", "create", "cn-1", None, json.loads(json.dumps(diff)))
    w = sf_write(row)
    assert (w.upsert_by, w.link_recipe, w.hold_table, w.hold_record) == ("Xero_Credit_Note_Id__c", "R9",
                                                                         "xero_credit_note", "cn-1")
    builtin = sf_write(PushRow("p", 1, "R6", "xero_to_sf", "create", "c-1", None,
                               {"payload": {"CampaignMember": {"CampaignId": "701", "ContactId": "003"}}}))
    assert (builtin.upsert_by, builtin.link_recipe) == (None, None)
