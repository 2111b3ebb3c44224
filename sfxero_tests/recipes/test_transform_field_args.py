"""A transform's argument read from a field of each record: `phone({Country})` parses every phone in its
own record's country (a name or an ISO code, `mapping.value_maps.country` included), as R1 reads an
Account's phone in its BillingCountry. Checked on load and against the describe like any field; on a
staged world (SQLite, no sandbox) the creates carry each country's E.164 number, and a Xero phone kept
without its country code compares in the paired record's country, so it is in sync."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
import sqlalchemy as sa

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.config.declared import FieldArg, parse_transform, salesforce_problems
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.reconcile.build import build_declared
from sfxero_pipelines.reconcile.declared_sf import field_values
from sfxero_pipelines.staging.schema import object_table
from sfxero_pipelines.staging.state import links

from .test_declared_config import _sandbox_describe

RECIPE = {"from": {"salesforce": "Lead"}, "to": {"xero": "Contacts"}, "match": ["link", {"ContactNumber": "Id"}],
          "fields": {"ContactNumber": "Id", "Name": "Company",
                     "Phones.DEFAULT": {"from": "Phone", "transform": "phone({Country})"}}, "deletes": "ignore"}


def _config(phone: str = "phone({Country})", **mapping) -> dict:
    fields = {**RECIPE["fields"], "Phones.DEFAULT": {"from": "Phone", "transform": phone}}
    return {"recipes": {"CALLS": {**RECIPE, "fields": fields}}, **({"mapping": mapping} if mapping else {})}


def test_a_region_in_braces_is_a_field_argument_and_a_bad_one_is_refused_naming_the_key():
    assert parse_transform("phone({BillingCountry})") == ("phone", (FieldArg("BillingCountry"),))
    assert parse_transform("phone(GB)") == ("phone", ("GB",))
    cfg = parse_config(_config())
    assert cfg.recipes.declared["CALLS"].fields["Phones.DEFAULT"].reads == ["Phone", "Country"]
    with pytest.raises(ConfigError) as refused:
        parse_config(_config("phone({Billing Country})"))
    assert refused.value.key == "sfxero.yaml: recipes.CALLS.fields.Phones.DEFAULT"
    assert "two-letter region code (GB) or a field in braces ({BillingCountry})" in refused.value.problem


def test_the_argument_field_is_checked_against_the_describe_and_xeros_schema():
    assert salesforce_problems(parse_config(_config()).recipes.declared, _sandbox_describe) == []
    problems = salesforce_problems(parse_config(_config("phone({Contry})")).recipes.declared, _sandbox_describe)
    assert [key for key, _ in problems] == ["recipes.CALLS.fields.Phones.DEFAULT.transform"]
    assert "Contry" in problems[0][1]
    from_xero = {"from": {"xero": "Contacts"}, "to": {"salesforce": "Account"},
                 "match": ["link", {"Xero_Contact_Id__c": "ContactID"}],
                 "fields": {"Phone": {"from": "Phones.DEFAULT", "transform": "phone({Addresses.POBOX.Planet})"}}}
    with pytest.raises(ConfigError) as refused:
        parse_config({"recipes": {"BACK": from_xero}})
    assert refused.value.key == "sfxero.yaml: recipes.BACK.fields.Phone"
    assert "Xero Contacts have no field Addresses.POBOX.Planet" in refused.value.problem


def _row(id_, **values):
    at = dt.datetime(2026, 12, 1, 10, tzinfo=dt.timezone.utc)
    return {"id": id_, "modified_at": at, "is_deleted": False, "extracted_at": at, "invalid_reason": None, "raw": {},
            **values}


LEADS = [("00Q1", "Hook & Sons", "020 7946 0958", "United Kingdom"),   # linked; Xero keeps it without +44
         ("00Q2", "Kiwi Ltd", "09 379 4567", "New Zealand"),           # new
         ("00Q3", "Roo Pty", "(02) 9876 5432", "Oz"),                  # new; "Oz" through value_maps.country
         ("00Q4", "Acme Inc", "(415) 555-0134", None)]                 # new; no country: default_phone_country


def _plan(db, cfg):
    with db.begin() as conn:
        md = sa.MetaData()
        object_table("sf_lead", {c: sa.Text() for c in ("company", "phone", "country")}, md)
        object_table("xero_contact", {c: sa.Text() for c in ("contact_number", "name", "contact_status")}, md)
        md.create_all(conn)
        conn.execute(md.tables["sf_lead"].insert(),
                     [_row(i, company=c, phone=p, country=k) for i, c, p, k in LEADS])
        raw = {"ContactID": "x-1", "ContactNumber": "00Q1", "Name": "Hook & Sons", "ContactStatus": "ACTIVE",
               "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": "020 7946 0958"}]}
        conn.execute(md.tables["xero_contact"].insert(),
                     [{**_row("x-1", contact_number="00Q1", name="Hook & Sons", contact_status="ACTIVE"), "raw": raw}])
        links.record_links(conn, [("CALLS", "00Q1", "x-1")])
    with db.begin() as conn:
        rows = build_declared(conn, cfg, "CALLS").rows
    return {r.source_id: (r.action, json.loads(r.diff) if r.diff else {}) for r in rows.itertuples()}


def test_each_phone_is_parsed_in_its_own_records_country_and_compared_in_it(sqlite_staging):
    cfg = parse_config(_config(value_maps={"country": {"Oz": "AU"}}, default_phone_country="US"))
    rows = _plan(sqlite_staging, cfg)
    phone = {i: d["payload"]["Phones"][0]["PhoneNumber"] for i, (a, d) in rows.items() if a == "create"}
    assert phone == {"00Q2": "+6493794567", "00Q3": "+61298765432", "00Q4": "+14155550134"}
    # Xero's "020 7946 0958" read in the linked Lead's country is the Lead's number: nothing to write.
    assert rows["00Q1"][0] == "skip"


def test_a_fixed_region_reads_every_phone_in_it(sqlite_staging):
    rows = _plan(sqlite_staging, parse_config(_config("phone(US)")))
    assert rows["00Q1"][0] == "skip", "both sides read alike in the one region"
    assert rows["00Q2"][1]["payload"]["Phones"][0]["PhoneNumber"] != "+6493794567"


def test_from_xero_the_argument_is_a_path_of_the_xero_record():
    from_xero = {"from": {"xero": "Contacts"}, "to": {"salesforce": "Account"},
                 "match": ["link", {"Xero_Contact_Id__c": "ContactID"}],
                 "fields": {"Phone": {"from": "Phones.DEFAULT", "transform": "phone({Addresses.POBOX.Country})"}}}
    cfg = parse_config({"recipes": {"BACK": from_xero}})
    src = pd.DataFrame({"x:Phones.DEFAULT": ["020 7946 0958", "09 379 4567"],
                        "x:Addresses.POBOX.Country": ["GB", "New Zealand"]}, dtype="object")
    [phone] = field_values(None, cfg, "BACK", cfg.recipes.declared["BACK"], src, {"Phone": "phone"}, None)
    assert list(phone.values) == ["+442079460958", "+6493794567"]
