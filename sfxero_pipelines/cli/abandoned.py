"""Runs abandoned by a dead `sfxero` process: found, marked failed, their pool slots freed.

Every run the CLI executes carries its launching process in its tags (`LAUNCHER_TAGS`: host, pid, the
pid's start time, a heartbeat). Executed in process, such a run has no one else to finish it: if the
process dies (kill -9, OOM, power loss) the run stays STARTED for ever and keeps its pool slot
(`xero_api`, …), so every later run needing that pool would wait for ever. A run is abandoned when
its launcher is gone: on this host, its pid is not running (or was recycled by another process,
told apart by the start time); on another host, its heartbeat is older than `STALE_HEARTBEAT_S`.

`reap_abandoned_runs` marks each one failed through the instance (a run-failure event, so the UI,
the failure sensor and `sfxero status` all see it), notes why in the `sfxero/abandoned` tag, and
frees the run's concurrency slots. What it had written is safe: the push ledger records each write
before it is sent, so the next push resumes instead of repeating.
"""

from __future__ import annotations

import time

import dagster as dg

from ..owner import Owner

HOST_TAG, PID_TAG, PID_STARTED_TAG = "sfxero/host", "sfxero/pid", "sfxero/pid_started"
HEARTBEAT_TAG, ABANDONED_TAG = "sfxero/heartbeat", "sfxero/abandoned"
#: A launcher on another host cannot be asked whether it lives; it renews this tag while its run goes on.
HEARTBEAT_EVERY_S = 60
STALE_HEARTBEAT_S = 10 * HEARTBEAT_EVERY_S
UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
              dg.DagsterRunStatus.CANCELING]


def launcher_tags() -> dict[str, str]:
    """The tags naming this process as the launcher of a run."""
    me = Owner.me()
    tags = {HOST_TAG: me.host, PID_TAG: str(me.pid), HEARTBEAT_TAG: str(int(time.time()))}
    if me.started:
        tags[PID_STARTED_TAG] = me.started
    return tags


def launcher_alive(tags: dict[str, str], now: float) -> bool:
    owner = Owner(tags.get(HOST_TAG, ""), int(tags[PID_TAG]), tags.get(PID_STARTED_TAG))
    if not owner.local:
        return now - float(tags.get(HEARTBEAT_TAG) or 0) < STALE_HEARTBEAT_S
    return owner.alive()


def reap_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Marks failed every unfinished CLI run whose launcher is gone and frees its slots; one note per run."""
    notes = []
    now = time.time()
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED)):
        if PID_TAG not in run.tags or launcher_alive(run.tags, now):
            continue
        note = (f"run {run.run_id[:8]} was abandoned by a dead process ({run.job_name}, "
                f"pid {run.tags[PID_TAG]} on {run.tags.get(HOST_TAG)}); marked failed; slots freed")
        instance.add_run_tags(run.run_id, {ABANDONED_TAG: note})
        instance.report_run_failed(instance.get_run_by_id(run.run_id), message=note)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        notes.append(note)
    return notes
