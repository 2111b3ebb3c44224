"""On PostgreSQL, linked pairs whose compared values are all identical are settled in the database
(contacts.read_linked) instead of in pandas. That must never change the plan: the same staging gives
the same rows and plan ids with the shortcut on and off, whatever the mix. Also: plans round-trip
through sync_plan byte for byte (COPY text escaping)."""

import json

import pytest

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.reconcile import contacts
from sfxero_pipelines.reconcile.build import build_plan
from sfxero_pipelines.staging.state.plans import load_latest, write_plan

from .conftest import T0

PHONE = [{"PhoneType": "DEFAULT", "PhoneCountryCode": "44", "PhoneAreaCode": "20", "PhoneNumber": "79460000"}]
ADDRESS = [{"AddressType": "POBOX", "AddressLine1": "1 High St", "City": "London", "PostalCode": "N1",
            "Country": "United Kingdom"}]


def pair(world, i, *, link=True, sf=None, xero=None, email=True, **account):
    """A Salesforce Account and a Xero Contact holding identical raw values (as the push leaves them)."""
    name = f"Company {i} Ltd"
    record = dict(Name=name, EmailAddress=f"ops{i}@example.com", ContactStatus="ACTIVE", DefaultCurrency="GBP",
                  AccountNumber=f"AN{i}", Phones=PHONE, Addresses=ADDRESS,
                  Balances={"AccountsReceivable": {"Outstanding": 10.0, "Overdue": 0.0}})
    record.update(xero or {})
    x = world.xero("Contacts", **record)
    fields = dict(Name=name, AccountNumber=f"AN{i}", CurrencyIsoCode="GBP", Phone="+44 20 79460000",
                  BillingStreet="1 High St", BillingCity="London", BillingPostalCode="N1",
                  BillingCountry="United Kingdom", Xero_Contact_Id__c=x, Xero_Outstanding__c=10.0, Xero_Overdue__c=0.0)
    fields.update(sf or {})
    a = world.sf("Account", **fields, **account)
    if email:
        world.sf("Contact", AccountId=a, LastName="Ops", Email=f"ops{i}@example.com", CreatedDate="2024-01-01")
    if link:
        world.link("R1", a, x)
    return a, x


def both(world, cfg, monkeypatch):
    out = []
    for fast in (True, False):
        monkeypatch.setattr(contacts, "FAST_PATH", fast)
        with world.db.engine.connect() as conn:
            out.append(build_plan(conn, cfg, families=("contacts",)))
    return out


def test_settling_in_the_database_never_changes_the_plan(world, monkeypatch):
    for i in range(6):
        pair(world, i)                                           # in sync: settled in the database
    pair(world, 10, sf={"Name": "Renamed Ltd"})                  # R1 update
    pair(world, 11, xero={"Phones": [{**PHONE[0], "PhoneNumber": "11112222"}]})   # R5 back
    pair(world, 12, xero={"Balances": {"AccountsReceivable": {"Outstanding": 99.0, "Overdue": 5.0}}})  # R4
    pair(world, 13, sf={"Xero_Contact_Id__c": None})             # R1 write-back of the ContactID
    pair(world, 14, sf={"Phone": "020 7946 0000"})               # same number, other format: in sync, not settled
    a_held, _ = pair(world, 15)
    world.hold("sf_account", a_held, "Name too long")
    _, x_held = pair(world, 16)
    world.hold("xero_contact", x_held, "bad status")
    pair(world, 17, invalid="BillingCountry: unknown")           # staged invalid
    pair(world, 18, xero={"ContactStatus": "ARCHIVED"})          # link to an archived Contact
    c_held_a, _ = pair(world, 19, email=False)
    held_contact = world.sf("Contact", AccountId=c_held_a, LastName="Ops", Email="ops19@example.com",
                            CreatedDate="2024-01-01")
    world.hold("sf_contact", held_contact, "bounced")
    pair(world, 20, link=False)                                  # linked only through Xero_Contact_Id__c
    a_dup, x_dup = pair(world, 21)
    world.sf("Account", Name="Copy", Xero_Contact_Id__c=x_dup)   # a second Account claims the same Contact
    pair(world, 22, link=False, sf={"Xero_Contact_Id__c": None})  # found by ContactNumber/email: new link
    world.sf("Account", Name="Brand New Ltd")                    # create
    named_like = world.sf("Account", Name="COMPANY 1 LTD")       # named like a settled Contact: not created
    world.xero("Contacts", Name="Only In Xero", ContactStatus="ACTIVE")
    a_echo, x_echo = pair(world, 23, sf={"Phone": "+44 20 55550000"})
    world.ledger("salesforce", a_echo, {"Phone": "+44 20 55550000"})
    cfg = parse_config({})
    fast, slow = both(world, cfg, monkeypatch)
    assert fast.plan_ids == slow.plan_ids
    assert fast.rows.to_dict("records") == slow.rows.to_dict("records")
    settled = fast.stats["contacts"]["settled_in_database"]
    assert settled == (6 if world.db.engine.dialect.name == "postgresql" else 0)
    assert slow.stats["contacts"]["settled_in_database"] == 0
    assert not any(r["source_id"] == named_like and r["action"] == "create" for r in fast.rows.to_dict("records"))
    # Filters apply to settled pairs too.
    filtered = parse_config({"recipes": {"R1": {"filters": [{"field": "Name", "op": "ne", "value": "Company 0 Ltd"}]}}})
    fast, slow = both(world, filtered, monkeypatch)
    assert fast.plan_ids == slow.plan_ids and len(fast.rows) == len(slow.rows)


@pytest.mark.parametrize("text", ["tab\there", "line\nbreak\r\nend", "back\\slash \\N", "quote \" and ' and é ✓"])
def test_stored_plan_reads_back_exactly(world, text):
    pair(world, 1, sf={"Name": text})                  # the text inside the diff JSON
    held, _ = pair(world, 2)
    world.hold("sf_account", held, text)               # the text raw in the reason column
    with world.db.engine.connect() as conn:
        p = build_plan(conn, parse_config({}), families=("contacts",))
    with world.db.begin() as conn:
        write_plan(conn, p.rows, recipes=("R1", "R4", "R5"), now=T0)
    with world.db.engine.connect() as conn:
        stored = load_latest(conn)

    def norm(df):
        return [(r["plan_id"], int(r["row_no"]), r["recipe"], r["direction"], r["source_id"], r["target_id"],
                 r["action"], r["diff"] if not isinstance(r["diff"], str) else json.loads(r["diff"]), r["reason"])
                for r in df.to_dict("records")]

    assert norm(stored) == norm(p.rows)
    assert any(text in r[8] for r in norm(stored) if r[6] == "held")
