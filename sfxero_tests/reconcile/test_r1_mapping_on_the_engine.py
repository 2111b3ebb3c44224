"""R1 and R5 on the declared-recipe engine (docs/architecture.md §5.3): the contacts family plans R1's
mapping declared (`config/r1_declared`) on R1's pass (R1's read and match, pairs identical in the database
settled on PostgreSQL), in R1's and R5's words. Each world is planned twice on the same staging, on SQLite
and PostgreSQL: by the contacts family, and by the engine on its own read from `r1_as_declared` (R1's
settings written as a two-way declaration, filters as `where:`). Compared: every row, whole — its code,
direction, action, source and target, reason and diff (fields with old and new values and rules,
payload, match) — and so its ledger key; and each world's rows as R1 and R5 planned them before the move."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.config.r1_declared import CODE, r1_as_declared, r1_wording
from sfxero_pipelines.push.rows import PushRow
from sfxero_pipelines.recipes import R1, R5
from sfxero_pipelines.reconcile.build import build_declared, build_plan

from .conftest import T0
from .test_contacts_plan import gb_account, gb_contact


def _changes(rows: pd.DataFrame) -> dict[tuple, dict]:
    """(direction, action, source, target, recipe) → the row's fields ({field: (old, new)}), payload,
    candidates, reason, whole diff and ledger key."""
    out: dict[tuple, dict] = {}
    for r in rows.to_dict("records"):
        d = json.loads(r["diff"]) if isinstance(r["diff"], str) else (r["diff"] or {})
        key = (r["direction"], r["action"], r["source_id"], r["target_id"], r["recipe"])
        assert key not in out, f"two rows {key}"
        out[key] = {"fields": {f: (c["old"], c["new"]) for f, c in d.get("fields", {}).items()},
                    "payload": d.get("payload"), "candidates": d.get("candidates"), "reason": r["reason"], "diff": d,
                    "key": PushRow("", 0, r["recipe"], r["direction"], r["action"], r["source_id"], r["target_id"], d).key}
    return out


def both(world, cfg: dict | None = None) -> tuple[dict, dict]:
    """(R1/R5's rows: the contacts family, the engine on R1's pass; the engine's rows of their mapping
    declared, on its own read) on this staging."""
    code_cfg = parse_config({**(cfg or {}), "recipes": {**(cfg or {}).get("recipes", {}), "R4": {"enabled": False}}})
    declared = r1_as_declared(code_cfg.mapping, code_cfg.recipes.R1)
    engine_cfg = parse_config({**(cfg or {}), "recipes": {"R4": {"enabled": False}, CODE: declared}})
    with world.db.engine.connect() as conn:
        code = build_plan(conn, code_cfg, families=("contacts",)).rows
        engine = build_declared(conn, engine_cfg, CODE, wording=r1_wording(code_cfg.mapping)).rows
    return _changes(code), _changes(engine)


def _linked(world, a: str, x: str) -> None:
    for recipe in ("R1", CODE):
        world.link(recipe, a, x)


def test_matches_creates_conflicts_and_both_directions_plan_the_same(world):
    x = gb_contact(world, name="Acme (Xero edit)", email="books@acme.co.uk",
                   Phones=[{"PhoneType": "DEFAULT", "PhoneCountryCode": "44", "PhoneAreaCode": "20",
                            "PhoneNumber": "11112222"}])
    a = gb_account(world, name="Acme (SF edit)", email="ops@acme.co.uk", Phone="+44 20 3333 4444", Xero_Contact_Id__c=x)
    _linked(world, a, x)
    gb_contact(world, name="Trading Co", email="OPS@Trading.co.uk ")                     # matched by email
    gb_account(world, name="Trading Co", email=" ops@trading.CO.uk")
    k = gb_account(world, name="Keyed Ltd", email=None)                                    # by ContactNumber
    gb_contact(world, name="Keyed Limited", email=None, ContactNumber=k)
    gb_contact(world, name="MU\u0308LLER, GmbH.", email=None)                             # by name
    gb_account(world, name="Müller GmbH", email=None)
    gb_contact(world, name="Zed Ltd", email=None)                                          # two by name: conflict
    gb_contact(world, name="ZED, Inc.", email=None)
    gb_account(world, name="zed", email=None)
    new = world.sf("Account", Name="NewCo Inc", Phone="(415) 555-0100", BillingCountry="USA", BillingCity="SF",
                   CurrencyIsoCode="usd")                                                   # created, full record
    world.sf("Contact", AccountId=new, LastName="B", Email="Books@NewCo.com", CreatedDate="2024-02-01")
    world.sf("Account", Name="Roma Srl", Phone="06 1234 5678", BillingCountry="Italia", CurrencyIsoCode="eur")
    code, engine = both(world)
    # 1 conflict, 2 creates, the email match in sync, 3 Contacts updated (Name; and the ContactNumber and
    # name matches' names), 4 Accounts written back (the phone; 3 new links' ContactID).
    assert sorted(k[:2] for k in code) == [("sf_to_xero", "conflict"), *[("sf_to_xero", "create")] * 2,
                                           ("sf_to_xero", "skip"), *[("sf_to_xero", "update")] * 3,
                                           *[("xero_to_sf", "update")] * 4]
    assert engine == code


def test_formatting_only_differences_and_our_own_writes_plan_nothing_on_either(world):
    x = gb_contact(world, Addresses=[{"AddressType": "POBOX", "City": "London", "Country": "GB"}])
    a = gb_account(world, Phone="020 7946 0000", BillingCountry="united kingdom", Xero_Contact_Id__c=x)
    _linked(world, a, x)
    x2 = gb_contact(world, name="Echo Ltd", email="e@echo.com")
    a2 = gb_account(world, name="Echo Ltd", email="e@echo.com", Phone="+44 20 5555 6666", Xero_Contact_Id__c=x2)
    _linked(world, a2, x2)
    world.ledger("xero", x2, {"Phones.DEFAULT": "+442079460000"})  # Xero's phone is our own write
    code, engine = both(world)
    assert {k[1] for k in code} == {"skip"}
    assert engine == code


def test_last_writer_and_value_maps_plan_the_same(world):
    cfg = {"mapping": {"value_maps": {"tiers": {"Gold Partner": "GOLD"}},
                       "contact_fields": [{"sf": "Name", "xero": "Name", "owner": "last_writer"},
                                          {"sf": "AccountNumber", "xero": "AccountNumber", "value_map": "tiers",
                                           "owner": "xero"},
                                          {"sf": "Phone", "xero": "Phones.DEFAULT", "transform": "phone",
                                           "owner": "last_writer"}]}}
    x1 = gb_contact(world, name="Old One", modified=T0, AccountNumber="GOLD")
    a1 = gb_account(world, name="New One", Xero_Contact_Id__c=x1, modified=T0 + dt.timedelta(hours=1),
                    AccountNumber="Silver")
    x2 = gb_contact(world, name="New Two", modified=T0 + dt.timedelta(hours=1),
                    Phones=[{"PhoneType": "DEFAULT", "PhoneCountryCode": "44", "PhoneAreaCode": "20",
                             "PhoneNumber": "11112222"}])
    a2 = gb_account(world, name="Old Two", Xero_Contact_Id__c=x2, modified=T0, AccountNumber="Gold Partner")
    for a, x in ((a1, x1), (a2, x2)):
        _linked(world, a, x)
    code, engine = both(world, cfg)
    back = code[("xero_to_sf", "update", x1, a1, R5)]
    assert back["fields"] == {"AccountNumber": ("Silver", "Gold Partner")}, "Xero's GOLD in Salesforce's words"
    assert code[("xero_to_sf", "update", x2, a2, R5)]["fields"] == {"Name": ("Old Two", "New Two"),
                                                                 "Phone": ("+44 20 7946 0000", "+442011112222")}
    assert engine == code


def test_holds_archived_links_and_nameless_accounts_are_held_on_both(world):
    x1 = gb_contact(world, name="Held One")
    a1 = gb_account(world, name="Held One", Xero_Contact_Id__c=x1)
    world.hold("sf_account", a1, "missing billing email")
    x2 = gb_contact(world, name="Archived Co", ContactStatus="ARCHIVED")
    a2 = gb_account(world, name="Archived Co", Xero_Contact_Id__c=x2)
    x3 = gb_contact(world, name="Contact Held", email="c@held.com")
    a3 = gb_account(world, name="Contact Held", email="c@held.com", Xero_Contact_Id__c=x3)
    with world.db.engine.connect() as conn:
        pc = conn.exec_driver_sql(f"SELECT id FROM sf_contact WHERE accountid = '{a3}'").scalar_one()
    world.hold("sf_contact", pc, "bounced")
    for a, x in ((a1, x1), (a2, x2), (a3, x3)):
        _linked(world, a, x)
    nameless = world.sf("Account", Name=None)
    code, engine = both(world)
    assert {k[2] for k in code if k[1] == "held"} == {a1, a2, a3, nameless}
    assert engine == code


def test_an_address_part_salesforce_owns_is_sent_with_the_parts_xero_keeps(world):
    """Xero replaces an address whole: R1 sends the changed part with Xero's current other parts, so a part
    Xero owns is not overwritten with Salesforce's value."""
    cfg = {"mapping": {"contact_fields": [{"sf": "Name", "xero": "Name"},
                                          {"sf": "BillingCity", "xero": "Addresses.POBOX.City"},
                                          {"sf": "BillingPostalCode", "xero": "Addresses.POBOX.PostalCode",
                                           "owner": "xero"}]}}
    x = gb_contact(world, Addresses=[{"AddressType": "POBOX", "City": "London", "PostalCode": "EC1 1AA",
                                      "Country": "GB"}])
    a = gb_account(world, BillingCity="Leeds", BillingPostalCode="LS1 1AA", Xero_Contact_Id__c=x)
    _linked(world, a, x)
    code, engine = both(world, cfg)
    [address] = code[("sf_to_xero", "update", a, x, R1)]["payload"]["Addresses"]
    assert (address["City"], address["PostalCode"]) == ("Leeds", "EC1 1AA")
    assert code[("xero_to_sf", "update", x, a, R5)]["fields"] == {"BillingPostalCode": ("LS1 1AA", "EC1 1AA")}
    assert engine == code


