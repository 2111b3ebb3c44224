"""The two schedules that start a sync cycle, at `schedules.cycle_cron` in `schedules.timezone`.

Both runs of one tick carry the tag `sfxero/cycle` (the tick's time in UTC), which is how the
check sensor knows they belong together, and a run_key derived from it, so a tick evaluated twice
launches nothing twice.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from ..partitions import daily_partitions
from ...config import SchedulesConfig
from ..sync.jobs import extract_job, reference_extract_job

#: Tag shared by the runs one schedule tick starts (and the check/reconcile runs that follow them).
CYCLE_TAG = "sfxero/cycle"


def default_status(cfg: SchedulesConfig) -> tuple[dg.DefaultScheduleStatus, dg.DefaultSensorStatus]:
    """`schedules.enabled` → whether the schedules and sensors start running when the location loads."""
    if cfg.enabled:
        return dg.DefaultScheduleStatus.RUNNING, dg.DefaultSensorStatus.RUNNING
    return dg.DefaultScheduleStatus.STOPPED, dg.DefaultSensorStatus.STOPPED


def cycle_id(when: dt.datetime) -> str:
    """The tick's identity: its time in UTC, to the second (`2025-03-01T09:00:00Z`)."""
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def open_partition(when: dt.datetime, partitions_def: dg.DailyPartitionsDefinition) -> str | None:
    """The daily partition containing `when`: the open one, whose extract is the incremental sync.

    Days are the partitions' own (UTC by default), not the schedule's timezone: the extract reads a
    partition incrementally only while its window reaches the present, so a local date would be
    yesterday's closed window west of UTC (a full reload, no cursor advance) and a day that does
    not exist yet east of it. The schedule's timezone decides when the cron fires, nothing else.
    """
    day = when.astimezone(ZoneInfo(partitions_def.timezone)).date()
    if day < partitions_def.start.date():
        return None
    return day.isoformat()


def build_cycle_schedules(cfg: SchedulesConfig,
                          partitions_def: dg.DailyPartitionsDefinition | None = None) -> list[dg.ScheduleDefinition]:
    zone = ZoneInfo(cfg.timezone)  # validated with the config (schedules.timezone)
    schedule_status, _ = default_status(cfg)
    partitions = partitions_def or daily_partitions()

    def tick_time(context: dg.ScheduleEvaluationContext) -> dt.datetime:
        return context.scheduled_execution_time or dt.datetime.now(zone)

    @dg.schedule(name="extract_schedule", cron_schedule=cfg.cycle_cron, execution_timezone=cfg.timezone,
                 target=extract_job, default_status=schedule_status,
                 description="Starts a sync cycle: extracts today's (open) partition, i.e. everything changed "
                             "since each object's cursor. Checks, reconcile and push follow through sensors.")
    def extract_schedule(context: dg.ScheduleEvaluationContext):
        when = tick_time(context)
        key = open_partition(when, partitions)
        if key is None:
            return dg.SkipReason(f"{when.isoformat()} is before the first partition "
                                 f"({partitions.start.date().isoformat()}, extract.start_date)")
        cycle = cycle_id(when)
        return dg.RunRequest(run_key=f"extract-{cycle}", partition_key=key, tags={CYCLE_TAG: cycle})

    @dg.schedule(name="reference_extract_schedule", cron_schedule=cfg.cycle_cron, execution_timezone=cfg.timezone,
                 target=reference_extract_job, default_status=schedule_status,
                 description="Reloads Xero reference data (items, accounts, tax rates, currencies) with each "
                             "cycle: checks and reconcile wait for it as well as for the extract.")
    def reference_extract_schedule(context: dg.ScheduleEvaluationContext):
        cycle = cycle_id(tick_time(context))
        return dg.RunRequest(run_key=f"reference-{cycle}", tags={CYCLE_TAG: cycle})

    return [extract_schedule, reference_extract_schedule]
