"""Deletes and voids by policy (docs/architecture.md "Delete policies"): the one step every recipe's deletes
go through (`policy_rows`), and R2's gone pairs (Opportunity ↔ invoice), whose removal by status the
declared-recipe engine's own (reconcile/declared.py `xero_removals`, `salesforce_removals`) does not express.

For each pair linked in `sync_link` where one side is gone — a Salesforce record deleted (`IsDeleted`), a
Xero record archived, or an invoice DELETED/VOIDED — the recipe's `deletes` policy (config/deletes.py)
decides the plan row for the other side:
- `archive`: a `delete` row. Xero: the Contact gets `ContactStatus: ARCHIVED`; a DRAFT/SUBMITTED invoice
  `Status: DELETED`, an AUTHORISED one `Status: VOIDED` (Xero has no DELETE for them: a status write is
  how it removes). Salesforce: a delete (the record goes to the recycle bin).
- `hold_for_approval`: a `held` row whose diff carries the same write and an approval id (`row-…`, a hash
  of what it would do and the target's status, so an approval never covers a different change);
  `sfxero approve ROW_ID` (staging/state/approvals.py) lets the push write it, and the next plan
  lists it as an approved `delete` row, which the mass-change guard does not count again.
- `ignore`: nothing.
An AUTHORISED invoice or a Contact with a balance is "posted": `archive` becomes the policy's `posted`
value (hold_for_approval by default). An invoice with payments cannot be voided in Xero at all: it is held
with that reason whatever the policy (but `ignore`). Only reads; rows are few (deleted pairs only).

`gone_pairs` is what R2's pass gives the engine as its removals (declared.XeroPass.removals); the engine
plans them, with the records its own policies find gone, in one `policy_rows`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from ..config import SfxeroConfig
from ..recipes import R2, R7
from ..staging.state import approvals
from ..staging.state.links import link_join_sql
from ..staging.state.plans import has_plans_table, load_latest, row_diff
from . import load, plan

#: The recipes whose gone pairs this module finds: the staged Salesforce table and object each invoices.
LINKED = {R2: ("sf_opportunity", "Opportunity"), R7: ("sf_order", "Order")}
#: Invoice statuses that mean it is gone.
GONE = ("DELETED", "VOIDED")
APPROVAL_PREFIX = "row-"


def approval_id(recipe: str, direction: str, source_id: str, target_id: str, op: str, target_status: str) -> str:
    """A held delete's approval id: the same intended change on a target in the same state has the same id
    in every plan, and anything else (another target, the invoice paid since) has another."""
    material = "|".join([recipe, direction, source_id, target_id, op, target_status or ""])
    return APPROVAL_PREFIX + hashlib.sha256(material.encode()).hexdigest()[:16]


def _text(value) -> str:
    """A staged text value; NULL (None, or NaN from a frame) is ''."""
    return value if isinstance(value, str) else ""


def money(value) -> float:
    """A staged amount as a float; empty or unreadable is 0."""
    try:
        return float(value) if value not in (None, "") else 0.0
    except (TypeError, ValueError):
        return 0.0


def _pairs(conn: sa.Connection, recipe: str, where: str) -> pd.DataFrame:
    """`recipe`'s linked pairs (sf_id, xero_id, the invoice's status, number and amount paid) meeting `where`."""
    sf_table = LINKED[recipe][0]
    cols = ["sf_id", "xero_id", "status", "invoice_number", "amount_paid"]
    if not (load.has_table(conn, sf_table) and load.has_table(conn, "xero_invoice")
            and load.has_table(conn, "sync_link")):
        return pd.DataFrame({c: pd.Series([], dtype="object") for c in cols})
    have = load.table_columns(conn, "xero_invoice")
    sel = ["s.id", "l.xero_id", *[f"x.{c}" if c in have else "NULL" for c in cols[2:]]]
    return load.frame(conn, f"SELECT {', '.join(sel)} FROM {sf_table} s{link_join_sql('l', recipe, 's.id')} "
                            f"JOIN xero_invoice x ON x.id = l.xero_id WHERE {where} ORDER BY s.id", cols)


def _invoice_side(sobject: str, sf_deleted: pd.DataFrame) -> list[dict]:
    """Writes to invoices whose Opportunity (Order) was deleted: a DRAFT/SUBMITTED one deleted, another
    voided (held, whatever the policy, when it has payments)."""
    out = []
    for r in sf_deleted.itertuples(index=False):
        status = _text(r.status)
        paid = status == "PAID" or money(r.amount_paid) > 0
        op, new = ("delete", "DELETED") if status in ("DRAFT", "SUBMITTED") else ("void", "VOIDED")
        number = _text(r.invoice_number) or r.xero_id
        why = (f"Xero invoice {number} of the deleted {sobject} has payments, so Xero cannot void it: remove "
               "its payments in Xero first")
        out.append({"source": r.sf_id, "target": r.xero_id, "op": op, "status": status,
                    "posted": status in ("AUTHORISED", "PAID"), "target_object": "Invoice",
                    "payload": {"InvoiceID": r.xero_id, "Status": new},
                    "fields": {"Status": {"old": status, "new": new}},
                    "what": f"{op} {status} Xero invoice {number}",
                    "blocked": why if paid else None})
    return out


def _source_side(sobject: str, xero_gone: pd.DataFrame) -> list[dict]:
    """Deletes of the Salesforce records (Opportunities) whose invoice was deleted or voided."""
    out = []
    for r in xero_gone.itertuples(index=False):
        status, label = _text(r.status), _text(r.invoice_number)
        out.append({"source": r.xero_id, "target": r.sf_id, "op": "delete", "status": status, "posted": False,
                    "target_object": sobject, "payload": {sobject: {"Id": r.sf_id}}, "fields": {},
                    "what": f"delete Salesforce {sobject} {r.sf_id} ({status} Xero Invoice {label or r.xero_id})",
                    "blocked": None})
    return out


def deleted_linked(conn: sa.Connection, recipe: str, table: str) -> list[str]:
    """Ids of the records of staged `table` deleted in Salesforce that `recipe` links to a Xero record, in
    id order: a pass reading only live records reads these apart for its delete policy."""
    if not (load.has_table(conn, table) and load.has_table(conn, "sync_link")):
        return []
    return load.frame(conn, f"SELECT s.id FROM {table} s{link_join_sql('l', recipe, 's.id')} "
                            f"WHERE l.xero_id IS NOT NULL AND {load.bool_true(conn, 's.is_deleted')} ORDER BY s.id",
                      ["id"]).id.tolist()


def gone_pairs(conn: sa.Connection, cfg: SfxeroConfig, recipe: str) -> list[Gone]:
    """The linked pairs of `recipe` (R2 or R7) whose one side is gone, with what its `deletes` chose for
    the other: its pass's removals, which the engine plans (declared.XeroPass.removals)."""
    rc = getattr(cfg.recipes, recipe)
    if not rc.enabled:
        return []
    policies, sobject = rc.deletes, LINKED[recipe][1]
    gone_sql = ", ".join(f"'{s}'" for s in GONE)
    candidates: list[tuple[str, str, dict]] = []
    if policies.policy(recipe, "salesforce", posted=False) != "ignore":
        deleted = _pairs(conn, recipe, f"s.is_deleted AND coalesce(x.status, '') NOT IN ({gone_sql})")
        candidates += [("sf_to_xero", "salesforce", c) for c in _invoice_side(sobject, deleted)]
    if policies.policy(recipe, "xero", posted=False) != "ignore":
        voided = _pairs(conn, recipe, f"NOT s.is_deleted AND x.status IN ({gone_sql})")
        candidates += [("xero_to_sf", "xero", c) for c in _source_side(sobject, voided)]
    decided = []
    for direction, side, c in candidates:
        chosen = policies.policy(recipe, side, posted=c["posted"])
        gone = f"{sobject} deleted in Salesforce" if side == "salesforce" else f"{c['status']} in Xero"
        diff = {"target_object": c["target_object"], "payload": c["payload"], "fields": c["fields"]}
        decided.append(Gone(direction, c["source"], c["target"], c["op"], c["status"], c["posted"], chosen,
                            c["what"], gone, diff, c["blocked"]))
    return decided


