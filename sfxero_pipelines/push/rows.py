"""What a push executes: the pushable rows of the latest stored plan of each recipe.

A plan row is pushable when its action is `create`, `update` or `delete` (`preflight` refuses a
plan whose such rows lack a target or a payload); `skip` rows with `"link": true` carry a link to record and no write.
A `held` row a delete policy holds for approval (`diff.approval`, reconcile/deletes.py) is pushed as the
`delete` it describes once that id is approved (`sfxero approve ROW_ID`), without waiting for a new plan. Each row gets an
idempotency key derived from what it would write (recipe, direction, ids, the changed fields with
their old and new values, and the payload): the same intended write has the same key in every plan
that contains it, so the ledger can tell a write already made from one still to make, and a value
changed A → B → A is a new write because its old value differs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd
import sqlalchemy as sa

from ..recipes import R1, R2, R3, R6, R7
from ..reconcile.plan import dumps
from ..staging.state import approvals
from ..staging.state.plans import load_latest, row_diff

WRITE_ACTIONS = ("create", "update", "delete")
#: Which system a direction writes to.
TARGET = {"sf_to_xero": "xero", "xero_to_sf": "salesforce"}
#: Recipes whose sf_to_xero rows create what later recipes' rows refer to: pushed first.
ORDER = {R1: 0}


@dataclass
class PushRow:
    plan_id: str
    row_no: int
    recipe: str
    direction: str
    action: str
    source_id: str | None
    target_id: str | None
    diff: dict = field(repr=False)
    tenant_id: str = ""  # the Xero organisation the plan row is for

    @property
    def target_system(self) -> str:
        return TARGET[self.direction]

    @property
    def target_object(self) -> str:
        return self.diff.get("target_object") or ""

    @property
    def payload(self) -> dict:
        return self.diff.get("payload") or {}

    @property
    def fields(self) -> dict:
        return self.diff.get("fields") or {}

    @property
    def written(self) -> dict:
        """Field → value this write sets, in the plan's field names (echo suppression reads it)."""
        return {name: change.get("new") for name, change in self.fields.items()}

    @cached_property
    def key(self) -> str:
        material = dumps([self.recipe, self.direction, self.action, self.source_id, self.target_id,
                          self.target_object, self.fields, self.payload])
        return "sfx-" + hashlib.sha256(material.encode()).hexdigest()[:40]

    @property
    def source_table(self) -> str:
        """Where a hold on this row is recorded so the next reconciliation plans it as `held` instead
        of writing it again: the source record's staged table (R6: `sf_campaign_member`, under the
        Xero Contact's id, so the hold stops the membership and not the Contact's other recipes; a
        declared recipe's row names its table)."""
        if table := self.diff.get("source_table"):
            return table
        if self.direction == "sf_to_xero":
            return {R1: "sf_account", R2: "sf_opportunity", R7: "sf_order"}.get(self.recipe, "sf_" + self.recipe.lower())
        return {R2: "xero_invoice", R3: "xero_invoice", R6: "sf_campaign_member"}.get(self.recipe, "xero_contact")


def load_rows(conn: sa.Connection, target_system: str | None, *, only_sources: set[str] | None = None,
              recipe: str | None = None, plan: pd.DataFrame | None = None) -> tuple[list[PushRow], list[PushRow]]:
    """(rows to write, skip rows whose link is still to record) for one target system (or all), in
    push order: R1 before the recipes whose creates refer to its Contacts, then plan order.
    `plan`: the latest plans already loaded (`load_latest`), to read them once."""
    plan = load_latest(conn, recipe) if plan is None else plan
    writes, links = [], []
    held_for_approval: list[PushRow] = []
    for r in plan.itertuples(index=False):
        if target_system is not None and TARGET.get(r.direction) != target_system:
            continue
        if only_sources is not None and r.source_id not in only_sources:
            continue
        diff = row_diff(r.diff)
        row = PushRow(plan_id=r.plan_id, row_no=int(r.row_no), recipe=r.recipe, direction=r.direction,
                      action=r.action, source_id=_id(r.source_id), target_id=_id(r.target_id), diff=diff,
                      tenant_id=getattr(r, "tenant_id", "") or "")
        if r.action in WRITE_ACTIONS:
            writes.append(row)
        elif r.action == "skip" and diff.get("link") and r.target_id:
            links.append(row)
        elif r.action == "held" and diff.get("approval"):
            held_for_approval.append(row)
    if held_for_approval:
        given = approvals.approved(conn, approvals.ROW, [r.diff["approval"] for r in held_for_approval])
        # Approved: written as the delete it describes, keyed like the `delete` row the next plan will list
        # (the `approved` id in its diff), so the ledger sees one write whichever plan pushes it.
        for row in held_for_approval:
            if row.diff["approval"] in given:
                diff = {k: v for k, v in row.diff.items() if k != "approval"}
                diff["approved"] = row.diff["approval"]
                writes.append(PushRow(plan_id=row.plan_id, row_no=row.row_no, recipe=row.recipe, direction=row.direction,
                                      action="delete", source_id=row.source_id, target_id=row.target_id, diff=diff))
    writes.sort(key=lambda w: (ORDER.get(w.recipe, 1), w.recipe, w.row_no))
    return writes, links


def unwritten(plan: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(recipe, source id) → why the plan writes nothing for that record (its row is a conflict or
    held): what a row depending on it must wait for."""
    rows = plan[plan.action.isin(["conflict", "held"])]
    return {(recipe, source): f"its {recipe} row is {action}: {reason}"
            for recipe, source, action, reason in zip(rows.recipe, rows.source_id, rows.action, rows.reason)}


def _id(value) -> str | None:
    """A plan id column as text; pandas reads a NULL there as NaN."""
    return value if isinstance(value, str) and value else None


def batch_key(rows: list[PushRow]) -> str:
    """Xero `Idempotency-Key` of one write request: the same rows → the same key, so a request
    retried after a lost response is answered from Xero's cache instead of creating twice."""
    h = hashlib.sha256("|".join(sorted(r.key for r in rows)).encode())
    return "sfx-batch-" + h.hexdigest()[:48]
