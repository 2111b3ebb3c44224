"""Registers the data-quality asset checks (see `checks.py`); the `staging` resource comes from defs/staging."""

import dagster as dg

from .checks import build_checks


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(asset_checks=build_checks())
