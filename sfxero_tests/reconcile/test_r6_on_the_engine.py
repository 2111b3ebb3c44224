"""R6 on the declared-recipe engine (config/r6_declared.py, reconcile/campaigns.engine_pass): the same write
keys as the code planner it replaced, its delete policy, a Status sent on the add only, and the
declaration `sfxero recipes show R6` prints. Hand-written staging on both backends (ages count to the
fixtures' T0 = 2025-03-01)."""

from __future__ import annotations

import yaml

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.push.rows import PushRow
from sfxero_pipelines.reconcile.build import build_plan
from sfxero_pipelines.staging.state import approvals
from sfxero_pipelines.staging.state.plans import row_diff

CAMPAIGN = "Dunning"


def _plan(world, **r6) -> dict:
    cfg = parse_config({"recipes": {"R6": {"enabled": True, "campaign": CAMPAIGN, **r6}}})
    with world.db.engine.connect() as conn:
        rows = build_plan(conn, cfg, families=("campaigns",)).rows
    return {(r["action"], r["source_id"], r["target_id"] if isinstance(r["target_id"], str) else None):
            {**r, "diff": row_diff(r["diff"]) if isinstance(r["diff"], (str, dict)) else {}}
            for r in rows.to_dict("records")}


def _key(row: dict) -> str:
    return PushRow("p", 0, row["recipe"], row["direction"], row["action"], row["source_id"],
                   row["target_id"] if isinstance(row["target_id"], str) else None, row["diff"]).key


def _owes(world, contact: str, amount: float) -> None:
    world.xero("Invoices", Type="ACCREC", Contact={"ContactID": contact}, Status="AUTHORISED", DueDate="2025-01-01",
               AmountDue=amount, Total=amount, SubTotal=amount)


def _keyed_world(world) -> None:
    world.sf("Campaign", Id="701000000000000K01", Name=CAMPAIGN, IsActive=True)
    # Linked and owing: the Account's primary Contact is added.
    x = world.xero("Contacts", ContactID="x-owing", Name="Owing Co", ContactStatus="ACTIVE")
    a = world.sf("Account", Id="001000000000000K01", Name="Owing Co")
    world.link("R1", a, x)
    world.sf("Contact", Id="003000000000000K01", AccountId=a, LastName="Payer", Email="ap@owing.example",
             CreatedDate="2024-01-01T00:00:00Z")
    _owes(world, x, 400.0)
    # Unlinked and owing: the unconverted Lead with its email is added.
    world.xero("Contacts", ContactID="x-lead", Name="Lead Co", EmailAddress="books@lead.example")
    world.sf("Lead", Id="00Q000000000000K01", LastName="L", Company="Lead Co", Email="Books@Lead.example",
             Status="Open", IsConverted=False)
    _owes(world, "x-lead", 90.0)
    # Owing and a member already.
    world.xero("Contacts", ContactID="x-member", Name="Member Co", EmailAddress="m@member.example")
    world.sf("Contact", Id="003000000000000K02", LastName="M", Email="m@member.example")
    world.sf("CampaignMember", Id="00v000000000000K01", CampaignId="701000000000000K01", ContactId="003000000000000K02",
             Status="Responded")
    _owes(world, "x-member", 120.0)
    # Paid: a linked Account's Contact and a Lead by email leave the Campaign.
    xp = world.xero("Contacts", ContactID="x-paid", Name="Paid Co", ContactStatus="ACTIVE")
    ap = world.sf("Account", Id="001000000000000K02", Name="Paid Co")
    world.link("R1", ap, xp)
    world.sf("Contact", Id="003000000000000K03", AccountId=ap, LastName="P", Email="p@paid.example")
    world.sf("CampaignMember", Id="00v000000000000K02", CampaignId="701000000000000K01", ContactId="003000000000000K03")
    world.xero("Contacts", ContactID="x-paid-lead", Name="Paid Lead", EmailAddress="pl@paid.example")
    world.sf("Lead", Id="00Q000000000000K02", LastName="PL", Company="PL", Email="pl@paid.example", Status="Open",
             IsConverted=False)
    world.sf("CampaignMember", Id="00v000000000000K03", CampaignId="701000000000000K01", LeadId="00Q000000000000K02")