def test_phones_without_a_country_blank_values_and_broken_links_plan_the_same(world):
    # A number phonenumbers cannot read compares by its digits; an Account with no Contact has no email to
    # bring back; a blank Salesforce value does not erase Xero's; a link to a Contact not staged is held.
    x1 = world.xero("Contacts", Name="Local Co", ContactStatus="ACTIVE", EmailAddress="new@local.example",
                    Phones=[{"PhoneType": "DEFAULT", "PhoneNumber": "555 0100"}])
    a1 = world.sf("Account", Name="Local Co", Phone="(555) 0100", BillingCountry="USA", Xero_Contact_Id__c=x1)
    x2 = gb_contact(world, name="Blank Ltd")
    a2 = gb_account(world, name="Blank Ltd", Phone=None, BillingCity=None, Xero_Contact_Id__c=x2)
    a3 = gb_account(world, name="Gone Ltd", email=None)
    for a, x in ((a1, x1), (a2, x2), (a3, "00000000-0000-4000-8000-0000000gone")):
        _linked(world, a, x)
    k = gb_account(world, name="Twice Ltd", email=None)
    gb_contact(world, name="Twice One", email=None, ContactNumber=k)
    gb_contact(world, name="Twice Two", email=None, ContactNumber=k)
    code, engine = both(world)
    assert ("sf_to_xero", "held", a3, "00000000-0000-4000-8000-0000000gone", R1) in code
    assert ("sf_to_xero", "conflict", k, None, R1) in code
    assert ("xero_to_sf", "update", x2, a2, R5) in code  # Xero's phone and city, Salesforce's being blank
    assert not any(key[2] == x1 and key[0] == "xero_to_sf" for key in code), "no Contact to write the email to"
    assert engine == code


