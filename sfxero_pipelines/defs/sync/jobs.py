"""Jobs for each stage of the cycle, so the CLI, schedules and sensors run the same selections.

Partitioned extracts (daily windows) and whole-table reference extracts are separate jobs: a job's
assets must share one partitioning.
"""

from __future__ import annotations

import dagster as dg

from ..extract_metadata import EXTRACT_KIND_TAG
from ..reconciliation.assets import writes_tag
from .tags import TARGET_TAG, tenant_tags

# Extract jobs stage only; the staged tables' checks run once, in check_job (selecting the assets
# alone would bring their checks along and run every suite twice per cycle).
# By tag, not by asset name: `extract.xero.objects` may leave any of them out.
# Journals (read by offset, unpartitioned) run with the reference data.
UNPARTITIONED = dg.AssetSelection.tag(EXTRACT_KIND_TAG, "reference") | dg.AssetSelection.tag(EXTRACT_KIND_TAG, "offset")
REFERENCE_EXTRACT = UNPARTITIONED.without_checks()
PARTITIONED_EXTRACT = (dg.AssetSelection.groups("salesforce_extract", "xero_extract") - UNPARTITIONED).without_checks()

extract_job = dg.define_asset_job(
    "extract_job", tags=tenant_tags("extract_job"), selection=PARTITIONED_EXTRACT,
    description="Stage Salesforce and Xero objects for one daily window (today's = incremental since the cursor).",
)
reference_extract_job = dg.define_asset_job(
    "reference_extract_job", tags=tenant_tags("reference_extract_job"), selection=REFERENCE_EXTRACT,
    description="Stage Xero reference data (items, accounts, tax rates, currencies, bank transfers, contact groups, "
                "tracking categories) in full, and the journals after the last one staged.",
)

STAGED = dg.AssetSelection.groups("salesforce_extract", "xero_extract")
# Checks of the staged tables only (no extract): they read the tables as they are. Blocking checks
# that fail with ERROR fail this run, so `sync --stage all` stops before reconcile and push.
check_job = dg.define_asset_job(
    "check_job", tags=tenant_tags("check_job"), selection=STAGED - STAGED.without_checks(),
    description="Data-quality checks on every staged table: hold bad records, block a table that fails a table-level rule.",
)

# The plans' push checks stop pushes, not planning: a plan the mass-change guard holds is stored and
# shown (`sfxero plan`, `sfxero status`), and the push jobs run both checks (`mass_change`,
# `ready_to_push`) before writing it. reconcile_job runs none of them: here `ready_to_push` only
# foretold the push jobs' own verdict on the same stored plans, at 7 steps per reconcile run.
PLANS = dg.AssetSelection.groups("reconciliation")
reconcile_job = dg.define_asset_job(
    "reconcile_job", tags=tenant_tags("reconcile_job"),
    selection=PLANS.without_checks(),
    description="Compare staged Salesforce and Xero data: store the sync plan per recipe and the reconciliation report.",
)


def push_checks(system: str) -> dg.AssetSelection:
    """The blocking checks of the plans whose rows go to `system` (not the plans): built-in recipes by
    `recipes.WRITES_TO`, declared ones by their target, and their source too when two-way. A plan held by
    the guard stops the push into its own target only: a mass change of balances flowing back to
    Salesforce (R4) does not hold the invoices going to Xero, as one held record does not hold the others.
    By tag, resolved against the definitions loaded: declared recipes come and go with sfxero.yaml."""
    plans = dg.AssetSelection.tag(writes_tag(system), "true")
    return plans - plans.without_checks()


# One job per target system: the `sfxero/target` and tenant tags (tags.py) let the run queue admit one
# writer per system and tenant (dagster.yaml tag_concurrency_limits); the assets' own RetryPolicy
# reruns a step after transient trouble.
# Each also runs the blocking checks (`ready_to_push`, `mass_change`) of the plans it writes first: a
# failed one stops the push step.
push_xero_job = dg.define_asset_job(
    "push_xero_job", selection=dg.AssetSelection.assets("xero_push") | push_checks("xero"),
    tags={TARGET_TAG: "xero", **tenant_tags("push_xero_job")},
    description="Write the latest sync plan's Salesforce → Xero rows (and their write-backs).",
)
push_salesforce_job = dg.define_asset_job(
    "push_salesforce_job", selection=dg.AssetSelection.assets("salesforce_push") | push_checks("salesforce"),
    tags={TARGET_TAG: "salesforce", **tenant_tags("push_salesforce_job")},
    description="Write the latest sync plan's Xero → Salesforce rows.",
)
