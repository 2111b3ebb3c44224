"""Registers the data-quality asset checks (see `checks.py`); the `staging` resource comes from defs/staging.

Also `hold_check_job`: the checks that hold or block records (every suite), without the soft signals.
`sfxero sync`'s verifying pass runs it instead of `check_job`: the signals (freshness, row count,
schema drift) never hold nor block anything and were reported seconds earlier by the cycle's own
check run on the same tables, while each of their results (one per staged table) costs about 20 ms of
Dagster events (planned, evaluated, output).
"""

import dagster as dg

from .checks import SIGNALS_CHECK, build_checks

HOLD_CHECK_JOB = "hold_check_job"


@dg.definitions
def defs() -> dg.Definitions:
    checks = build_checks()
    holding = [c for c in checks if c.node_def.name != SIGNALS_CHECK]
    jobs = [dg.define_asset_job(HOLD_CHECK_JOB, selection=dg.AssetSelection.checks(*holding),
                                description="The checks that hold or block records (every suite), without the "
                                            "soft signals: the verifying pass of `sfxero sync --stage all`.")] \
        if holding else []
    return dg.Definitions(asset_checks=checks, jobs=jobs)