def test_defaults_case_transforms_and_salesforce_holding_our_write_plan_the_same(world):
    cfg = {"mapping": {"contact_fields": [{"sf": "Name", "xero": "Name", "owner": "last_writer"},
                                          {"sf": "AccountNumber", "xero": "AccountNumber", "transform": "upper",
                                           "default": "NONE"},
                                          {"sf": "Phone", "xero": "Phones.MOBILE", "transform": "phone",
                                           "owner": "xero"}]}}
    x1 = gb_contact(world, name="Written By Us", AccountNumber="NONE", modified=T0 + dt.timedelta(hours=1))
    a1 = gb_account(world, name="Older Edit", AccountNumber=None, Xero_Contact_Id__c=x1, modified=T0)
    x2 = gb_contact(world, name="Case Co", AccountNumber="ab-1",
                    Phones=[{"PhoneType": "MOBILE", "PhoneCountryCode": "44", "PhoneNumber": "7911123456"}])
    a2 = gb_account(world, name="Case Co", AccountNumber="AB-1", Phone="+44 7911 654321", Xero_Contact_Id__c=x2)
    for a, x in ((a1, x1), (a2, x2)):
        _linked(world, a, x)
    # Salesforce's Name is the value we wrote there, and Xero's is newer (last writer): Xero's comes back.
    world.ledger("salesforce", a1, {"Name": "Older Edit"})
    new = gb_account(world, name="Fresh Co", email=None, AccountNumber=None, Phone="07911 123457")
    code, engine = both(world, cfg)
    assert ("sf_to_xero", "skip", a2, x2, R1) in code, "ab-1 and AB-1 are one value under upper"
    # Brought back in E.164, the row showing the value Salesforce holds as old.
    assert code[("xero_to_sf", "update", x2, a2, R5)]["fields"] == {"Phone": ("+44 7911 654321", "+447911123456")}
    assert code[("xero_to_sf", "update", x1, a1, R5)]["fields"] == {"Name": ("Older Edit", "Written By Us")}
    created = code[("sf_to_xero", "create", new, None, R1)]["fields"]
    assert (created["AccountNumber"], created["Phones.MOBILE"]) == ((None, "NONE"), (None, "+447911123457"))
    assert engine == code