@dataclass(frozen=True)
class Gone:
    """A linked pair whose one side is gone, and what its recipe's policy chose to do to the other."""
    direction: str
    source: str                  # the gone record
    target: str                  # the record the write would archive, delete or void
    op: str                      # archive | delete | void
    status: str                  # the target's status now (part of the approval id)
    posted: bool                 # an accounting record: AUTHORISED/PAID, or a Contact with a balance
    policy: str                  # archive | hold_for_approval (never ignore: nothing is planned for it)
    what: str                    # the write, in words: "archive Xero Contact Acme (balance 10.00)"
    gone: str                    # why: "Account deleted in Salesforce", "VOIDED in Xero"
    diff: dict                   # target_object, payload, fields (and the planner's own keys)
    blocked: str | None = None   # why no policy can do it (an invoice with payments)


def policy_rows(conn: sa.Connection, recipe: str, decided: list[Gone]) -> pd.DataFrame:
    """The plan rows of gone pairs, for the built-ins and declared recipes alike: `archive` (or an
    approval given) → a `delete` row; `hold_for_approval` → a `held` row naming its approval id;
    `blocked` → held with that reason."""
    if not decided:
        return plan.empty()
    ids = [approval_id(recipe, g.direction, g.source, g.target, g.op, g.status) for g in decided]
    given = approvals.approved(conn, approvals.ROW, ids)
    parts = []
    for g, row_id in zip(decided, ids):
        diff = {**g.diff, "delete": {"op": g.op, "policy": g.policy, "target_status": g.status, "posted": g.posted}}
        if g.blocked:
            action, reason = "held", g.blocked
        elif g.policy == "archive" or row_id in given:
            # Not a hold: what the delete row does and why.
            action, reason = "delete", f"{g.gone}: {g.what} (recipes.{recipe}.deletes: {g.policy})"
            if g.policy != "archive":
                diff["approved"] = row_id
        else:
            action, diff["approval"] = "held", row_id
            reason = f"waits for approval to {g.what}: run `sfxero approve {row_id}`"
        parts.append(plan.rows(recipe, g.direction, action, [g.source], [g.target], [diff], reason))
    return plan.concat(parts)


