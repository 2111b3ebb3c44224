"""R1/R4/R5 planning on hand-written staging fixtures, on SQLite and the real PostgreSQL.

Contract: matching in docs/architecture.md §5's order (link → ContactNumber → email → normalised name), ambiguity
becomes a conflict with every candidate, each row lists exactly the fields that change (old, new,
rule), ownership decides direction, our own writes (ledger) are never planned back, holds become
`held`, and the same inputs give the identical plan.
"""

import datetime as dt
from types import SimpleNamespace

import sqlalchemy as sa

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.reconcile.build import build_plan
from sfxero_pipelines.staging.state.plans import load_latest, write_plan

from .conftest import T0, diff_of


def plan(world, cfg=None):
    with world.db.engine.connect() as conn:
        return build_plan(conn, cfg or parse_config({}), families=("contacts",))


def rows(p, recipe=None, action=None, source=None):
    df = p.rows
    if recipe:
        df = df[df.recipe == recipe]
    if action:
        df = df[df.action == action]
    if source:
        df = df[df.source_id == source]
    return [SimpleNamespace(**r) for r in df.to_dict("records")]


def gb_contact(world, name="Acme Ltd", email="ops@acme.co.uk", **kw):
    kw.setdefault("Phones", [{"PhoneType": "DEFAULT", "PhoneCountryCode": "44", "PhoneAreaCode": "20", "PhoneNumber": "79460000"}])
    kw.setdefault("Addresses", [{"AddressType": "POBOX", "City": "London", "Country": "United Kingdom"}])
    return world.xero("Contacts", Name=name, EmailAddress=email, ContactStatus=kw.pop("ContactStatus", "ACTIVE"),
                      DefaultCurrency="GBP", **kw)


def gb_account(world, name="Acme Ltd", email="ops@acme.co.uk", **kw):
    kw.setdefault("Phone", "+44 20 7946 0000")
    kw.setdefault("BillingCity", "London")
    kw.setdefault("BillingCountry", "United Kingdom")
    a = world.sf("Account", Name=name, CurrencyIsoCode="GBP", **kw)
    if email:
        world.sf("Contact", AccountId=a, LastName="Ops", Email=email, CreatedDate="2024-01-01")
    return a


def test_linked_and_identical_is_skip(world):
    x = gb_contact(world)
    a = gb_account(world, Xero_Contact_Id__c=x)
    world.link("R1", a, x)
    p = plan(world)
    [row] = rows(p, "R1")
    assert (row.action, row.source_id, row.target_id, row.diff) == ("skip", a, x, None)
    assert "matched by link" in row.reason
    assert rows(p, "R5") == [] and rows(p, "R4") == []


def test_contact_number_match_beats_email_and_name(world):
    a = gb_account(world, email="shared@acme.co.uk")
    x_key = gb_contact(world, name="Totally Different", email="other@x.com", ContactNumber=a)
    gb_contact(world, name="Acme Ltd", email="shared@acme.co.uk")  # would match by email and name
    [row] = rows(plan(world), "R1", source=a, action="update")
    assert row.target_id == x_key and diff_of(row)["match"] == "contact_number"
    assert diff_of(row)["fields"]["Name"] == {"old": "Totally Different", "new": "Acme Ltd",
                                              "rule": "Name→Name; owner salesforce"}


def test_email_match_is_case_and_space_insensitive_and_records_the_link(world):
    x = gb_contact(world, name="Acme Trading", email="OPS@Acme.co.uk ")
    a = gb_account(world, name="Acme Trading", email=" ops@acme.CO.uk")
    p = plan(world)
    [fwd] = rows(p, "R1", source=a)
    assert (fwd.action, fwd.target_id) == ("skip", x)
    assert diff_of(fwd) == {"match": "email", "link": True}
    [back] = rows(p, "R1", action="update")
    assert back.direction == "xero_to_sf" and back.target_id == a
    assert diff_of(back)["payload"] == {"Account": {"Id": a, "Xero_Contact_Id__c": x}}


def test_name_match_handles_unicode_suffix_and_punctuation(world):
    x = gb_contact(world, name="MU\u0308LLER, GmbH.", email=None)
    a = gb_account(world, name="Müller GmbH", email=None)
    [row] = rows(plan(world), "R1", source=a)
    assert row.target_id == x and diff_of(row)["match"] == "name"
    assert diff_of(row)["fields"]["Name"]["new"] == "Müller GmbH"