def test_r1s_filters_as_where_plan_the_same(world):
    cfg = {"recipes": {"R1": {"filters": [{"field": "Type", "op": "in", "value": ["Customer", "Partner"]}]}}}
    keep = world.sf("Account", Name="Customer Co", Type="Customer")
    world.sf("Account", Name="Prospect Co", Type="Prospect")
    world.sf("Account", Name="Untyped Co")
    x = gb_contact(world, name="Partner Co")
    partner = gb_account(world, name="Partner Co", Type="Partner", Xero_Contact_Id__c=x)
    _linked(world, partner, x)
    code, engine = both(world, cfg)
    assert {k[2] for k in code if k[0] == "sf_to_xero"} == {keep, partner}
    assert engine == code


def test_a_deleted_accounts_contact_is_archived_or_held_the_same(world):
    cfg = {"recipes": {"R1": {"deletes": {"salesforce": "archive"}}}}
    pairs = []
    for name, balance in (("Gone Co", 0.0), ("Owing Co", 250.0)):
        x = gb_contact(world, name=name, Balances={"AccountsReceivable": {"Outstanding": balance, "Overdue": 0.0}})
        a = gb_account(world, name=name, Xero_Contact_Id__c=x, deleted=True)
        _linked(world, a, x)
        pairs.append((a, x))
    code, engine = both(world, cfg)
    (gone, gx), (owing, ox) = pairs
    assert ("sf_to_xero", "delete", gone, gx, R1) in code, "archived"
    assert ("sf_to_xero", "held", owing, ox, R1) in code, "a Contact with a balance waits for approval"
    assert engine == code


#: The ledger keys R1's and R5's code planner gave `_keyed_world`'s rows (at eed1b2e, the last commit before
#: the move, on either backend): the same keys, so a write whose outcome was unknown is not sent twice.
KEYS_BEFORE_THE_MOVE = {
    ("R1", "sf_to_xero", "conflict", "001000000000000A03", None): "sfx-75f3bb4fd77dffa86b0922ba89a0ebe308ffabb5",
    ("R1", "sf_to_xero", "create", "001000000000000A04", None): "sfx-ad597b3aecb0e337306c9307163b5159de3c98f4",
    ("R1", "sf_to_xero", "skip", "001000000000000A02", "x-trading"): "sfx-b409ed25f869263644a0437f92ab9b67205b49e6",
    ("R1", "sf_to_xero", "update", "001000000000000A01", "x-acme"): "sfx-d9487155f60494d2e45cd573541666cf65270dd3",
    ("R1", "xero_to_sf", "update", "x-trading", "001000000000000A02"): "sfx-9897e03f22ca5f463b58acd43804877d4e53267b",
    ("R5", "xero_to_sf", "update", "x-acme", "001000000000000A01"): "sfx-93c633c4cd50fa3cc19c7858f75be0ad152a91fd",
}


def _keyed_world(world) -> None:
    x = gb_contact(world, name="Acme (Xero edit)", email="books@acme.co.uk", ContactID="x-acme",
                   Phones=[{"PhoneType": "DEFAULT", "PhoneCountryCode": "44", "PhoneAreaCode": "20",
                            "PhoneNumber": "11112222"}])
    a = gb_account(world, name="Acme (SF edit)", email=None, Phone="+44 20 3333 4444", Xero_Contact_Id__c=x,
                   Id="001000000000000A01")
    world.sf("Contact", Id="003000000000000C01", AccountId=a, LastName="Ops", Email="ops@acme.co.uk", CreatedDate="2024-01-01")
    _linked(world, a, x)
    gb_contact(world, name="Trading Co", email="OPS@Trading.co.uk ", ContactID="x-trading")
    t = gb_account(world, name="Trading Co", email=None, Id="001000000000000A02")
    world.sf("Contact", Id="003000000000000C02", AccountId=t, LastName="Ops", Email=" ops@trading.CO.uk", CreatedDate="2024-01-01")
    gb_contact(world, name="Zed Ltd", email=None, ContactID="x-zed-1")
    gb_contact(world, name="ZED, Inc.", email=None, ContactID="x-zed-2")
    gb_account(world, name="zed", email=None, Id="001000000000000A03")
    new = world.sf("Account", Id="001000000000000A04", Name="NewCo Inc", Phone="(415) 555-0100", BillingCountry="USA",
                   BillingCity="SF", CurrencyIsoCode="usd")
    world.sf("Contact", Id="003000000000000C04", AccountId=new, LastName="B", Email="Books@NewCo.com", CreatedDate="2024-02-01")


def test_r1s_and_r5s_rows_keep_their_ledger_keys_from_before_the_move(world):
    _keyed_world(world)
    code, engine = both(world)
    keys = {(recipe, *key): row["key"] for (*key, recipe), row in code.items()}
    assert keys == KEYS_BEFORE_THE_MOVE
    assert engine == code
