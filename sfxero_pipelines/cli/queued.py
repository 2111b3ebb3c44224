"""`sfxero sync` on an instance with a run queue: the CLI submits each run and waits for it.

When `$DAGSTER_HOME/dagster.yaml` names a `QueuedRunCoordinator` (deploy/postgres, deploy/celery: the
production set-ups, with a `dagster-daemon`; or `SFXERO_SYNC_RUNS=queue`), executing in process would step past the queue and
its limits (`sfxero/target`, `sfxero/tenant`, ...), so a CLI sync could write beside a scheduled
push. There the CLI submits the run as the UI does (`dagster job launch` on the same workspace, so
the daemon finds the code location by the same name), and waits:

- while the run is QUEUED, it says once behind which runs (those holding the same limited tags);
- while it runs, the progress bar counts its steps, as for an in-process run;
- when it fails and the instance retries it (`run_retries`), it follows the retry run;
- Ctrl-C or SIGTERM cancels it through the coordinator (a queued run is dropped, a started one
  terminated), and the CLI exits at once with one line.

The run executes where the daemon launches it, with the daemon's environment (credentials,
`SFXERO_STAGING_URL`, `SFXERO_EXECUTOR`), not the CLI's. The returned `QueuedRunResult` reads the
run's events from the event log and answers what `sync` asks of an in-process result. These runs
carry no launcher tags (`abandoned.py`): the daemon owns them, and a dead CLI must not fail them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import click
import dagster as dg
import yaml

from ..errors import ConfigError, SfxeroError
from .launcher import Interrupted, POLL_S, _raise_interrupted
from .progress import RunProgress

#: The workspace the daemon loads (override with SFXERO_WORKSPACE when it lives elsewhere).
DEFAULT_WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"
#: Runs submitted by a CLI name it here (for people reading the UI; nothing acts on it).
SUBMITTED_BY_TAG = "sfxero/submitted_by"
WILL_RETRY_TAG, PARENT_RUN_ID_TAG = "dagster/will_retry", "dagster/parent_run_id"
#: How long to look for the retry of a failed run the instance said it would retry.
RETRY_APPEAR_S = 120.0
#: A daemon heartbeat older than this means no daemon is dequeuing.
DAEMON_STALE_S = 90.0
SYNC_RUNS = ("queue", "in-process")
QUEUED_STATES = (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED)


class SubmitFailed(SfxeroError):
    pass


def queue_chosen(config_file: Path, environ=os.environ) -> bool:
    """Whether `sync` submits its runs: `SFXERO_SYNC_RUNS=queue|in-process` when set; otherwise when
    the instance's dagster.yaml names a `QueuedRunCoordinator` itself. The embedded default names none
    (Dagster then queues only what the UI launches, and no daemon runs unless `make dev` does), so
    `sync` keeps executing in process there."""
    choice = environ.get("SFXERO_SYNC_RUNS", "").strip().lower()
    if choice:
        if choice not in SYNC_RUNS:
            raise ConfigError("SFXERO_SYNC_RUNS", f"{choice!r} is not one of {', '.join(SYNC_RUNS)}")
        return choice == "queue"
    if not config_file.exists():
        return False
    coordinator = (yaml.safe_load(config_file.read_text()) or {}).get("run_coordinator") or {}
    return coordinator.get("class") == "QueuedRunCoordinator"


def uses_queue(instance: dg.DagsterInstance) -> bool:
    return (queue_chosen(Path(instance.root_directory or ".") / "dagster.yaml")
            and isinstance(instance.run_coordinator, dg.QueuedRunCoordinator))


class QueuedRunResult:
    """The parts of `ExecuteInProcessResult` that `sync` reads, from a finished run's event log."""

    def __init__(self, instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
        self.run_id, self.dagster_run = run.run_id, run
        self.success = run.status == dg.DagsterRunStatus.SUCCESS
        self.all_events = [entry.dagster_event for entry in instance.all_logs(run.run_id)
                           if entry.dagster_event is not None]

    def get_asset_materialization_events(self) -> list[dg.DagsterEvent]:
        return [e for e in self.all_events if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION]

    def get_asset_check_evaluations(self) -> list:
        return [e.event_specific_data for e in self.all_events
                if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]


def submit(job_name: str, *, run_id: str, tags: dict[str, str], run_config: dict) -> None:
    """Creates and submits the run through the instance's coordinator (`dagster job launch`)."""
    workspace = os.environ.get("SFXERO_WORKSPACE") or str(DEFAULT_WORKSPACE)
    cmd = [sys.executable, "-m", "dagster", "job", "launch", "-w", workspace, "-j", job_name, "--run-id", run_id,
           "--tags", json.dumps(tags), "--config-json", json.dumps(run_config)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(workspace).parent, timeout=600)
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
        raise SubmitFailed(f"could not submit {job_name} to the run queue: {lines[-1] if lines else 'no output'}")


def _one_at_a_time(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[tuple[str, str]]:
    """(key, value) of the run's tags under a limit naming a value (or one per unique value)."""
    limits = instance.get_concurrency_config().run_queue_config
    return sorted({(limit["key"], run.tags[limit["key"]]) for limit in (limits.tag_concurrency_limits if limits else [])
                   if limit["key"] in run.tags and limit.get("value") is not None
                   and (limit["value"] == run.tags[limit["key"]] or isinstance(limit["value"], dict))})


def _blockers(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    """The in-progress runs sharing such a limited tag (key and value) with `run`."""
    said = []
    for key, value in _one_at_a_time(instance, run):
        others = instance.get_runs(filters=dg.RunsFilter(tags={key: value}, statuses=[dg.DagsterRunStatus.STARTING,
                                                                                      dg.DagsterRunStatus.STARTED]))
        said += [f"run {o.run_id[:8]} ({o.job_name}, {key}={value})" for o in others if o.run_id != run.run_id]
    return said


def _daemon_alive(instance: dg.DagsterInstance) -> bool:
    beats = instance.get_daemon_heartbeats()
    beat = beats.get("QUEUED_RUN_COORDINATOR")
    return beat is not None and time.time() - beat.timestamp < DAEMON_STALE_S


def _retry_of(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.DagsterRun | None:
    """The retry the instance makes of a failed `run`, once it exists (None when none is coming)."""
    if run.status != dg.DagsterRunStatus.FAILURE:
        return None
    started = time.monotonic()
    while time.monotonic() - started < RETRY_APPEAR_S:
        children = instance.get_runs(filters=dg.RunsFilter(tags={PARENT_RUN_ID_TAG: run.run_id}))
        if children:
            return children[0]
        will = instance.get_run_by_id(run.run_id).tags.get(WILL_RETRY_TAG)
        # No tag a little after the failure: this instance does not retry runs (no run_retries).
        if will == "false" or (will is None and time.monotonic() - started > 10):
            return None
        time.sleep(POLL_S)
    return None


def _wait(instance: dg.DagsterInstance, job: dg.JobDefinition, run_id: str) -> dg.DagsterRun:
    said_queued: set[str] = set()
    warned_daemon = False
    bar = None
    while True:
        run = instance.get_run_by_id(run_id)
        if run is None:
            raise SubmitFailed(f"run {run_id[:8]} of {job.name} vanished from the instance")
        if run.is_finished:
            if bar:
                bar.close()
            return run
        if run.status in QUEUED_STATES:
            blockers = _blockers(instance, run)
            key = "; ".join(blockers) or "-"
            if key not in said_queued:
                said_queued.add(key)
                why = f"behind {key} (one at a time)" if blockers else "waiting for the run queue"
                click.echo(f"  {job.name}: run {run_id[:8]} queued, {why} (Ctrl-C cancels it)")
            if not warned_daemon and not _daemon_alive(instance):
                warned_daemon = True
                click.echo(f"  {job.name}: no dagster-daemon is dequeuing runs on this instance; the run waits "
                           "until one starts (make deploy-celery-up, or dagster-daemon run)", err=True)
        elif bar is None:
            bar = RunProgress(instance, run_id, job)  # draws only on a terminal
        if bar:
            bar.update()
        time.sleep(POLL_S)


def _cancel(instance: dg.DagsterInstance, job: dg.JobDefinition, run_id: str, signum: int) -> None:
    name = signal.Signals(signum).name
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.run_coordinator.cancel_run(run_id)
    click.echo(f"sfxero: interrupted by {name} during {job.name}; run {run_id[:8]} canceled; "
               "the next sync resumes from the ledger", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(128 + signum)


def submit_and_wait(job: dg.JobDefinition, instance: dg.DagsterInstance, *, tags: dict[str, str],
                    run_config: dict, partition_key: str | None = None) -> QueuedRunResult:
    """Submits `job` to the instance's queue and waits for it (following retries); see the module doc."""
    run_id = str(uuid.uuid4())
    tags = {**tags, SUBMITTED_BY_TAG: f"sfxero sync, pid {os.getpid()}"}
    if partition_key is not None:
        tags["dagster/partition"] = partition_key
    handlers = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        submit(job.name, run_id=run_id, tags=tags, run_config=run_config)
        run = _wait(instance, job, run_id)
        while (retry := _retry_of(instance, run)) is not None:
            click.echo(f"  {job.name}: run {run.run_id[:8]} failed; the instance retries it as run {retry.run_id[:8]}")
            run_id = retry.run_id
            run = _wait(instance, job, run_id)
    except Interrupted as exc:
        _cancel(instance, job, run_id, exc.signum)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    return QueuedRunResult(instance, run)