#: The ledger keys R6's code planner gave `_keyed_world`'s writes (at 8448f4e, the last commit before the
#: move, on either backend, with `member_status: Sent`): the same keys, so a write whose outcome was
#: unknown is not sent twice.
KEYS_BEFORE_THE_MOVE = {
    ("create", "x-lead", None): "sfx-c774e39d3e5ae51e157dc1d02100f054c972a01d",
    ("create", "x-owing", None): "sfx-88dba638cea946578851b6c5f2da2a3927b067dd",
    ("delete", "x-paid", "00v000000000000K02"): "sfx-064e6dc786f9fc9a1331f9802225cc561df582fb",
    ("delete", "x-paid-lead", "00v000000000000K03"): "sfx-b1cd147abe10a79c5f56a19f9344d2639d6a19bf",
}


def test_r6s_writes_keep_their_ledger_keys_from_before_the_move(world):
    _keyed_world(world)
    rows = _plan(world, member_status="Sent")
    keys = {k: _key(row) for k, row in rows.items() if k[0] in ("create", "update", "delete")}
    assert keys == KEYS_BEFORE_THE_MOVE
    assert {k[0] for k in rows} == {"create", "skip", "delete"}
    assert rows[("skip", "x-member", "00v000000000000K01")]["reason"].startswith("in sync: Contact 003000000000000K02")
    created = rows[("create", "x-lead", None)]["diff"]
    assert created["payload"] == {"CampaignMember": {"CampaignId": "701000000000000K01", "LeadId": "00Q000000000000K01",
                                                     "Status": "Sent"}}
    assert "link" not in created and "engine" not in created  # R6's own push: no link, a create found by its fields
    # The member's Status moved on in Salesforce ("Responded"): R6 sends its Status on the add only.
    assert ("update", "x-member", "00v000000000000K01") not in rows


def test_a_paid_members_removal_follows_r6s_delete_policy(world):
    _keyed_world(world)
    paid = ("x-paid", "00v000000000000K02")
    assert rows_at(world, "ignore") == set(), "ignore: the members stay"
    held = _plan(world, deletes="hold_for_approval")[("held", *paid)]
    approval = held["diff"]["approval"]
    assert approval.startswith("row-") and f"sfxero approve {approval}" in held["reason"]
    assert held["diff"]["payload"] == {"CampaignMember": {"Id": paid[1]}}
    with world.db.engine.begin() as conn:
        approvals.approve(conn, approvals.ROW, [approval], by="test")
    approved = _plan(world, deletes="hold_for_approval")
    assert approved[("delete", *paid)]["diff"]["approved"] == approval
    assert ("held", "x-paid-lead", "00v000000000000K03") in approved, "approving one removal approves only it"
    # Approved or archived, the removal is the same write: one ledger key.
    assert _key(approved[("delete", *paid)]) == KEYS_BEFORE_THE_MOVE[("delete", *paid)]


def rows_at(world, policy: str) -> set:
    return {k for k in _plan(world, deletes=policy) if k[0] in ("delete", "held")}


def test_recipes_show_r6_prints_its_declaration(tmp_path):
    from sfxero_tests.test_cli import sfxero

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"recipes": {"R6": {"enabled": True, "campaign": CAMPAIGN, "member_status": "Sent",
                                                         "min_overdue_amount": 0, "deletes": "hold_for_approval"}}}))
    shown = yaml.safe_load(sfxero("recipes", "show", "R6", env={"SFXERO_CONFIG": str(config)}).stdout)["recipes"]["R6"]
    assert shown["from"] == {"xero": "Contacts", "filter": "Overdue > 0"}
    assert shown["to"] == {"salesforce": "CampaignMember"} and shown["deletes"] == "hold_for_approval"
    assert shown["fields"]["CampaignId"] == {"value": CAMPAIGN}
    assert shown["fields"]["Status"] == {"value": "Sent", "create_only": True}
    assert shown["match"] == ["link", {"ContactId": "Person.ContactId"}, {"LeadId": "Person.LeadId"}]