def waiting_rows(plan_rows: pd.DataFrame) -> dict[str, dict]:
    """approval id → {recipe, direction, source_id, target_id, reason} of the plan's rows a delete policy
    holds for approval (what `sfxero approve ROW_ID` accepts and `sfxero plan` lists)."""
    out: dict[str, dict] = {}
    if not len(plan_rows):
        return out
    # R1/R2's policies and declared recipes' (reconcile/declared_sf.py) hold deletes for approval: a
    # held row waits for one when its diff names an approval id (the diff is a dict on PostgreSQL's
    # JSON column, a string on SQLite: row_diff reads both).
    held = plan_rows[plan_rows.action == "held"]
    for r in held.itertuples(index=False):
        row_id = row_diff(r.diff).get("approval")
        if row_id:
            out[row_id] = {"recipe": r.recipe, "direction": r.direction, "source_id": r.source_id,
                           "target_id": r.target_id, "reason": r.reason}
    return out


def stored_waiting(conn: sa.Connection) -> dict[str, dict]:
    """`waiting_rows` of the latest stored plans that nobody approved yet (what `sfxero status` lists)."""
    if not has_plans_table(conn):
        return {}
    held = waiting_rows(load_latest(conn))
    given = approvals.approved(conn, approvals.ROW, list(held))
    return {i: w for i, w in held.items() if i not in given}


def waiting_what(row: dict) -> str:
    """A waiting row as '<recipe> <what it would do>' (its reason without the approval command)."""
    return f"{row['recipe']} " + row["reason"].split(": run `", 1)[0].removeprefix("waits for approval to ")
