"""R6 planning: Xero Contacts with overdue balances → members of the configured Campaign.

Hand-written staging on both backends. Ages count to the day the Xero invoices were extracted
(the fixtures' T0 = 2025-03-01), so an invoice due 2025-01-01 is 59 days overdue.
"""

from types import SimpleNamespace

import pytest

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.reconcile.build import build_plan

from .conftest import diff_of

CAMPAIGN = "Overdue accounts follow-up"


def cfg(**r6):
    return parse_config({"recipes": {"R6": {"enabled": True, "campaign": CAMPAIGN, **r6}}})


def plan(world, config=None):
    with world.db.engine.connect() as conn:
        p = build_plan(conn, config or cfg(), families=("campaigns",))
    return [SimpleNamespace(**r) for r in p.rows.to_dict("records")], p


def rows_of(world, config=None):
    return plan(world, config)[0]


def campaign(world, name=CAMPAIGN):
    return world.sf("Campaign", Name=name, IsActive=True)


def invoice(world, contact, amount_due, due="2025-01-01", status="AUTHORISED", rate=None, **kw):
    extra = {"CurrencyRate": rate} if rate is not None else {}
    return world.xero("Invoices", Type="ACCREC", Contact={"ContactID": contact}, Status=status, DueDate=due,
                      AmountDue=amount_due, Total=amount_due, SubTotal=amount_due, **extra, **kw)


def linked_account(world, name="Acme", **xero):
    x = world.xero("Contacts", Name=name, ContactStatus="ACTIVE", **xero)
    a = world.sf("Account", Name=name)
    world.link("R1", a, x)
    return x, a


def test_overdue_linked_contact_adds_the_accounts_primary_contact(world):
    camp = campaign(world)
    campaign(world, "Spring webinar")
    x, a = linked_account(world)
    world.sf("Contact", AccountId=a, LastName="NoEmail", CreatedDate="2020-01-01T00:00:00Z")
    primary = world.sf("Contact", AccountId=a, LastName="Payer", Email="ap@acme.example",
                       CreatedDate="2021-01-01T00:00:00Z")
    world.sf("Contact", AccountId=a, LastName="Later", Email="later@acme.example", CreatedDate="2022-01-01T00:00:00Z")
    invoice(world, x, 400.0, due="2025-01-01")
    invoice(world, x, 200.0, due="2025-01-20")
    invoice(world, x, 999.0, due="2025-02-20")                  # only 9 days overdue: not counted
    invoice(world, x, 999.0, due="2024-12-01", status="DRAFT")  # not owed
    invoice(world, x, 0.0, due="2024-12-01", status="PAID")
    [row] = rows_of(world, cfg(member_status="Sent"))
    assert (row.recipe, row.direction, row.action, row.source_id, row.target_id) == ("R6", "xero_to_sf", "create", x, None)
    d = diff_of(row)
    assert d["target_object"] == "CampaignMember" and d["match"] == "link" and d["account"] == a
    assert d["payload"] == {"CampaignMember": {"CampaignId": camp, "ContactId": primary, "Status": "Sent"}}
    assert set(d["fields"]) == {"CampaignId", "ContactId", "Status"}
    assert all(set(f) == {"old", "new", "rule"} and f["old"] is None for f in d["fields"].values())
    assert d["fields"]["ContactId"]["new"] == primary
    assert d["overdue"] == {"amount": 600.0, "invoices": 2, "oldest_days": 59, "as_of": "2025-03-01"}
    assert row.reason.startswith("owes 600.00 overdue (2 invoices, oldest 59 days past due on 2025-03-01)")