def test_near_duplicate_names_are_a_conflict_with_both_candidates(world):
    x1 = gb_contact(world, name="Acme Ltd", email=None)
    x2 = gb_contact(world, name="ACME, Inc.", email=None)
    gb_contact(world, name="Acme Holdings", email=None)  # similar but a different company
    a = gb_account(world, name="acme", email=None)
    [row] = rows(plan(world), "R1", source=a)
    assert row.action == "conflict" and row.target_id is None
    assert diff_of(row)["candidates"] == sorted([x1, x2]) and diff_of(row)["match"] == "name"
    assert x1 in row.reason and x2 in row.reason


def test_ambiguous_email_is_never_resolved_by_a_weaker_rule(world):
    x1 = gb_contact(world, name="Acme Ltd", email="billing@acme.co.uk")
    x2 = gb_contact(world, name="Acme Retail", email="billing@acme.co.uk")
    a = gb_account(world, name="Acme Ltd", email="billing@acme.co.uk")  # name alone would pick x1
    [row] = rows(plan(world), "R1", source=a)
    assert row.action == "conflict" and diff_of(row)["candidates"] == sorted([x1, x2])


def test_two_accounts_claiming_one_contact_both_conflict(world):
    x = gb_contact(world, name="Shared Co", email="a@shared.com")
    a1 = gb_account(world, name="Shared Co UK", email="a@shared.com")
    a2 = gb_account(world, name="Shared Co IE", email="a@shared.com")
    p = plan(world)
    for me, other in ((a1, a2), (a2, a1)):
        [row] = rows(p, "R1", source=me)
        assert row.action == "conflict"
        assert diff_of(row)["candidates"] == [x] and diff_of(row)["other_sf"] == [other]


def test_create_carries_the_full_mapped_record(world):
    a = world.sf("Account", Name="NewCo Inc", Phone="(415) 555-0100", BillingCountry="USA", BillingCity="SF",
                 CurrencyIsoCode="usd")
    world.sf("Contact", AccountId=a, LastName="B", Email="Books@NewCo.com", CreatedDate="2024-02-01")
    world.sf("Contact", AccountId=a, LastName="A", Email=None, CreatedDate="2023-01-01")  # older, but no email
    [row] = rows(plan(world), "R1", source=a)
    assert row.action == "create" and row.target_id is None
    assert diff_of(row)["payload"] == {
        "Name": "NewCo Inc", "ContactNumber": a, "EmailAddress": "books@newco.com", "DefaultCurrency": "USD",
        "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": "+14155550100"}],
        "Addresses": [{"AddressType": "POBOX", "City": "SF", "Country": "US"}]}
    assert diff_of(row)["fields"]["Phones.DEFAULT"]["rule"].startswith("Phone→Phones.DEFAULT (phone)")



def test_phones_are_written_e164_as_read_in_the_accounts_country(world):
    # Rome's 06 keeps its 0 in E.164; Kenya was outside the hand-written calling-code table.
    rome = world.sf("Account", Name="Roma Srl", Phone="06 1234 5678", BillingCountry="Italia", CurrencyIsoCode="eur")
    nairobi = world.sf("Account", Name="Nairobi Ltd", Phone="020 2012345", BillingCountry="Kenya")
    p = plan(world)
    [r] = rows(p, "R1", source=rome)
    assert diff_of(r)["payload"]["Phones"] == [{"PhoneType": "DEFAULT", "PhoneNumber": "+390612345678"}]
    assert diff_of(r)["payload"]["DefaultCurrency"] == "EUR"
    assert diff_of(r)["payload"]["Addresses"] == [{"AddressType": "POBOX", "Country": "IT"}]
    [k] = rows(p, "R1", source=nairobi)
    assert diff_of(k)["payload"]["Phones"] == [{"PhoneType": "DEFAULT", "PhoneNumber": "+254202012345"}]


def test_a_number_phonenumbers_cannot_read_is_written_as_given_and_compares_by_its_digits(world):
    new = world.sf("Account", Name="Local Co", Phone="555-0100", BillingCountry="USA")
    x = world.xero("Contacts", Name="Linked Co", ContactStatus="ACTIVE",
                   Phones=[{"PhoneType": "DEFAULT", "PhoneNumber": "555 0100"}])
    a = world.sf("Account", Name="Linked Co", Phone="(555) 0100", BillingCountry="USA", Xero_Contact_Id__c=x)
    world.link("R1", a, x)
    p = plan(world)
    [r] = rows(p, "R1", source=new)
    assert diff_of(r)["payload"]["Phones"] == [{"PhoneType": "DEFAULT", "PhoneNumber": "555-0100"}]
    [linked] = rows(p, "R1", source=a)
    assert linked.action == "skip" and rows(p, "R5") == []

