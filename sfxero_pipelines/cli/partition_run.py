"""Which partitions a headless extract run covers: the open one, or on the first full extract all of them.

The incremental sync is the open (this month's) partition. The first extract on an instance — no
partition of the job's assets materialized yet — reads everything there is (no cursor: no lower
bound), so it runs as one single-run backfill over the whole partition range instead: Dagster then
records one materialization per (asset, partition) it covered, and the UI shows history as
materialized rather than "Missing" (docs/architecture.md "Extract partitions").

For that one run the planned events carry the partition range (one per asset, not one per
partition: Dagster's `DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS`). Its one cost, partitions
of a failed run not marked "Failed", is harmless here: they stay "Missing", which is still true.
"""

from __future__ import annotations

import datetime as dt
import os
from contextlib import contextmanager
from typing import Iterator

import dagster as dg

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
_SUBSET_PLANNED_EVENTS = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


def open_partition_key(partitions_def: dg.TimeWindowPartitionsDefinition, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return partitions_def.get_partition_key_for_timestamp(now.timestamp())


def first_extract(job: dg.JobDefinition, instance: dg.DagsterInstance) -> bool:
    """True when none of the job's assets has been materialized on this instance."""
    return all(instance.get_latest_materialization_event(key) is None
               for key in job.asset_layer.selected_asset_keys)


def partition_selection(job: dg.JobDefinition, instance: dg.DagsterInstance) -> tuple[dict, dict[str, str]]:
    """(execute kwargs, run tags) for a partitioned job: the open partition, or the whole range the first time."""
    partitions_def = job.partitions_def
    open_key = open_partition_key(partitions_def)
    if not first_extract(job, instance):
        return {"partition_key": open_key}, {}
    return {}, {RANGE_START_TAG: partitions_def.get_first_partition_key(), RANGE_END_TAG: open_key}


@contextmanager
def range_planned_events(tags: dict[str, str]) -> Iterator[None]:
    """While a range run is created: one planned event per asset for the range (see the module doc)."""
    if RANGE_START_TAG not in tags or os.environ.get(_SUBSET_PLANNED_EVENTS) is not None:
        yield
        return
    os.environ[_SUBSET_PLANNED_EVENTS] = "true"
    try:
        yield
    finally:
        del os.environ[_SUBSET_PLANNED_EVENTS]
