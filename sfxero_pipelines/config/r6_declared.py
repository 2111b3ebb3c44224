"""R6's settings written as a declaration for the declared-recipe engine (docs/architecture.md §5.3):
`recipes.R6` (the Campaign, the thresholds, the member status, what happens to a member who paid) as a
recipe of Xero Contacts → CampaignMember, and the words R6's rows are said in.

Two things no declaration expresses are fields R6's pass (reconcile/campaigns.py) gives each Xero
Contact: `Overdue`, what it owes on AUTHORISED ACCREC invoices at least `min_days_overdue` days past
due, in the organisation's base currency; and `Person.ContactId` / `Person.LeadId`, who it is in
Salesforce (the linked Account's primary Contact, else the one Contact, else the one unconverted Lead,
with its email). The engine does the rest from the declaration: the filter, matching members by those
ids, the add (its Status sent on the add only), and the removal of a member whose Xero Contacts left the
filter (paid) by `deletes:`. The rules and reasons are R6's, so its ledger keys are the code planner's.
"""

from __future__ import annotations

from ..recipes import R6
from .declared import DeclaredRecipe
from .wording import Wording

#: The fields R6's pass computes per Xero Contact (the declaration's source paths).
OVERDUE = "Overdue"
PERSON_CONTACT = "Person.ContactId"
PERSON_LEAD = "Person.LeadId"
TITLE = "Overdue Xero Contacts → Campaign members"


def r6_as_declared(rc, campaign: str | None = None) -> dict:
    """The declaration of `recipes.R6` (a `CampaignRecipe`), as sfxero.yaml would hold it; `campaign`: the
    Campaign's Id once staging has named it (else as configured)."""
    amount = rc.min_overdue_amount
    fields = {"CampaignId": {"value": campaign or rc.campaign}, "ContactId": {"from": PERSON_CONTACT},
              "LeadId": {"from": PERSON_LEAD}}
    if rc.member_status:
        fields["Status"] = {"value": rc.member_status, "create_only": True}
    return {"title": TITLE, "enabled": rc.enabled,
            "from": {"xero": "Contacts", "filter": f"{OVERDUE} >= {amount:g}" if amount > 0 else f"{OVERDUE} > 0"},
            "to": {"salesforce": "CampaignMember"},
            "match": ["link", {"ContactId": PERSON_CONTACT}, {"LeadId": PERSON_LEAD}],
            # A member who paid leaves the filter: its removal is the delete policy's (none under ignore).
            "fields": fields, "filtered_out": "keep" if rc.deletes == "ignore" else "delete", "deletes": rc.deletes}


def r6_declaration(rc, campaign: str) -> DeclaredRecipe:
    return DeclaredRecipe.model_validate(r6_as_declared(rc, campaign))


def _braced(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def r6_wording(rc, campaign_name: str) -> Wording:
    """R6's words: its code, one rule for every field an add sets and one for a removal, its reasons
    (placeholders `scope`, what the Xero Contacts owe, and `who`, the Contact or Lead), and none of the
    engine's marks (its rows go through R6's own push: a create is looked up by its fields)."""
    name = _braced(campaign_name)
    add = (f"{R6}: owes ≥ {rc.min_overdue_amount:g} overdue by ≥ {rc.min_days_overdue} days → member of "
           f"Campaign '{campaign_name}'")
    return Wording(code=R6, rules={f: add for f in ("CampaignId", "ContactId", "LeadId", "Status")}, marks=False,
                   delete_rule=f"{R6}: no longer overdue (paid) → removed from Campaign '{campaign_name}'",
                   reasons={"create": f"{{scope}}: add {{who}} to Campaign '{name}'",
                            "skip": "in sync: {who} is a member ({scope})",
                            "held": "{scope}, but {why}",
                            "conflict": "{scope}, but ambiguous {rule} match: {why}",
                            "gone": "no longer overdue in Xero",
                            "delete": f"remove {{who}} from Campaign '{name}'",
                            "delete_held": "no longer overdue, but {why}"})