def test_account_without_name_is_held_not_created(world):
    a = world.sf("Account", Name=None)
    [row] = rows(plan(world), "R1", source=a)
    assert row.action == "held" and "Name is required" in row.reason


def test_field_owned_by_each_side_changed_on_both_sides(world):
    x = gb_contact(world, name="Acme (Xero edit)",
                   Phones=[{"PhoneType": "DEFAULT", "PhoneCountryCode": "44", "PhoneAreaCode": "20", "PhoneNumber": "11112222"}])
    a = gb_account(world, name="Acme (SF edit)", Phone="+44 20 3333 4444", Xero_Contact_Id__c=x)
    world.link("R1", a, x)
    p = plan(world)
    [fwd] = rows(p, "R1", "update")
    assert fwd.direction == "sf_to_xero"
    assert diff_of(fwd)["fields"] == {"Name": {"old": "Acme (Xero edit)", "new": "Acme (SF edit)",
                                               "rule": "Name→Name; owner salesforce"}}
    assert diff_of(fwd)["payload"] == {"ContactID": x, "Name": "Acme (SF edit)"}
    [back] = rows(p, "R5")
    assert (back.action, back.direction, back.source_id, back.target_id) == ("update", "xero_to_sf", x, a)
    assert diff_of(back)["fields"] == {"Phone": {"old": "+44 20 3333 4444", "new": "+442011112222",
                                                 "rule": "Phone→Phones.DEFAULT (phone); owner xero"}}


def test_formatting_only_differences_are_in_sync(world):
    x = gb_contact(world, Addresses=[{"AddressType": "POBOX", "City": "London", "Country": "GB"}])
    a = gb_account(world, Phone="020 7946 0000", BillingCountry="united kingdom", Xero_Contact_Id__c=x)
    world.link("R1", a, x)
    assert [r.action for r in rows(plan(world))] == ["skip"]


def test_last_writer_wins_both_ways(world):
    cfg = parse_config({"mapping": {"contact_fields": [{"sf": "Name", "xero": "Name", "owner": "last_writer"}]}})
    x1 = gb_contact(world, name="Old One", modified=T0)
    a1 = gb_account(world, name="New One", Xero_Contact_Id__c=x1, modified=T0 + dt.timedelta(hours=1))
    x2 = gb_contact(world, name="New Two", modified=T0 + dt.timedelta(hours=1))
    a2 = gb_account(world, name="Old Two", Xero_Contact_Id__c=x2, modified=T0)
    world.link("R1", a1, x1)
    world.link("R1", a2, x2)
    p = plan(world, cfg)
    [fwd] = rows(p, "R1", "update")
    assert fwd.source_id == a1 and diff_of(fwd)["fields"]["Name"]["new"] == "New One"
    assert "last writer: salesforce" in diff_of(fwd)["fields"]["Name"]["rule"]
    [back] = rows(p, "R5")
    assert back.target_id == a2 and diff_of(back)["fields"]["Name"]["new"] == "New Two"


def test_echo_of_our_own_write_is_not_planned_back(world):
    # We created the Xero contact with phone +442079460000 (ledger). Since then a user changed the
    # phone in Salesforce. Xero still holds our value: bringing it "back" (R5, Xero-owned) would
    # undo the user's edit with our own write.
    x = gb_contact(world)
    a = gb_account(world, Phone="+44 20 5555 6666", Xero_Contact_Id__c=x)
    world.link("R1", a, x)
    world.ledger("xero", x, {"Phones.DEFAULT": "+442079460000", "Name": "Acme Ltd"})
    p = plan(world)
    assert rows(p, "R5") == []
    [row] = rows(p, "R1")
    assert row.action == "skip"
    assert "Phones.DEFAULT" in diff_of(row)["suppressed"]


def test_echo_under_last_writer_lets_the_real_edit_win(world):
    cfg = parse_config({"mapping": {"contact_fields": [{"sf": "Name", "xero": "Name", "owner": "last_writer"}]}})
    # Our write made Xero the newer record; its Name is the value we wrote, the SF edit is real.
    x = gb_contact(world, name="Written By Us", modified=T0 + dt.timedelta(hours=2))
    a = gb_account(world, name="Edited In SF", Xero_Contact_Id__c=x, modified=T0 + dt.timedelta(hours=1))
    world.link("R1", a, x)
    world.ledger("xero", x, {"Name": "Written By Us"})
    p = plan(world, cfg)
    assert rows(p, "R5") == []
    [fwd] = rows(p, "R1", "update")
    assert diff_of(fwd)["fields"]["Name"]["new"] == "Edited In SF"


