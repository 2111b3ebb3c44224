"""A recipe's delete policy: what happens to the linked record when the source record is deleted
(docs/architecture.md "Delete policies").

`recipes.R1.deletes` / `recipes.R2.deletes` / `recipes.R7.deletes` in sfxero.yaml; either one policy for both directions
(`deletes: archive`) or per side:

    deletes:
      salesforce: archive           # the Salesforce record is deleted (IsDeleted) → its Xero record
      xero: ignore                  # the Xero record is DELETED/VOIDED/ARCHIVED → its Salesforce record
      posted: hold_for_approval     # AUTHORISED/PAID invoices, Contacts with a balance (either direction)

Policies: `archive` plans the write (Xero: archive the Contact, delete a DRAFT/SUBMITTED invoice, void an
AUTHORISED one; Salesforce: delete the record, which goes to its recycle bin); `hold_for_approval` plans
it as a held row that the push skips until `sfxero approve ROW_ID` (or a launch with run config
`approve: [ROW_ID]`); `ignore` plans nothing. `posted` overrides `archive` for accounting records that
are AUTHORISED or PAID, so voiding one needs a person unless set to `archive`. A declared recipe's
`deletes:` is this model too (config/declared.py), one word there being its source's side alone.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from ..recipes import R1, R2, R7
from .base import StrictModel

DeletePolicy = Literal["archive", "hold_for_approval", "ignore"]
DELETE_POLICIES: tuple[str, ...] = ("archive", "hold_for_approval", "ignore")
#: Unset sides: R1 leaves Xero Contacts and Accounts alone (as before delete policies existed); a
#: deleted Opportunity's (Order's) invoice waits for a person.
RECIPE_DEFAULTS: dict[str, dict[str, str]] = {R1: {"salesforce": "ignore", "xero": "ignore"},
                                              R2: {"salesforce": "hold_for_approval", "xero": "ignore"},
                                              R7: {"salesforce": "hold_for_approval", "xero": "ignore"}}


class DeletePolicies(StrictModel):
    #: The Salesforce source record was deleted: what to do to the linked Xero record. Unset: the
    #: recipe's default (`RECIPE_DEFAULTS`).
    salesforce: DeletePolicy | None = None
    #: The Xero record was deleted, voided or archived: what to do to the linked Salesforce record.
    xero: DeletePolicy | None = None
    #: For AUTHORISED/PAID accounting records (voiding an invoice, archiving a Contact with a balance):
    #: replaces `archive` so such a change waits for a person unless this says `archive` too.
    posted: Literal["archive", "hold_for_approval"] = "hold_for_approval"

    @model_validator(mode="before")
    @classmethod
    def _one_for_both(cls, value):
        # `deletes: archive` is the same policy for both sides.
        if isinstance(value, str):
            return {"salesforce": value, "xero": value}
        return value

    def policy(self, recipe: str, deleted_in: str, *, posted: bool) -> str:
        """The policy of `recipe` for a record deleted in `deleted_in` ("salesforce" | "xero") whose linked
        target is (`posted`) or is not an AUTHORISED/PAID accounting record."""
        chosen = getattr(self, deleted_in) or RECIPE_DEFAULTS.get(recipe, {}).get(deleted_in, "ignore")
        return self.posted if posted and chosen == "archive" else chosen

    def effective(self, recipe: str) -> dict[str, str]:
        """Both sides and `posted` with `recipe`'s defaults filled in: what `sfxero recipes show` prints and a
        built-in's declaration carries."""
        return {side: self.policy(recipe, side, posted=False) for side in ("salesforce", "xero")} | {"posted": self.posted}
