"""`cli/partition_run.py`: a headless extract runs over every partition the first time, then the open one."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

from sfxero_pipelines.cli.partition_run import (RANGE_END_TAG, RANGE_START_TAG, open_partition_key,
                                                partition_selection, range_planned_events)

MONTHS = dg.MonthlyPartitionsDefinition(start_date="2024-01-01", end_offset=1)


@dg.asset(partitions_def=MONTHS, backfill_policy=dg.BackfillPolicy.single_run())
def staged_probe() -> None:
    return None


def test_first_run_covers_the_range_then_the_open_partition_only():
    job = dg.Definitions(assets=[staged_probe], jobs=[dg.define_asset_job("probe")]).resolve_job_def("probe")
    instance = dg.DagsterInstance.ephemeral()
    open_key = open_partition_key(MONTHS)
    assert open_key == dt.datetime.now(dt.timezone.utc).date().replace(day=1).isoformat()

    kwargs, tags = partition_selection(job, instance)
    assert kwargs == {} and tags == {RANGE_START_TAG: "2024-01-01", RANGE_END_TAG: open_key}
    with range_planned_events(tags):
        assert os.environ["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] == "true"
        result = job.execute_in_process(instance=instance, tags=tags)
    assert "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS" not in os.environ
    assert result.success
    assert instance.get_materialized_partitions(staged_probe.key) == set(MONTHS.get_partition_keys())

    assert partition_selection(job, instance) == ({"partition_key": open_key}, {})
