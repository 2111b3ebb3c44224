"""Registers the Salesforce extract assets and the `salesforce` resource (credentials resolved at launch)."""

import dagster as dg

from .assets import salesforce_extract_assets
from .resources import salesforce_resource_from_env


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=salesforce_extract_assets, resources={"salesforce": salesforce_resource_from_env()})