def test_unlinked_contact_matches_a_contact_then_a_lead_by_email(world):
    camp = campaign(world)
    other = world.sf("Account", Name="Beta")
    c = world.sf("Contact", AccountId=other, LastName="Beta AP", Email="pay@beta.example")
    lead = world.sf("Lead", LastName="Gamma", Company="Gamma", Email="ar@gamma.example", Status="Open", IsConverted=False)
    world.sf("Lead", LastName="Old", Company="Delta", Email="ar@delta.example", Status="Closed", IsConverted=True)
    x_c = world.xero("Contacts", Name="Beta", EmailAddress=" Pay@Beta.EXAMPLE ")
    x_l = world.xero("Contacts", Name="Gamma", EmailAddress="ar@gamma.example")
    x_conv = world.xero("Contacts", Name="Delta", EmailAddress="ar@delta.example")
    for x in (x_c, x_l, x_conv):
        invoice(world, x, 100.0)
    rows = {r.source_id: r for r in rows_of(world)}
    assert diff_of(rows[x_c])["payload"] == {"CampaignMember": {"CampaignId": camp, "ContactId": c}}
    assert diff_of(rows[x_c])["match"] == "email"
    assert diff_of(rows[x_l])["payload"] == {"CampaignMember": {"CampaignId": camp, "LeadId": lead}}
    assert rows[x_conv].action == "held"  # a converted Lead is not a candidate
    assert "no Salesforce Contact or Lead has the email ar@delta.example" in rows[x_conv].reason


def test_member_still_overdue_skips_and_paid_members_are_removed(world):
    camp = campaign(world)
    other_campaign = campaign(world, "Spring webinar")
    x_owes, a_owes = linked_account(world, "Owes")
    c_owes = world.sf("Contact", AccountId=a_owes, LastName="A", Email="a@owes.example")
    invoice(world, x_owes, 50.0)
    m_owes = world.sf("CampaignMember", CampaignId=camp, ContactId=c_owes, Status="Sent")
    # Paid: linked Account's Contacts leave the Campaign (the primary and any other one added earlier).
    x_paid, a_paid = linked_account(world, "Paid")
    c_paid = world.sf("Contact", AccountId=a_paid, LastName="P", Email="p@paid.example")
    c_paid2 = world.sf("Contact", AccountId=a_paid, LastName="Q", Email="q@paid.example")
    invoice(world, x_paid, 0.0, status="PAID")
    m_paid = world.sf("CampaignMember", CampaignId=camp, ContactId=c_paid)
    m_paid2 = world.sf("CampaignMember", CampaignId=camp, ContactId=c_paid2)
    world.sf("CampaignMember", CampaignId=other_campaign, ContactId=c_paid)  # another Campaign: not R6's
    # Paid, unlinked, a Lead by email.
    lead = world.sf("Lead", LastName="L", Company="L", Email="l@lead.example", Status="Open", IsConverted=False)
    x_lead = world.xero("Contacts", Name="Lead Co", EmailAddress="l@lead.example")
    m_lead = world.sf("CampaignMember", CampaignId=camp, LeadId=lead)
    # A member R6 knows nothing about (no Xero Contact): left alone.
    stranger = world.sf("Contact", LastName="S", Email="s@nowhere.example")
    world.sf("CampaignMember", CampaignId=camp, ContactId=stranger)
    # A deleted member is not a member.
    world.sf("CampaignMember", CampaignId=camp, ContactId=c_paid, deleted=True)
    rows = rows_of(world)
    by = {(r.action, r.target_id): r for r in rows}
    assert len(rows) == 4
    skip = by[("skip", m_owes)]
    assert skip.source_id == x_owes and "is a member" in skip.reason
    for member, person, x, kind in ((m_paid, c_paid, x_paid, "ContactId"), (m_paid2, c_paid2, x_paid, "ContactId"),
                                    (m_lead, lead, x_lead, "LeadId")):
        row = by[("delete", member)]
        d = diff_of(row)
        assert row.source_id == x and row.direction == "xero_to_sf"
        assert d["payload"] == {"CampaignMember": {"Id": member}} and d["target_object"] == "CampaignMember"
        assert d["fields"]["CampaignId"]["old"] == camp and d["fields"]["CampaignId"]["new"] is None
        assert d["fields"][kind] == {"old": person, "new": None, "rule": d["fields"]["CampaignId"]["rule"]}
    assert diff_of(by[("delete", m_lead)])["match"] == "email"


