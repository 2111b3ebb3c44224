"""The mass-change guard: a plan that would change too much at once waits for a person (architecture.md §6).

Per stored plan (one per recipe), three rules from `push:` (config/push.py):
- **change share**: updates of mapped fields to records already linked, over the target's linked
  records in the plan, above `max_change_share`. Linked = matched through `sync_link` (`match` is
  `link`): a first sync, which creates and makes new links, is not a mass change. Counted: R1
  (Salesforce → Xero Contact fields of `mapping.contact_fields`), R5 (the same mapping back to the
  Account), R2/R7 (invoice amount and currency); not the figures Xero owns flowing back (R3, R4) nor
  the id write-back (R1 → Account). R5's denominator is R1's linked pairs (the same pairs).
- **deletes**: `delete` rows, and updates that void, delete or archive, above `max_deletes`. A delete
  approved row by row (`sfxero approve ROW_ID`: a delete policy's `hold_for_approval`) is not counted:
  a person already approved it; a delete policy's `archive` rows are counted like any delete.
- **amount shift**: per currency, how far the plan's invoice updates move the total invoiced in
  Xero (ACCREC, not deleted or voided), above `max_amount_shift`: a share of that total when the
  setting is <= 1, an amount in that currency when it is > 1. A currency with nothing invoiced yet
  has no share to exceed (only an absolute limit applies to it).
The share and amount rules skip plans changing fewer than `guard_min_records` records (small
datasets, the default sandbox); deletes are always counted.

`assess` is pure: it takes the plans and the invoiced totals and returns a `Verdict` per plan; the
blocking check (`defs/push/checks.py`), `sfxero plan` and `sfxero status` show the same verdicts.
`guard_inputs` reads what `assess` needs from staging.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from ..config import MappingConfig, PushConfig, SfxeroConfig
from ..recipes import R1, R2, R5, R7
from ..reconcile.report import xero_invoiced
from ..staging.state import approvals
from ..staging.state.plans import has_plans_table, load_latest, row_diff

#: recipe → (direction whose updates count, the recipe whose linked rows are the denominator).
COUNTED = {R1: ("sf_to_xero", R1), R5: ("xero_to_sf", R1), R2: ("sf_to_xero", R2),
           R7: ("sf_to_xero", R7)}
INVOICE_RECIPES = (R2, R7)
AMOUNT_FIELDS = ("SubTotal", "Total")
#: Values of a written status that remove the record for its users.
REMOVING = {"Status": {"VOIDED", "DELETED"}, "ContactStatus": {"ARCHIVED"}}
_LINKED_ACTIONS = ("update", "skip", "conflict", "held", "delete")


@dataclass
class Verdict:
    recipe: str
    plan_id: str
    breaches: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)

    @property
    def blocked(self) -> bool:
        return bool(self.breaches)

    def line(self) -> str:
        """One line: what the plan would do beyond the limits, or that it is within them."""
        if not self.breaches:
            return f"{self.plan_id}: within the mass-change limits"
        return f"{self.plan_id} waits for approval: " + "; ".join(self.breaches)


@dataclass(frozen=True)
class GuardInputs:
    #: Field names the configuration maps (Xero side for R1, Salesforce side for R5).
    mapped: frozenset[str]
    #: currency → total invoiced in Xero now.
    invoiced: dict[str, float]
    #: invoice id → its currency (for updates that do not change it).
    invoice_currency: dict[str, str]


def _is_linked(diff: dict) -> bool:
    # Rows with no diff at all are pairs settled through their link (reconcile writes no detail for them).
    return not diff or diff.get("match") == "link"


def _counted(recipe: str, rows: list[tuple]) -> tuple[str, str]:
    """(direction whose updates count, recipe whose linked rows are the denominator); a declared
    recipe counts its own direction (into Xero, or into Salesforce)."""
    if recipe in COUNTED:
        return COUNTED[recipe]
    return next((d for d, _, _, diff in rows if diff.get("engine") == "declared"), "sf_to_xero"), recipe


def _money(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def mapped_fields(mapping: MappingConfig) -> frozenset[str]:
    """The field names a contact mapping writes: Xero's (R1) and Salesforce's (R5, `Contact.` stripped)."""
    names = set()
    for f in mapping.contact_fields:
        names.add(f.xero)
        names.add(f.sf.split(".", 1)[1] if f.sf.startswith("Contact.") else f.sf)
    return frozenset(names)


def _removes(diff: dict) -> bool:
    payload = diff.get("payload") or {}
    records = [payload, *[v for v in payload.values() if isinstance(v, dict)]]
    return any(str(rec.get(k) or "").upper() in values for rec in records for k, values in REMOVING.items())


def assess(plan: pd.DataFrame, cfg: PushConfig, inputs: GuardInputs) -> dict[str, Verdict]:
    """recipe → its verdict, for every recipe with a plan in `plan` (the latest stored plans)."""
    verdicts: dict[str, Verdict] = {}
    linked: dict[str, int] = {}
    parsed: dict[str, list[tuple]] = {}
    plan_ids: dict[str, str] = {}
    for recipe, part in plan.groupby("recipe", sort=True):
        rows = [(r.direction, r.action, r.target_id, row_diff(r.diff)) for r in part.itertuples(index=False)]
        parsed[recipe], plan_ids[recipe] = rows, str(part.plan_id.iloc[0])
        direction = _counted(recipe, rows)[0]
        linked[recipe] = sum(1 for d, a, t, diff in rows if d == direction and a in _LINKED_ACTIONS
                             and isinstance(t, str) and t and _is_linked(diff))
    for recipe, rows in parsed.items():
        v = Verdict(recipe=recipe, plan_id=plan_ids[recipe])
        # A delete a person approved row by row (`diff.approved`, reconcile/deletes.py) is not counted again;
        # rows held for approval are `held`, not writes, until then.
        deletes = sum(1 for _, a, _, diff in rows if (a == "delete" and not diff.get("approved"))
                      or (a == "update" and _removes(diff)))
        v.figures.update(deletes=deletes, max_deletes=cfg.max_deletes)
        if deletes > cfg.max_deletes:
            v.breaches.append(f"{deletes} delete(s)/void(s)/archive(s), more than push.max_deletes {cfg.max_deletes}")
        # A declared recipe's updates all count: every field it writes is one its declaration maps.
        declared = any(diff.get("engine") == "declared" for _, _, _, diff in rows)
        if recipe in COUNTED or declared:
            direction, base_recipe = _counted(recipe, rows)
            changed = [diff for d, a, _, diff in rows if d == direction and a == "update" and _is_linked(diff)
                       and (recipe in INVOICE_RECIPES or declared or set(diff.get("fields") or {}) & inputs.mapped)]
            base = max(linked.get(base_recipe, 0), linked.get(recipe, 0))
            share = len(changed) / base if base else 0.0
            v.figures.update(updates=len(changed), linked=base, change_share=round(share, 4),
                             max_change_share=cfg.max_change_share, min_records=cfg.guard_min_records)
            if len(changed) >= cfg.guard_min_records and base and share > cfg.max_change_share:
                v.breaches.append(f"updates {len(changed)} of {base} linked records ({share:.0%}), more than "
                                  f"push.max_change_share {cfg.max_change_share:.0%}")
            if recipe in INVOICE_RECIPES:
                _amount_rule(v, rows, cfg, inputs, len(changed))
        verdicts[recipe] = v
    return verdicts


def _amount_rule(v: Verdict, rows: list[tuple], cfg: PushConfig, inputs: GuardInputs, changed: int) -> None:
    shift: dict[str, float] = {}
    for d, a, target, diff in rows:
        if d != "sf_to_xero" or a != "update" or not _is_linked(diff):
            continue
        fields = diff.get("fields") or {}
        amount = next((fields[k] for k in AMOUNT_FIELDS if k in fields), None)
        cur = fields.get("CurrencyCode") or {}
        old_cur = cur.get("old") or inputs.invoice_currency.get(target) or "?"
        new_cur = cur.get("new") or old_cur
        old_amt = _money(amount.get("old")) if amount else None
        new_amt = _money(amount.get("new")) if amount else None
        if amount is None:
            # Only the currency changes: the whole amount leaves one total and joins another.
            old_amt = new_amt = None
        if old_cur == new_cur:
            shift[old_cur] = shift.get(old_cur, 0.0) + (new_amt or 0.0) - (old_amt or 0.0)
        else:
            shift[old_cur] = shift.get(old_cur, 0.0) - (old_amt or 0.0)
            shift[new_cur] = shift.get(new_cur, 0.0) + (new_amt or 0.0)
    absolute = cfg.max_amount_shift > 1
    per_currency = {}
    for currency, moved in sorted(shift.items()):
        base = inputs.invoiced.get(currency, 0.0)
        share = abs(moved) / base if base else None
        per_currency[currency] = {"invoiced": round(base, 2), "shift": round(moved, 2),
                                  "share": None if share is None else round(share, 4)}
        if changed < cfg.guard_min_records:
            continue
        if absolute and abs(moved) > cfg.max_amount_shift:
            v.breaches.append(f"moves the total invoiced in {currency} by {moved:+,.2f}, more than "
                              f"push.max_amount_shift {cfg.max_amount_shift:,.2f}")
        elif not absolute and share is not None and share > cfg.max_amount_shift:
            v.breaches.append(f"moves the total invoiced in {currency} by {moved:+,.2f} of {base:,.2f} ({share:.0%}), "
                              f"more than push.max_amount_shift {cfg.max_amount_shift:.0%}")
    v.figures.update(amount_shift=per_currency, max_amount_shift=cfg.max_amount_shift)


def guard_inputs(conn: sa.Connection, plan: pd.DataFrame, mapping: MappingConfig) -> GuardInputs:
    """What `assess` needs beyond the plans: the invoiced totals and the currency of updated invoices."""
    invoiced = xero_invoiced(conn)
    currency: dict[str, str] = {}
    if invoiced:
        ids = sorted({t for r, a, t in zip(plan.recipe, plan.action, plan.target_id)
                      if r in INVOICE_RECIPES and a == "update" and isinstance(t, str) and t})
        for i in range(0, len(ids), 500):
            rows = conn.execute(sa.text("SELECT id, currency_code FROM xero_invoice WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)), {"ids": ids[i:i + 500]}).fetchall()
            currency.update({k: c or "?" for k, c in rows})
    return GuardInputs(mapped=mapped_fields(mapping), invoiced=invoiced, invoice_currency=currency)


def latest_verdicts(conn: sa.Connection, cfg: SfxeroConfig) -> dict[str, Verdict]:
    """The verdict on each recipe's latest stored plan."""
    if not has_plans_table(conn):
        return {}
    plan = load_latest(conn)
    return assess(plan, cfg.push, guard_inputs(conn, plan, cfg.mapping)) if len(plan) else {}


def waiting_for_approval(conn: sa.Connection, cfg: SfxeroConfig) -> list[Verdict]:
    """Latest stored plans the guard holds and nobody approved yet, by recipe."""
    held = [v for v in latest_verdicts(conn, cfg).values() if v.blocked]
    given = approvals.approved(conn, approvals.PLAN, [v.plan_id for v in held])
    return [v for v in held if v.plan_id not in given]
