"""The cycle schedules: a tick at `schedules.cycle_cron` requests extract_job for the open (today's)
partition and reference_extract_job, both tagged with the tick's cycle and keyed by it; the
schedules and sensors start RUNNING or STOPPED as `schedules.enabled` says; a bad cron or time
zone in sfxero.yaml stops the code location loading with an error naming the key."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.defs.automation import definitions as automation
from sfxero_pipelines.defs.automation.schedules import CYCLE_TAG, build_cycle_schedules, open_partition
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.config import SchedulesConfig

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_offset=1)
AUCKLAND = ZoneInfo("Pacific/Auckland")


def _schedules(**cfg) -> dict[str, dg.ScheduleDefinition]:
    return {s.name: s for s in build_cycle_schedules(SchedulesConfig(**cfg), PARTITIONS)}


def test_tick_requests_extract_of_the_open_partition_keyed_by_the_tick(instance):
    schedules = _schedules(cycle_cron="0 9 * * *", timezone="Pacific/Auckland")
    extract = schedules["extract_schedule"]
    assert (extract.cron_schedule, extract.execution_timezone, extract.job_name) == ("0 9 * * *", "Pacific/Auckland",
                                                                                      "extract_job")
    # 09:00 in Auckland on 2 March is 20:00 UTC on 1 March: the open partition is 1 March (UTC days),
    # the one whose extract is incremental; 2 March does not exist yet.
    tick = dt.datetime(2025, 3, 2, 9, 0, tzinfo=AUCKLAND)
    request = extract(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick))
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == "2025-03-01"
    assert request.run_key == "extract-2025-03-01T20:00:00Z"
    assert request.tags == {CYCLE_TAG: "2025-03-01T20:00:00Z"}

    # The same tick evaluated again asks for the same run (Dagster launches a run_key once).
    again = extract(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick))
    assert (again.run_key, again.partition_key) == (request.run_key, request.partition_key)


def test_reference_schedule_fires_with_the_same_cron_and_cycle(instance):
    schedules = _schedules(cycle_cron="*/15 * * * *", timezone="UTC")
    reference = schedules["reference_extract_schedule"]
    assert (reference.cron_schedule, reference.job_name) == ("*/15 * * * *", "reference_extract_job")
    tick = dt.datetime(2025, 3, 1, 10, 45, tzinfo=dt.timezone.utc)
    request = reference(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick))
    extract = schedules["extract_schedule"](dg.build_schedule_context(instance=instance, scheduled_execution_time=tick))
    assert request.run_key == "reference-2025-03-01T10:45:00Z"
    assert request.partition_key is None
    assert request.tags[CYCLE_TAG] == extract.tags[CYCLE_TAG] == "2025-03-01T10:45:00Z"


def test_tick_before_the_first_partition_is_skipped_with_the_reason(instance):
    request = _schedules()["extract_schedule"](dg.build_schedule_context(
        instance=instance, scheduled_execution_time=dt.datetime(2023, 12, 31, 23, 0, tzinfo=dt.timezone.utc)))
    assert isinstance(request, dg.SkipReason)
    assert "extract.start_date" in request.skip_message


@pytest.mark.parametrize("when, key", [
    (dt.datetime(2025, 3, 1, 0, 0, tzinfo=dt.timezone.utc), "2025-03-01"),
    (dt.datetime(2025, 3, 1, 23, 59, tzinfo=dt.timezone.utc), "2025-03-01"),
    (dt.datetime(2025, 3, 1, 18, 0, tzinfo=ZoneInfo("America/Los_Angeles")), "2025-03-02"),
])
def test_open_partition_is_the_utc_day_containing_the_tick(when, key):
    assert open_partition(when, PARTITIONS) == key
    assert PARTITIONS.has_partition_key(key)


def test_the_loaded_schedule_passes_dagsters_own_tick_evaluation(instance):
    """Through the code location as loaded: Dagster resolves the partition against extract_job's."""
    from sfxero_pipelines.definitions import defs

    repo = defs().get_repository_def()
    tick = dt.datetime.now(dt.timezone.utc)
    data = repo.get_schedule_def("extract_schedule").evaluate_tick(
        dg.build_schedule_context(instance=instance, scheduled_execution_time=tick, repository_def=repo))
    [request] = data.run_requests
    assert request.partition_key == tick.date().isoformat()
    assert request.tags["dagster/partition"] == tick.date().isoformat()


@pytest.mark.parametrize("enabled, schedule_status, sensor_status", [
    (True, dg.DefaultScheduleStatus.RUNNING, dg.DefaultSensorStatus.RUNNING),
    (False, dg.DefaultScheduleStatus.STOPPED, dg.DefaultSensorStatus.STOPPED),
])
def test_enabled_sets_the_default_status_of_schedules_and_sensors(enabled, schedule_status, sensor_status):
    definitions = automation.automation_defs(parse_config({"schedules": {"enabled": enabled}}))
    assert {s.default_status for s in definitions.schedules} == {schedule_status}
    assert {s.default_status for s in definitions.sensors} == {sensor_status}
    assert {s.name for s in definitions.sensors} == {
        "check_after_extract_sensor", "reconcile_after_check_sensor", "push_new_plan_sensor",
        "notify_run_failure_sensor", "asset_automation_sensor", "xero_token_keepalive_sensor"}


@pytest.mark.parametrize("schedules, key, problem", [
    ({"cycle_cron": "every hour"}, "schedules.cycle_cron", "is not a cron expression"),
    ({"cycle_cron": "0 * * *"}, "schedules.cycle_cron", "is not a cron expression"),
    ({"timezone": "Mars/Olympus_Mons"}, "schedules.timezone", "is not an IANA time zone"),
    ({"cron": "0 * * * *"}, "schedules.cron", "unknown key"),
])
def test_bad_schedule_config_stops_loading_with_the_key(tmp_path, monkeypatch, schedules, key, problem):
    import yaml

    path = tmp_path / "sfxero.yaml"
    path.write_text(yaml.safe_dump({"schedules": schedules}))
    monkeypatch.setenv("SFXERO_CONFIG", str(path))
    with pytest.raises(ConfigError) as exc:
        automation.defs()
    assert exc.value.key == f"{path}: {key}"
    assert problem in exc.value.problem
