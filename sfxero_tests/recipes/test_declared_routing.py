"""A declared recipe with several Xero organisations follows `routing:` as R1 and R2 do: each run's plan
has the records whose Account is routed to its organisation, holds those whose Account no rule takes
(with the routing sentence), and leaves the rest to the other organisations' runs. Which field names the
Account is `route:` (unset: `Id` on Account, the field referenced through R1's links, else none: every
organisation plans every record). Both staging backends."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.config.declared import salesforce_problems
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.reconcile import hold_sentences as H
from sfxero_pipelines.reconcile.build import build_declared
from sfxero_pipelines.staging.schema import object_table

UK, DE = "0a1b2c3d-0000-4000-8000-0000000000aa", "0a1b2c3d-0000-4000-8000-0000000000bb"
ROUTING = {"rules": [{"currency": ["GBP"], "tenant": UK}, {"currency": ["EUR"], "tenant": DE}]}
ACCOUNTS = {"001A": "GBP", "001B": "EUR", "001C": "USD"}   # the UK's, Germany's, no one's
CONTACTS = {"003A": "001A", "003B": "001B", "003C": "001C", "003D": None}
TO_CONTACTS = {"to": {"xero": "Contacts"}, "match": ["link", {"ContactNumber": "Id"}]}
RECIPES = {
    "ACCT": {"from": {"salesforce": "Account"}, **TO_CONTACTS, "fields": {"Name": "Name", "ContactNumber": "Id"}},
    "PEOPLE": {"from": {"salesforce": "Contact"}, **TO_CONTACTS, "route": "AccountId",
               "fields": {"Name": "LastName", "ContactNumber": "Id"}},
    "ALLPEOPLE": {"from": {"salesforce": "Contact"}, **TO_CONTACTS, "route": "all",
                  "fields": {"Name": "LastName", "ContactNumber": "Id"}},
}


def _staged(conn) -> None:
    md = sa.MetaData()
    tables = {"sf_account": object_table("sf_account", {"name": sa.Text(), "currencyisocode": sa.Text()}, md),
              "sf_contact": object_table("sf_contact", {"lastname": sa.Text(), "accountid": sa.Text()}, md),
              "xero_contact": object_table("xero_contact", {"name": sa.Text()}, md)}
    md.create_all(conn)
    at = dt.datetime(2026, 12, 1, 10, tzinfo=dt.timezone.utc)
    base = {"modified_at": at, "is_deleted": False, "extracted_at": at, "invalid_reason": None, "raw": {}}
    conn.execute(tables["sf_account"].insert(), [{**base, "id": i, "name": f"Account {i}", "currencyisocode": c}
                                                 for i, c in ACCOUNTS.items()])
    conn.execute(tables["sf_contact"].insert(), [{**base, "id": i, "lastname": f"Person {i}", "accountid": a}
                                                 for i, a in CONTACTS.items()])
    # 001C's contact is in Xero already: a matched pair is held for routing as a create is.
    conn.execute(tables["xero_contact"].insert(), [{**base, "id": "x-c", "name": "Account 001C", "raw": {
        "ContactID": "x-c", "ContactNumber": "001C", "Name": "Account 001C", "ContactStatus": "ACTIVE"}}])


def _plans(staging, monkeypatch, tenant: str, routing=ROUTING) -> dict[str, dict[str, tuple[str, str]]]:
    """recipe → source id → (action, reason, Xero id) of the plan `tenant`'s run makes."""
    monkeypatch.setenv("XERO_TENANT_ID", tenant)
    cfg = parse_config({"routing": routing, "recipes": RECIPES})
    out = {}
    with staging.begin() as conn:
        for name in RECIPES:
            rows = build_declared(conn, cfg, name).rows
            out[name] = dict(zip(rows.source_id, zip(rows.action, rows.reason, rows.target_id)))
    return out


@pytest.fixture
def routed_staging(staging):
    with staging.begin() as conn:
        _staged(conn)
    return staging