def test_ambiguous_candidates_conflict_and_unresolvable_ones_are_held(world):
    campaign(world)
    # Two Contacts share the Xero Contact's email.
    c1 = world.sf("Contact", LastName="One", Email="shared@twins.example")
    c2 = world.sf("Contact", LastName="Two", Email="Shared@Twins.example")
    x_twins = world.xero("Contacts", Name="Twins", EmailAddress="shared@twins.example")
    # Two Accounts carry the same written-back ContactID.
    x_dup = world.xero("Contacts", Name="Dup")
    a1 = world.sf("Account", Name="Dup 1", Xero_Contact_Id__c=x_dup)
    a2 = world.sf("Account", Name="Dup 2", Xero_Contact_Id__c=x_dup)
    # Linked Account without Contacts; no link and no email; a held Xero Contact; a held person.
    x_empty, a_empty = linked_account(world, "Empty")
    x_noemail = world.xero("Contacts", Name="Nobody")
    x_held, a_held = linked_account(world, "Held")
    world.sf("Contact", AccountId=a_held, LastName="H", Email="h@held.example")
    world.hold("xero_contact", x_held, "ContactStatus missing")
    x_person, a_person = linked_account(world, "Person")
    c_held = world.sf("Contact", AccountId=a_person, LastName="P", Email="p@person.example")
    world.hold("sf_contact", c_held, "Email bounced")
    world.hold("sf_contact", c1, "released long ago", released=True)
    for x in (x_twins, x_dup, x_empty, x_noemail, x_held, x_person):
        invoice(world, x, 75.0)
    rows = {r.source_id: r for r in rows_of(world)}
    assert rows[x_twins].action == "conflict" and diff_of(rows[x_twins])["candidates"] == sorted([c1, c2])
    assert "2 Contacts have the email shared@twins.example" in rows[x_twins].reason
    assert rows[x_dup].action == "conflict" and diff_of(rows[x_dup])["candidates"] == sorted([a1, a2])
    assert rows[x_empty].action == "held" and f"linked Account {a_empty} has no Contact" in rows[x_empty].reason
    assert rows[x_noemail].action == "held" and "no linked Account and no email" in rows[x_noemail].reason
    assert rows[x_held].action == "held" and "ContactStatus missing" in rows[x_held].reason
    assert rows[x_person].action == "held" and f"Contact {c_held} held at check: Email bounced" in rows[x_person].reason
    assert {r.action for r in rows.values()} == {"conflict", "held"}


def test_threshold_in_base_currency_age_and_one_row_per_person(world):
    camp = campaign(world)
    # 100 USD at 1.25 USD per base unit = 80.00: under a 100 threshold alone, over it with 30 more.
    x_fx = world.xero("Contacts", Name="FX", EmailAddress="fx@fx.example")
    c_fx = world.sf("Contact", LastName="FX", Email="fx@fx.example")
    invoice(world, x_fx, 100.0, rate=1.25, CurrencyCode="USD")
    x_small = world.xero("Contacts", Name="Small", EmailAddress="small@small.example")
    world.sf("Contact", LastName="Small", Email="small@small.example")
    invoice(world, x_small, 99.99)
    # Two Xero Contacts for one person, each over the threshold: one create, both listed.
    x_a = world.xero("Contacts", Name="Twin A", EmailAddress="same@same.example")
    x_b = world.xero("Contacts", Name="Twin B", EmailAddress="same@same.example")
    c_same = world.sf("Contact", LastName="Same", Email="same@same.example")
    invoice(world, x_a, 110.0)
    invoice(world, x_b, 105.0, due="2024-12-01")
    # An archived Xero Contact is not chased.
    x_arch = world.xero("Contacts", Name="Gone", EmailAddress="gone@gone.example", ContactStatus="ARCHIVED")
    world.sf("Contact", LastName="Gone", Email="gone@gone.example")
    invoice(world, x_arch, 500.0)
    config = cfg(min_overdue_amount=100, min_days_overdue=45)
    assert all(r.source_id not in (x_fx, x_small) for r in rows_of(world, config))
    invoice(world, x_fx, 30.0, due="2025-01-10")
    rows = rows_of(world, config)
    by = {r.source_id: r for r in rows}
    assert set(by) == {x_fx, min(x_a, x_b)}
    assert diff_of(by[x_fx])["payload"]["CampaignMember"] == {"CampaignId": camp, "ContactId": c_fx}
    assert diff_of(by[x_fx])["overdue"]["amount"] == 110.0
    twin = diff_of(by[min(x_a, x_b)])
    assert twin["xero_contacts"] == sorted([x_a, x_b]) and twin["payload"]["CampaignMember"]["ContactId"] == c_same
    assert twin["overdue"] == {"amount": 215.0, "invoices": 2, "oldest_days": 90, "as_of": "2025-03-01"}
    # At 60 days only Twin B's 90-day invoice counts (the threshold is per Xero Contact).
    [row] = [r for r in rows_of(world, cfg(min_overdue_amount=100, min_days_overdue=60)) if r.source_id in (x_a, x_b)]
    assert row.source_id == x_b and "xero_contacts" not in diff_of(row)


