"""Checks of the push stage.

- `ready_to_push` (blocking) on each plan asset: the stored plan is fit to be written
  (`push.preflight`). The push jobs run these first; a failure stops the push before any call.
- `mass_change` (blocking) on each plan asset: the plan stays within the mass-change limits
  (`push.guard`), or a person approved it (`sfxero approve PLAN_ID`, or this check's run config
  `approve: [PLAN_ID]` in a launch from the UI, which records the approval too).
- `held_records` (WARN, never blocking) on the push assets: every record a target rejected, visible
  in the UI. A held record is one record's problem; the rest of the sync goes on.
"""


import json

import dagster as dg
import pandas as pd

from ...config import load_config
from ...push.guard import COUNTED, assess, guard_inputs
from ...reconcile.deletes import waiting_rows
from ...staging.state import approvals
from ...staging.state.holds import open_push_holds
from ...staging.state.plans import load_latest
from ...push.preflight import plan_problems
from ...push.rows import load_rows
from ...reconcile.build import FAMILIES
from ..reconciliation.assets import DECLARED, plan_key
from ..blocking_check import blocking_check
from ..staging.resources import StagingDatabase

_SAMPLE = 50


def _held_check(asset: str, target_system: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, name="held_records", blocking=False,
                    description=f"Records {target_system.title()} rejected, held with its message until `sfxero replay`.")
    def _check(staging: StagingDatabase) -> dg.AssetCheckResult:
        with staging.engine.connect() as conn:
            held = [h for h in open_push_holds(conn) if _target(h) == target_system]
        rows = [{"table": h["table_name"], "record_id": h["record_id"], "reason": h["reason"],
                 "held_at": str(h["held_at"])} for h in held]
        return dg.AssetCheckResult(
            passed=not held, severity=dg.AssetCheckSeverity.WARN,
            description=(f"{len(held)} record(s) held: replay after fixing them" if held else "nothing held"),
            metadata={"held": len(held), "held_records": dg.MetadataValue.json(rows[:_SAMPLE])})

    return _check


def _target(hold: dict) -> str | None:
    detail = hold.get("detail")
    if isinstance(detail, str):
        detail = json.loads(detail)
    return (detail or {}).get("target_system")


def _ready_check(recipe: str) -> dg.AssetChecksDefinition:
    @blocking_check(asset=plan_key(recipe), name="ready_to_push",
                    description=f"{recipe}'s stored plan can be written as it is: every write names its target and "
                                "payload, no record is written twice. Runs first in the push jobs.")
    def _check(staging: StagingDatabase) -> dg.AssetCheckResult:
        with staging.engine.connect() as conn:
            rows, _ = load_rows(conn, None, recipe=recipe)
        problems = plan_problems(rows)
        return dg.AssetCheckResult(
            passed=not problems, severity=dg.AssetCheckSeverity.ERROR,
            description=f"{len(problems)} problem(s): the push is stopped" if problems else f"{len(rows)} write(s) ready",
            metadata={"rows_to_write": len(rows), "problems": dg.MetadataValue.json(problems[:_SAMPLE])})

    return _check


class MassChangeConfig(dg.Config):
    #: Plan ids this launch approves past the mass-change guard, and row ids (`row-…`) of deletes a delete
    #: policy holds for approval (recorded as `sfxero approve` would).
    approve: list[str] = []


def _mass_change_check(recipe: str) -> dg.AssetChecksDefinition:
    @blocking_check(asset=plan_key(recipe), name="mass_change",
                    description=f"{recipe}'s stored plan stays within push.max_change_share, push.max_deletes and "
                                "push.max_amount_shift, or was approved (`sfxero approve PLAN_ID`, or run config "
                                "`approve: [PLAN_ID]`). Runs first in the push jobs.")
    def _check(context: dg.AssetCheckExecutionContext, config: MassChangeConfig,
               staging: StagingDatabase) -> dg.AssetCheckResult:
        cfg = load_config()
        with staging.engine.connect() as conn:
            base = COUNTED.get(recipe, ("", recipe))[1]
            plan = load_latest(conn, recipe)
            if base != recipe and len(plan):
                # R5's share is of R1's linked pairs: its own plan lists only the pairs it updates.
                plan = pd.concat([plan, load_latest(conn, base)], ignore_index=True)
            verdict = assess(plan, cfg.push, guard_inputs(conn, plan, cfg.mapping)).get(recipe)
        held = waiting_rows(plan[plan.recipe == recipe]) if len(plan) else {}
        rows = [i for i in config.approve if i in held]
        if rows:
            # Recorded before the push steps of this run read the approvals, so they write these rows.
            with staging.begin() as conn:
                approvals.approve(conn, approvals.ROW, rows, by=f"dagster run {context.run.run_id}",
                                  detail={i: held[i] for i in rows})
        if verdict is None:
            return dg.AssetCheckResult(passed=True, description=f"no stored {recipe} plan")
        meta = {"plan_id": verdict.plan_id, "figures": dg.MetadataValue.json(verdict.figures),
                "breaches": dg.MetadataValue.json(verdict.breaches)}
        if not verdict.blocked:
            return dg.AssetCheckResult(passed=True, description=verdict.line(), metadata=meta)
        with staging.begin() as conn:
            if verdict.plan_id in config.approve:
                approvals.approve(conn, approvals.PLAN, [verdict.plan_id], by=f"dagster run {context.run.run_id}",
                                  detail={"breaches": verdict.breaches, "figures": verdict.figures})
            given = approvals.approval_of(conn, approvals.PLAN, verdict.plan_id)
        if given:
            return dg.AssetCheckResult(passed=True, metadata={**meta, "approved_by": given["approved_by"]},
                                       description=f"{verdict.plan_id} approved by {given['approved_by']}: "
                                                   + "; ".join(verdict.breaches))
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.ERROR, metadata=meta,
            description=f"{verdict.line()}; run `sfxero approve {verdict.plan_id}`")

    return _check


PLAN_RECIPES = [*(r for family in FAMILIES.values() for r in family), *DECLARED]
ready_checks = [_ready_check(r) for r in PLAN_RECIPES]
mass_change_checks = [_mass_change_check(r) for r in PLAN_RECIPES]
push_checks = [_held_check("xero_push", "xero"), _held_check("salesforce_push", "salesforce"), *ready_checks,
               *mass_change_checks]
