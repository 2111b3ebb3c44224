"""`held_records` checks on the push assets: every record a target rejected, visible in the UI.

WARN (never blocking): a held record is one record's problem; the rest of the sync goes on.
"""


import json

import dagster as dg

from ...push.holds import open_push_holds
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


push_checks = [_held_check("xero_push", "xero"), _held_check("salesforce_push", "salesforce")]
