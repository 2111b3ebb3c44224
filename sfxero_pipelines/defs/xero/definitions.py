"""Registers the Xero extract assets and the `xero` resource (credentials resolved at launch)."""

import dagster as dg

from .assets import xero_extract_assets
from .resources import xero_resource_from_env


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=xero_extract_assets, resources={"xero": xero_resource_from_env()})
