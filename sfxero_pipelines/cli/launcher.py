"""How the CLI executes a job: a real run on the instance that a dead process cannot wedge and a
signal always stops.

- The run is tagged with the launching process (`abandoned.launcher_tags`), and runs abandoned by a
  dead launcher are reaped before it starts and while it waits, so their pool slots come back.
- While a live run holds a pool slot the job needs, the CLI waits in its own loop, saying for whom:
  Dagster's in-process wait for a slot busy-loops and cannot be interrupted.
- The job executes in a worker thread so that the main thread keeps SIGINT and SIGTERM: in-process
  execution defers both until a step's own code runs, so a run waiting for a slot ignored them.
  On either, the run is marked canceled, its slots freed, and the process exits at once (130 for
  SIGINT, 143 for SIGTERM) with one line. Stopping mid-write is safe: the push ledger records each
  write before it is sent, and the next push resumes it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid

import click
import dagster as dg

from .abandoned import HEARTBEAT_EVERY_S, HEARTBEAT_TAG, HOST_TAG, PID_TAG, launcher_tags, reap_abandoned_runs
from .instance_files import event_log_files_held
from .progress import RunProgress

#: How often a waiting CLI looks again at a busy pool and for dead launchers.
POLL_S = 1.0
REAP_EVERY_S = 5.0


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived while a run was executing or waiting (a BaseException, like KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum, _frame) -> None:
    raise Interrupted(signum)


def job_pools(job: dg.JobDefinition) -> set[str]:
    return {pool for node_def in job.graph.node_defs if (pool := getattr(node_def, "pool", None))}


def busy_pools(instance: dg.DagsterInstance, pools: set[str]) -> dict[str, set[str]]:
    """Pool → ids of the runs holding all its slots, for each of `pools` with no slot free."""
    busy = {}
    for pool in sorted(pools):
        info = instance.event_log_storage.get_concurrency_info(pool)
        limit = info.limit if info.limit is not None else info.slot_count
        if limit and len(info.claimed_slots) >= limit:
            busy[pool] = {slot.run_id for slot in info.claimed_slots}
    return busy


def _reap(instance: dg.DagsterInstance) -> None:
    for note in reap_abandoned_runs(instance):
        click.echo(f"  {note}")


def _holder(instance: dg.DagsterInstance, run_id: str) -> str:
    run = instance.get_run_by_id(run_id)
    if run is None or PID_TAG not in run.tags:
        # Not launched by sfxero: only Dagster (run monitoring) or a person can tell it is dead.
        return f"run {run_id[:8]} (not started by sfxero; if nothing runs it, terminate it in the UI)"
    return f"run {run_id[:8]} ({run.job_name}, pid {run.tags[PID_TAG]} on {run.tags.get(HOST_TAG)})"


def _wait_for_pools(instance: dg.DagsterInstance, job: dg.JobDefinition) -> None:
    pools, said, last_reap = job_pools(job), set(), time.monotonic()
    while busy := busy_pools(instance, pools):
        for pool, holders in busy.items():
            if (pool, frozenset(holders)) not in said:
                said.add((pool, frozenset(holders)))
                click.echo(f"  {job.name}: waiting for a {pool} slot, held by "
                           f"{'; '.join(_holder(instance, h) for h in sorted(holders))} (Ctrl-C stops)")
        time.sleep(POLL_S)
        if time.monotonic() - last_reap > REAP_EVERY_S:
            _reap(instance)
            last_reap = time.monotonic()


def _stop(instance: dg.DagsterInstance, job: dg.JobDefinition, run_id: str, signum: int) -> None:
    """Marks the run canceled, frees its slots, says so in one line and exits the process."""
    name = signal.Signals(signum).name
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_canceled(run, message=f"sfxero was interrupted by {name}")
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    state = f"run {run_id[:8]} marked canceled, its slots freed" if run is not None else "no run had started"
    click.echo(f"sfxero: interrupted by {name} during {job.name}; {state}; the next sync resumes from the ledger",
               err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # The worker thread may be inside a request or a transaction; the ledger makes stopping it here safe.
    os._exit(128 + signum)


def execute(job: dg.JobDefinition, instance: dg.DagsterInstance, *, tags: dict[str, str], **kwargs
            ) -> dg.ExecuteInProcessResult:
    """`job.execute_in_process(instance=instance, tags=tags, **kwargs)` as a CLI run (see the module doc)."""
    run_id = str(uuid.uuid4())
    if threading.current_thread() is not threading.main_thread():
        # Signals can only be handled on the main thread; whoever runs us elsewhere owns them.
        with event_log_files_held(instance, run_id):
            return job.execute_in_process(instance=instance, run_id=run_id, tags={**tags, **launcher_tags()},
                                          **kwargs)
    outcome: dict[str, object] = {}
    handlers = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        _reap(instance)
        _wait_for_pools(instance, job)

        def work() -> None:
            try:
                with event_log_files_held(instance, run_id):
                    outcome["result"] = job.execute_in_process(instance=instance, run_id=run_id,
                                                               tags={**tags, **launcher_tags()}, **kwargs)
            except BaseException as exc:  # handed to the main thread, which raises it
                outcome["error"] = exc

        worker = threading.Thread(target=work, name=f"sfxero-run-{job.name}", daemon=True)
        worker.start()
        last_beat = last_reap = time.monotonic()
        bar = RunProgress(instance, run_id, job)  # draws only on a terminal
        while worker.is_alive():
            worker.join(POLL_S)
            bar.update()
            now = time.monotonic()
            if now - last_reap > REAP_EVERY_S:
                _reap(instance)
                last_reap = now
            if now - last_beat > HEARTBEAT_EVERY_S and instance.get_run_by_id(run_id) is not None:
                instance.add_run_tags(run_id, {HEARTBEAT_TAG: str(int(time.time()))})
                last_beat = now
        bar.close()
    except Interrupted as exc:
        _stop(instance, job, run_id, exc.signum)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
