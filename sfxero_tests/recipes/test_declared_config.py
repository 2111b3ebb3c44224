"""Declared recipes in sfxero.yaml: the example loads; each kind of bad declaration is refused on
load (or by `sfxero recipes validate` against a describe) with one line naming the key; the
transforms library does what the catalogue says. Pure: no database, no sandbox."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sfxero_pipelines.config import config_problems, parse_config
from sfxero_pipelines.config.declared import TRANSFORMS, salesforce_problems
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.reconcile import transforms
from sfxero_pipelines.reconcile.declared import nest
from sfxero_pipelines.sandbox.salesforce.schema import sobject

from ..test_cli import sfxero

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "r8_products_to_items.yaml"
BASE = yaml.safe_load(EXAMPLE.read_text())


def _with(change) -> dict:
    data = copy.deepcopy(BASE)
    change(data["recipes"]["R8"])
    return data


def _sandbox_describe(name: str):
    obj = sobject(name)
    return None if obj is None else {f.name: f.type for f in obj.fields}


def test_the_example_loads_and_passes_every_check():
    cfg, problems = config_problems(BASE)
    assert problems == []
    r8 = cfg.recipes.declared["R8"]
    assert (r8.source.salesforce, r8.to.xero, r8.key_rule.target, r8.key_rule.source) == ("Product2", "Items", "Code",
                                                                                          "ProductCode")
    assert salesforce_problems(cfg.recipes.declared, _sandbox_describe) == []
    # The built-ins' options are untouched by a declaration beside them.
    assert cfg.recipes.R2.status == "DRAFT" and cfg.recipes.R1.match == ["link", "contact_number", "email", "name"]


@pytest.mark.parametrize("change, key, fragment", [
    (lambda r: r["fields"].update({"Colour": "Family"}), "recipes.R8.fields.Colour", "Xero Items have no field Colour"),
    (lambda r: r["fields"].update({"IsSold": {"value": "yes"}}), "recipes.R8.fields.IsSold.value", "is not a bool"),
    (lambda r: r.update({"sync": "two_way"}), "recipes.R8.fields.Code.owner", "names who wins each field"),
    (lambda r: r["fields"]["Name"].update({"transform": "shout"}), "recipes.R8.fields.Name", "unknown transform 'shout'"),
    (lambda r: r["fields"]["Name"].update({"transform": "map(nope)"}), "recipes.R8.fields.Name.transform",
     "no value map named 'nope'"),
    (lambda r: r.update({"to": {"xero": "Journals"}}), "recipes.R8.to", "unknown Xero collection 'Journals'"),
    (lambda r: r["fields"].update({"ItemID": "Id"}), "recipes.R8.fields.ItemID", None),
    (lambda r: r.update({"match": [{"Code": "ProductCode"}]}), "recipes.R8.match", "must start with link"),
    (lambda r: r.update({"deletes": "purge"}), "recipes.R8.deletes", "archive"),
    (lambda r: r["fields"].update({"Contact.ContactID": {"ref": "AccountId", "via": "R9"}}),
     "recipes.R8.fields.Contact.ContactID", None),
    (lambda r: (r.update({"sync": "two_way"}), [f.update({"owner": "salesforce"}) for f in r["fields"].values()],
                r["fields"]["Name"].update({"create_only": True})),
     "recipes.R8.fields.Name.create_only", "no owner in a two-way recipe"),
])
def test_a_bad_declaration_is_refused_on_load_naming_the_key(change, key, fragment):
    data = _with(change)
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    line = str(exc.value)
    assert "\n" not in line and line.startswith(f"sfxero.yaml: {key}"), line
    if fragment:
        assert fragment in line, line


def test_a_cycle_of_write_backs_is_refused():
    data = _with(lambda r: r.update({"write_back": {"ProductCode": "Code"}}))
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert str(exc.value).startswith("sfxero.yaml: recipes.R8.write_back.ProductCode: write-back cycle"), exc.value


@pytest.mark.parametrize("change, key, fragment", [
    (lambda r: r.update({"from": {"salesforce": "Widget__c"}}), "recipes.R8.from.salesforce",
     "unknown Salesforce object Widget__c"),
    (lambda r: r["fields"].update({"Name": "Nmae"}), "recipes.R8.fields.Name", "Product2 has no field Nmae"),
    (lambda r: r["fields"].update({"Description": {"from": "IsActive", "transform": "upper"}}),
     "recipes.R8.fields.Description.transform", "upper takes text values; the source is bool"),
    (lambda r: r["fields"]["SalesDetails.UnitPrice"].update({"where": "Pricebook2.IsStandrd = true"}),
     "recipes.R8.fields.SalesDetails.UnitPrice.where", "PricebookEntry has no field Pricebook2.IsStandrd"),
])
def test_salesforce_fields_are_checked_against_the_describe(change, key, fragment):
    cfg = parse_config(_with(change)) if "Widget" not in fragment else None
    if cfg is None:  # an object extract does not stage is refused on load already
        with pytest.raises(ConfigError, match="extract.salesforce.objects must include Widget__c"):
            parse_config(_with(change))
        data = _with(change)
        data["extract"] = {"salesforce": {"objects": ["Account", "Opportunity", "Order", "Widget__c", "PricebookEntry"]}}
        cfg = parse_config(data)
    problems = salesforce_problems(cfg.recipes.declared, _sandbox_describe)
    assert problems and problems[0][0] == key and fragment in problems[0][1], problems


def test_recipes_validate_prints_one_line_per_problem_and_exits_2(tmp_path):
    bad = _with(lambda r: r["fields"].update({"Colour": "Family", "Name": "Nmae"}))
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = sfxero("recipes", "validate", str(path), env={"SFXERO_STAGING_URL": None})
    assert result.returncode == 2
    lines = result.stdout.strip().splitlines()
    assert lines == [f"{path}: recipes.R8.fields.Colour: Xero Items have no field Colour (see Xero's Items schema)",
                     f"{path}: recipes.R8.fields.Name: Salesforce Product2 has no field Nmae"], lines
    ok = sfxero("recipes", "validate", str(EXAMPLE), env={"SFXERO_STAGING_URL": None})
    assert ok.returncode == 0 and "valid (8 recipes, 1 declared" in ok.stdout and "sandbox org's schema" in ok.stdout
    fixed = _with(lambda r: r["fields"].update({"Name": "Nmae"}))
    path.write_text(yaml.safe_dump(fixed))
    result = sfxero("recipes", "validate", str(path), env={"SFXERO_STAGING_URL": None})
    assert result.returncode == 2
    assert result.stdout.strip() == f"{path}: recipes.R8.fields.Name: Salesforce Product2 has no field Nmae"


def test_recipes_lists_and_shows_with_defaults(tmp_path):
    env = {"SFXERO_CONFIG": str(EXAMPLE)}
    listed = sfxero("recipes", env=env)
    assert listed.returncode == 0
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert set(rows) == {"R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"}
    assert "declared" in rows["R8"] and "Xero Items" in rows["R8"] and "link, Code = ProductCode" in rows["R8"]
    assert rows["R6"].split()[2] == "no"
    shown = yaml.safe_load(sfxero("recipes", "show", "R8", env=env).stdout)["recipes"]["R8"]
    assert shown["sync"] == "one_way" and shown["write_back"] == {} and shown["enabled"] is True
    assert shown["fields"]["IsSold"] == {"value": True} and shown["match"] == ["link", {"Code": "ProductCode"}]
    assert shown["route"] == "all"  # Products are every organisation's Items
    missing = sfxero("recipes", "show", "R9", env=env)
    assert missing.returncode == 2 and "no such recipe" in missing.stderr


def test_every_catalogued_transform_is_implemented():
    s = pd.Series(["  Hello World ", None, "x"], dtype="object")
    for name, spec in TRANSFORMS.items():
        args = {"int": "3", "str": "%Y", "region": "GB", "map": "m"}
        text = f"{name}({', '.join(args[a] for a in spec.args[:len(spec.args) - spec.optional])})" if \
            len(spec.args) > spec.optional else name
        out = transforms.chain([text], value_maps={"m": {}})(s)
        assert len(out) == 3, name


@pytest.mark.parametrize("text, values, expected", [
    ("truncate(5)", ["  Hello World "], ["Hello"]),
    ("upper", ["abc"], ["ABC"]),
    ("email", [" Ann@Example.COM "], ["ann@example.com"]),
    ("phone(GB)", ["020 7946 0000"], ["+442079460000"]),
    ("country", ["United Kingdom"], ["GB"]),
    ("currency", ["usd"], ["USD"]),
    ("money(2)", ["2.675", "10"], [2.68, 10.0]),
    ("date", ["2026-03-04T10:11:12.000+0000"], ["2026-03-04"]),
    ("date(%d/%m/%Y)", ["2026-03-04"], ["04/03/2026"]),
    ("bool", ["true", "0"], [True, False]),
    ("map(stage)", ["Closed Won", "Other"], ["AUTHORISED", "Other"]),
])
def test_transforms(text, values, expected):
    out = transforms.chain([text], value_maps={"stage": {"Closed Won": "AUTHORISED"}})(pd.Series(values, dtype="object"))
    assert out.tolist() == expected


@pytest.mark.parametrize("texts, values, expected", [
    (["phone(GB)"], ["+44 20 7946 0000"], ["+442079460000"]),               # in the form the field gives
    (["email"], [" Ann@Example.COM "], ["ann@example.com"]),
    (["map(tiers)", "upper"], ["gold"], ["Gold Partner"]),                  # the value map the other way
    (["country"], ["United Kingdom"], ["United Kingdom"]),                  # a country as Xero spells it
    (["truncate(3)"], ["Longer"], ["Longer"]),                              # Xero's value is Xero's
    ([], [" plain "], ["plain"]),
])
def test_a_value_brought_back_from_xero(texts, values, expected):
    back = transforms.back(texts, value_maps={"tiers": {"Gold Partner": "GOLD"}})
    assert back(pd.Series(values, dtype="object")).tolist() == expected


def test_phones_compare_by_their_digits_and_nothing_else_does():
    key = transforms.same_key(["map(m)", "phone(GB)"])
    assert key(pd.Series(["555-0100", "555 0100"], dtype="object")).nunique() == 1
    assert transforms.same_key(["email", "upper"]) is None


def test_templates_constants_defaults_and_nesting():
    idx = pd.RangeIndex(3)
    cols = {"Name": pd.Series(["Acme", "Beta", None]), "BillingCity": pd.Series(["Leeds", None, None])}
    assert transforms.template("{Name} ({BillingCity})", cols, idx).tolist() == ["Acme (Leeds)", "Beta ()", None]
    assert transforms.with_default(pd.Series(["a", None, " "], dtype="object"), "-").tolist() == ["a", "-", "-"]
    assert transforms.constant(False, idx).tolist() == [False] * 3
    assert nest({"SalesDetails.UnitPrice": 5, "Code": "A", "SalesDetails.TaxType": "NONE"}) == \
        {"Code": "A", "SalesDetails": {"TaxType": "NONE", "UnitPrice": 5}}


def test_sync_checks_a_declared_recipes_fields_against_the_orgs_describe_first(tmp_path, sandbox):
    """`sfxero sync` (in-process, the real sandbox's describe) refuses a declared field the org lacks
    before launching any run: one line naming the key, exit 2."""
    from ..test_cli_preflight import assert_one_line, sfxero_sync

    bad = _with(lambda r: r["fields"].update({"Name": {"from": "Title__c"}}))
    result, elapsed = sfxero_sync(tmp_path, sandbox, config=bad)
    assert_one_line(result, elapsed, "recipes.R8.fields.Name", "Salesforce Product2 has no field Title__c")
    assert not (tmp_path / "dh" / "storage").exists()


R11 = yaml.safe_load((EXAMPLE.parent / "r11_opportunities_to_quotes.yaml").read_text())


def _r11(change) -> dict:
    data = copy.deepcopy(R11)
    change(data["recipes"]["R11"])
    return data


def test_the_quotes_example_with_lines_loads_and_passes_every_check():
    cfg, problems = config_problems(R11)
    assert problems == []
    lines = cfg.recipes.declared["R11"].lines["LineItems"]
    assert (lines.source, lines.parent) == ("OpportunityLineItem", "OpportunityId")
    assert salesforce_problems(cfg.recipes.declared, _sandbox_describe) == []


@pytest.mark.parametrize("change, key, fragment", [
    (lambda r: r["lines"]["LineItems"]["fields"].update({"Colour": "Name"}), "recipes.R11.lines.LineItems.fields.Colour",
     "Xero Quotes LineItems have no field Colour"),
    (lambda r: r["lines"].update({"Lines": r["lines"]["LineItems"]}), "recipes.R11.lines.Lines",
     "no array of records named Lines"),
    (lambda r: r["lines"]["LineItems"]["fields"].update({"Quantity": {"value": "two"}}),
     "recipes.R11.lines.LineItems.fields.Quantity.value", "is not a number"),
    (lambda r: r["lines"]["LineItems"]["fields"].update({"ItemCode": {"ref": "Product2Id", "via": "R8"}}),
     "recipes.R11.lines.LineItems.fields.ItemCode", "a line field takes from:, value: or template:"),
    (lambda r: r["lines"]["LineItems"].update({"from": "QuoteLineItem"}), "recipes.R11.lines.LineItems.from",
     "extract.salesforce.objects must include QuoteLineItem"),
    (lambda r: r["fields"].update({"LineItems": "Name"}), "recipes.R11.fields.LineItems", "is an array"),
    (lambda r: r["lines"]["LineItems"]["fields"].update({"Tracking": {"value": "Sales"}}),
     "recipes.R11.lines.LineItems.fields.Tracking", "name a category: Tracking.Region"),
])
def test_a_bad_line_declaration_is_refused_on_load_naming_the_key(change, key, fragment):
    with pytest.raises(ConfigError) as exc:
        parse_config(_r11(change))
    line = str(exc.value)
    assert "\n" not in line and line.startswith(f"sfxero.yaml: {key}") and fragment in line, line


@pytest.mark.parametrize("change, key, fragment", [
    (lambda r: r["lines"]["LineItems"]["fields"].update({"Quantity": "Qty"}),
     "recipes.R11.lines.LineItems.fields.Quantity", "OpportunityLineItem has no field Qty"),
    (lambda r: r["lines"]["LineItems"].update({"parent": "OpportunityRef"}), "recipes.R11.lines.LineItems.parent",
     "OpportunityLineItem has no field OpportunityRef"),
    (lambda r: r["lines"]["LineItems"]["fields"].update({"Description": {"from": "Quantity", "transform": "upper"}}),
     "recipes.R11.lines.LineItems.fields.Description.transform", "upper takes text values; the source is number"),
])
def test_line_fields_are_checked_against_the_child_objects_describe(change, key, fragment):
    cfg = parse_config(_r11(change))
    problems = salesforce_problems(cfg.recipes.declared, _sandbox_describe)
    assert problems and problems[0][0] == key and fragment in problems[0][1], problems