def test_campaign_by_id_or_name_and_config_errors(world):
    camp = campaign(world)
    x, a = linked_account(world)
    c = world.sf("Contact", AccountId=a, LastName="A", Email="a@acme.example")
    invoice(world, x, 10.0)
    for ref in (camp, camp[:15], CAMPAIGN.upper()):
        [row] = rows_of(world, cfg(campaign=ref))
        assert diff_of(row)["payload"]["CampaignMember"] == {"CampaignId": camp, "ContactId": c}
    with pytest.raises(ConfigError) as err:
        rows_of(world, cfg(campaign="No such campaign"))
    assert err.value.key == "recipes.R6.campaign"
    campaign(world)  # a second Campaign with the same name
    with pytest.raises(ConfigError) as err:
        rows_of(world, cfg())
    assert err.value.key == "recipes.R6.campaign" and "give the Id" in str(err.value)
    assert rows_of(world, parse_config({})) == []  # R6 is off by default


def test_same_staging_gives_the_identical_plan(world):
    camp = campaign(world)
    x, a = linked_account(world)
    c = world.sf("Contact", AccountId=a, LastName="A", Email="a@acme.example")
    invoice(world, x, 10.0)
    x_paid, a_paid = linked_account(world, "Paid")
    c_paid = world.sf("Contact", AccountId=a_paid, LastName="P", Email="p@paid.example")
    world.sf("CampaignMember", CampaignId=camp, ContactId=c_paid)
    (first, p1), (second, p2) = plan(world), plan(world)
    assert p1.plan_ids == p2.plan_ids and p1.rows.equals(p2.rows)
    assert sorted(r.action for r in first) == ["create", "delete"]
    assert c in first[0].diff or c in first[1].diff


def test_a_membership_salesforce_rejected_holds_r6_only(world):
    """The push holds a rejected CampaignMember write on `sf_campaign_member` under the Xero Contact's
    id: the next R6 plan holds that row with the message; the Contact's other recipes are untouched."""
    from sfxero_pipelines.push.rows import PushRow

    campaign(world)
    x, a = linked_account(world)
    world.sf("Contact", AccountId=a, LastName="Payer", Email="ap@acme.example")
    invoice(world, x, 400.0)
    [row] = rows_of(world)
    push_row = PushRow(plan_id="p", row_no=1, recipe=row.recipe, direction=row.direction, action=row.action,
                       source_id=row.source_id, target_id=None, diff=diff_of(row))
    world.hold(push_row.source_table, x, "Salesforce rejected the R6 create of CampaignMember: FIELD_INTEGRITY")
    [held] = rows_of(world)
    assert held.action == "held" and "FIELD_INTEGRITY" in held.reason
    with world.db.engine.connect() as conn:
        contacts = build_plan(conn, parse_config({}), families=("contacts",)).rows
    assert not (contacts.action == "held").any()
