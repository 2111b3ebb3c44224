"""The chain sensors, on real runs in a real instance: a cycle's checks start once its extract and
its reference reload have both succeeded (one check run, whichever finishes last), never after
either failed; reconcile follows a successful check run and nothing follows a failed one (a
blocking check); runs from `sfxero sync` and backfills start nothing; run keys come from the
upstream run or cycle, so a request is never launched twice."""

from __future__ import annotations

import dagster as dg

from sfxero_pipelines.defs.automation.chain import UPSTREAM_TAG, build_chain_sensors
from sfxero_pipelines.defs.automation.schedules import CYCLE_TAG

from .conftest import add_run, status_event

CHECK_AFTER_EXTRACT, RECONCILE_AFTER_CHECK = build_chain_sensors(dg.DefaultSensorStatus.RUNNING)


class Ticker:
    """Evaluates a run-status sensor tick after tick, as the daemon does, carrying its cursor."""

    def __init__(self, sensor, instance):
        self.sensor, self.instance = sensor, instance
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert "Initiating" in (first.skip_message or "")
        self.cursor = first.cursor

    def tick(self) -> list[dg.RunRequest]:
        data = self.sensor.evaluate_tick(dg.build_sensor_context(instance=self.instance, cursor=self.cursor))
        self.cursor = data.cursor or self.cursor
        return list(data.run_requests or [])

    def drain(self) -> list[dg.RunRequest]:
        """Ticks until the sensor has no event left (a tick stops at the first run it answers)."""
        out = []
        while requests := self.tick():
            out += requests
        return out


def test_reconcile_follows_a_successful_check_run_and_nothing_a_failed_one(instance, run_job):
    ticker = Ticker(RECONCILE_AFTER_CHECK, instance)

    run_job("check_job", fail=True, error="1 blocking asset check failed with ERROR severity")
    assert ticker.drain() == []

    ok = run_job("check_job", tags={CYCLE_TAG: "2025-03-01T09:00:00Z"})
    [request] = ticker.drain()
    assert request.run_key == f"reconcile-after-{ok.run_id}"
    assert request.tags.items() >= {UPSTREAM_TAG: ok.run_id, CYCLE_TAG: "2025-03-01T09:00:00Z"}.items()
    assert ticker.drain() == []


def test_reconcile_sensor_called_with_a_run_status_context(instance, run_job):
    ok = run_job("check_job")
    context = dg.build_run_status_sensor_context(
        sensor_name=RECONCILE_AFTER_CHECK.name, dagster_instance=instance, dagster_run=ok,
        dagster_event=status_event(instance, ok, dg.DagsterEventType.RUN_SUCCESS))
    request = RECONCILE_AFTER_CHECK(context)
    assert request.run_key == f"reconcile-after-{ok.run_id}"
    assert RECONCILE_AFTER_CHECK.job_name == "reconcile_job"


def test_check_waits_for_both_runs_of_the_cycle_and_starts_once(instance, run_job):
    ticker = Ticker(CHECK_AFTER_EXTRACT, instance)
    cycle = {CYCLE_TAG: "2025-03-01T09:00:00Z"}

    # The reference reload is still running when the extract succeeds: wait for it.
    add_run(instance, "reference_extract_job", dg.DagsterRunStatus.STARTED, cycle)
    run_job("extract_job", tags=cycle)
    assert ticker.drain() == []

    # It finishes (as its run, or an automatic retry of it): now the cycle is checked, once.
    reference = run_job("reference_extract_job", tags=cycle)
    [request] = ticker.drain()
    assert request.run_key == "check-2025-03-01T09:00:00Z"
    assert request.tags.items() >= {CYCLE_TAG: cycle[CYCLE_TAG], UPSTREAM_TAG: reference.run_id}.items()
    assert CHECK_AFTER_EXTRACT.job_name == "check_job"

    # Both finishing before the sensor looks: each sees the other succeeded, same run_key both times.
    both = {CYCLE_TAG: "2025-03-01T10:00:00Z"}
    run_job("extract_job", tags=both)
    run_job("reference_extract_job", tags=both)
    requests = ticker.drain()
    assert {r.run_key for r in requests} == {"check-2025-03-01T10:00:00Z"}


def test_a_failed_run_of_the_cycle_stops_it(instance, run_job):
    ticker = Ticker(CHECK_AFTER_EXTRACT, instance)
    cycle = {CYCLE_TAG: "2025-03-01T11:00:00Z"}
    run_job("reference_extract_job", fail=True, tags=cycle)
    run_job("extract_job", tags=cycle)
    assert ticker.drain() == []

    failed_extract = {CYCLE_TAG: "2025-03-01T12:00:00Z"}
    run_job("extract_job", fail=True, tags=failed_extract)
    run_job("reference_extract_job", tags=failed_extract)
    assert ticker.drain() == []


def test_runs_outside_a_cycle(instance, run_job):
    ticker = Ticker(CHECK_AFTER_EXTRACT, instance)
    # Launched by hand in the UI: the extract chains on its own, keyed by its run id.
    manual = run_job("extract_job")
    [request] = ticker.drain()
    assert request.run_key == f"check-after-{manual.run_id}"
    # The reference schedule stopped: a cycle's extract alone still checks.
    run_job("extract_job", tags={CYCLE_TAG: "2025-03-01T13:00:00Z"})
    assert [r.run_key for r in ticker.drain()] == ["check-2025-03-01T13:00:00Z"]
    # A reference reload by hand, `sfxero sync` runs and backfill runs start nothing.
    run_job("reference_extract_job")
    run_job("extract_job", tags={"sfxero/stage": "extract"})
    run_job("extract_job", tags={"dagster/backfill": "abcdefgh"})
    assert ticker.drain() == []