def test_open_hold_is_held_and_released_hold_is_not(world):
    x1, x2 = gb_contact(world, name="One"), gb_contact(world, name="Two", email="two@x.com")
    a1 = gb_account(world, name="One", Xero_Contact_Id__c=x1)
    a2 = gb_account(world, name="Two", email="two@x.com", Xero_Contact_Id__c=x2)
    world.hold("sf_account", a1, "missing billing email")
    world.hold("xero_contact", x2, "old reason", released=True)
    p = plan(world)
    [h] = rows(p, "R1", source=a1)
    assert h.action == "held" and "missing billing email" in h.reason
    assert rows(p, "R1", source=a2)[0].action == "skip"


def test_link_to_archived_contact_is_held(world):
    x = gb_contact(world, ContactStatus="ARCHIVED")
    a = gb_account(world, Xero_Contact_Id__c=x)
    world.link("R1", a, x)
    [row] = rows(plan(world), "R1", source=a)
    assert row.action == "held" and "archived" in row.reason


def test_balances_flow_to_salesforce(world):
    x = gb_contact(world, Balances={"AccountsReceivable": {"Outstanding": 120.5, "Overdue": 20}})
    a = gb_account(world, Xero_Contact_Id__c=x, Xero_Outstanding__c=100.0, Xero_Overdue__c=20.0)
    world.link("R1", a, x)
    [row] = rows(plan(world), "R4")
    change = diff_of(row)["fields"]["Xero_Outstanding__c"]
    assert list(diff_of(row)["fields"]) == ["Xero_Outstanding__c"]  # overdue is equal: not listed
    assert float(change["old"]) == 100.0 and change["new"] == 120.5
    assert change["rule"].startswith("R4: Xero ar_outstanding → Xero_Outstanding__c")
    assert diff_of(row)["payload"] == {"Account": {"Id": a, "Xero_Outstanding__c": 120.5}}


def test_filters_limit_which_accounts_take_part(world):
    cfg = parse_config({"recipes": {"R1": {"filters": [{"field": "Type", "op": "in", "value": ["Customer"]}]}}})
    keep = world.sf("Account", Name="Customer Co", Type="Customer")
    world.sf("Account", Name="Prospect Co", Type="Prospect")
    assert [r.source_id for r in rows(plan(world, cfg), "R1")] == [keep]


def test_same_inputs_give_the_identical_plan_and_no_rewrite(world):
    x = gb_contact(world, name="Acme Old")
    a = gb_account(world, Xero_Contact_Id__c=x)
    world.link("R1", a, x)
    gb_account(world, name="Brand New", email="new@new.com")
    gb_contact(world, name="Dup", email="d@d.com")
    gb_contact(world, name="Dup 2", email="d@d.com")
    gb_account(world, name="Dup", email="d@d.com")
    first, second = plan(world), plan(world)
    assert first.plan_ids == second.plan_ids
    assert first.rows.to_dict("records") == second.rows.to_dict("records")
    assert list(first.rows.row_no[first.rows.recipe == "R1"]) == list(range(1, 1 + int((first.rows.recipe == "R1").sum())))
    with world.db.begin() as conn:
        assert set(write_plan(conn, first.rows, recipes=("R1", "R4", "R5")).values()) == {"written", "empty"}
    with world.db.begin() as conn:
        assert write_plan(conn, second.rows, recipes=("R1", "R4", "R5"))["R1"] == "unchanged"
        stored = load_latest(conn, "R1")
    assert stored.plan_id.unique().tolist() == [first.plan_ids["R1"]]
    assert stored.source_id.tolist() == first.rows[first.rows.recipe == "R1"].source_id.tolist()
    # A source change gives a new plan id, stored as the latest.
    gb_account(world, name="Another", email=None)
    third = plan(world)
    assert third.plan_ids["R1"] != first.plan_ids["R1"]
    with world.db.begin() as conn:
        write_plan(conn, third.rows, recipes=("R1", "R4", "R5"))
        assert load_latest(conn, "R1").plan_id.iloc[0] == third.plan_ids["R1"]
        assert conn.execute(sa.text("SELECT count(DISTINCT plan_id) FROM sync_plan WHERE recipe = 'R1'")).scalar_one() == 2
