"""Registers the plan assets and the reconciliation report (the `staging` resource is registered once, in defs/staging)."""

from __future__ import annotations

import dagster as dg

from .assets import plan_assets, reconciliation_report


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[*plan_assets, reconciliation_report])
