"""Registers the push assets and their held-records checks (resources come from their own folders)."""

import dagster as dg

from .assets import salesforce_push, xero_push
from .checks import push_checks


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[xero_push, salesforce_push], asset_checks=push_checks)