def test_each_organisation_plans_its_accounts_records_and_holds_the_unrouted(routed_staging, monkeypatch):
    uk = _plans(routed_staging, monkeypatch, UK)
    de = _plans(routed_staging, monkeypatch, DE)
    # Account: its own routing (route unset is Id).
    assert {i: a for i, (a, *_) in uk["ACCT"].items()} == {"001A": "create", "001C": "held"}
    assert {i: a for i, (a, *_) in de["ACCT"].items()} == {"001B": "create", "001C": "held"}
    # Held as R1 and R2 hold them, with the routing sentence.
    why = uk["ACCT"]["001C"][1]
    assert uk["ACCT"]["001C"][2] == "x-c"  # the pair matched, and held
    assert why == ("Account 001C held at reconcile: no routing rule matches the Account (CurrencyIsoCode 'USD') and "
                   "routing has no default")
    explained = H.explain_reason(why, table_name="sf_account", record_id="001C")
    assert explained.recognised and "routing.default" in explained.sentence
    # Contact, routed by its AccountId: a Contact with no Account is in every plan (no default: never in none).
    assert {i: a for i, (a, *_) in uk["PEOPLE"].items()} == {"003A": "create", "003C": "held", "003D": "create"}
    assert {i: a for i, (a, *_) in de["PEOPLE"].items()} == {"003B": "create", "003C": "held", "003D": "create"}
    assert uk["PEOPLE"]["003C"][1] == why
    # route: all — every organisation's plan has every record.
    assert set(uk["ALLPEOPLE"]) == set(de["ALLPEOPLE"]) == set(CONTACTS)
    assert {a for a, *_ in uk["ALLPEOPLE"].values()} == {"create"}


def test_with_a_default_the_unrouted_go_to_it(routed_staging, monkeypatch):
    with_default = {**ROUTING, "default": DE}
    uk, de = _plans(routed_staging, monkeypatch, UK, with_default), _plans(routed_staging, monkeypatch, DE, with_default)
    assert set(uk["ACCT"]) == {"001A"} and set(de["ACCT"]) == {"001B", "001C"}
    # A Contact with no Account goes where the default goes, and only there.
    assert set(uk["PEOPLE"]) == {"003A"} and set(de["PEOPLE"]) == {"003B", "003C", "003D"}


def test_route_defaults_and_refusals():
    cfg = parse_config({"recipes": {
        **RECIPES,
        "QUOTES": {"from": {"salesforce": "Opportunity"}, "to": {"xero": "Quotes"},
                   "match": ["link", {"Reference": "Id"}],
                   "fields": {"Reference": "Id", "Contact.ContactID": {"ref": "AccountId", "via": "R1"}}},
        "ITEMS": {"from": {"salesforce": "Product2"}, "to": {"xero": "Items"}, "match": ["link", {"Code": "ProductCode"}],
                  "fields": {"Code": "ProductCode"}}}})
    routed_by = {n: r.routed_by for n, r in cfg.recipes.declared.items()}
    assert routed_by == {"ACCT": "Id", "PEOPLE": "AccountId", "ALLPEOPLE": None, "QUOTES": "AccountId", "ITEMS": None}

    from_xero = {"from": {"xero": "CreditNotes"}, "to": {"salesforce": "Xero_Credit_Note__c"}, "route": "AccountId",
                 "match": ["link", {"Xero_Id__c": "CreditNoteID"}], "fields": {"Xero_Id__c": "CreditNoteID"}}
    for recipe, words in [(from_xero, "this recipe reads Xero"), ({**RECIPES["PEOPLE"], "route": "Account Id"},
                                                                  "'Account Id' is not a field name")]:
        with pytest.raises(ConfigError) as refused:
            parse_config({"recipes": {"BAD": recipe}})
        assert refused.value.key.startswith("sfxero.yaml: recipes.BAD") and words in refused.value.problem

    # A route naming a field the org does not have is named against the describe, as any field is.
    bad = parse_config({"recipes": {"PEOPLE": {**RECIPES["PEOPLE"], "route": "Entity__c"}}}).recipes.declared
    describe = {"Contact": {"Id": "id", "LastName": "string", "AccountId": "reference"}}.get
    assert salesforce_problems(bad, describe) == [("recipes.PEOPLE.route", "Salesforce Contact has no field Entity__c")]
