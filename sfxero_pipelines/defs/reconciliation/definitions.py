"""Registers the plan assets, the reconciliation report and the held-records overview (the `staging` resource is registered once, in defs/staging)."""

from __future__ import annotations

import dagster as dg

from .assets import declared_plan_assets, plan_assets, reconciliation_report
from .held import held_records_overview


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[*plan_assets, *declared_plan_assets, reconciliation_report, held_records_overview])
