"""Checks of the push stage.

- `ready_to_push` (blocking) on each plan asset: the stored plan is fit to be written
  (`push.preflight`). The push jobs run these first; a failure stops the push before any call.
- `held_records` (WARN, never blocking) on the push assets: every record a target rejected, visible
  in the UI. A held record is one record's problem; the rest of the sync goes on.
"""


import json

import dagster as dg

from ...staging.state.holds import open_push_holds
from ...push.preflight import plan_problems
from ...push.rows import load_rows
from ...reconcile.build import FAMILIES
from ..reconciliation.assets import plan_key
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
    @dg.asset_check(asset=plan_key(recipe), name="ready_to_push", blocking=True,
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


PLAN_RECIPES = [r for family in FAMILIES.values() for r in family]
ready_checks = [_ready_check(r) for r in PLAN_RECIPES]
push_checks = [_held_check("xero_push", "xero"), _held_check("salesforce_push", "salesforce"), *ready_checks]
