"""`sfxero sync`: run stages headless as real Dagster runs on the persisted instance.

Each stage's jobs run in process on `$DAGSTER_HOME`'s instance, so every run shows in the UI
(`make dev`) exactly as if launched there; on an instance with a run queue (a `QueuedRunCoordinator`
and its daemon: deploy/postgres, deploy/celery) each run is submitted to the queue instead and
waited for (`queued.py`), so the queue's limits hold for the CLI as for schedules and the UI.
Partitioned jobs run today's partition: the incremental sync. `--stage all` is the full cycle — extract, check, reconcile, push — followed by a verifying
pass (extract, check, reconcile again) whose plan must have nothing left to create or update: the
summary says whether the two systems converged (its checks are the suites that hold records, without
the soft signals the first pass just reported: `hold_check_job`); when they did, the push runs once
more against the verifying plans (nothing to write), so the UI shows no asset behind its upstream. A failed stage
stops the stages that depend on it (data flows one way: a failed extract leaves nothing fit to
check, reconcile or push), and the summary names it with its first error line. Exit 0 when every run succeeded; 1 when a run failed, records were
held, or the verifying plan still has work.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import click

from ..defs.checks.definitions import HOLD_CHECK_JOB
from ..defs.sync.stages import STAGE_JOBS
from . import EXIT_HELD, EXIT_OK, NotAvailableYet, launcher, queued, summary
from .connections import use_configured_or_sandbox
from .instance import get_instance

ORDER = ("extract", "check", "reconcile", "push")


def _plain(metadata) -> dict:
    return {k: getattr(v, "value", v) for k, v in metadata.items()}


#: Metadata shown per materialization, by stage.
EXTRACT_KEYS = ("rows_staged", "deleted_rows", "invalid_rows", "dagster/row_count", "api_calls_total", "window")
PUSH_KEYS = ("planned", "written", "already_done", "found_by_lookup", "write_backs", "held", "api_calls_total")


def _materialization_rows(result, keys: tuple[str, ...]) -> list[tuple]:
    """(asset, *values of `keys`) per materialization of a run ("" where a key is absent)."""
    rows = []
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        meta = _plain(mat.metadata)
        rows.append((mat.asset_key.to_user_string(), *(meta.get(k, "") for k in keys)))
    return rows


def _check_rows(result) -> list[tuple]:
    """(asset, check, status, rows, bad, held now, note) per check evaluation of a run."""
    rows = []
    for evaluation in result.get_asset_check_evaluations():
        meta = _plain(evaluation.metadata)
        status = "ok" if evaluation.passed else ("WARN" if evaluation.severity.value == "WARN" else "ERROR")
        note = evaluation.description or meta.get("message") or meta.get("note") or ""
        rows.append((evaluation.asset_key.to_user_string(), evaluation.check_name, status,
                     meta.get("rows_checked", ""), meta.get("bad_rows", ""), meta.get("held_now", ""), note))
    return rows


def print_check_table(rows: list[tuple]) -> None:
    click.echo(f"  {'table':<26}{'check':<26}{'status':<7}{'rows':>8}{'bad':>7}{'held':>6}  note")
    for r in sorted(rows, key=lambda r: ({"ERROR": 0, "WARN": 1}.get(r[2], 2), r[0], r[1])):
        note = str(r[6]).replace("\n", " ")
        click.echo(f"  {r[0]:<26}{r[1]:<26}{r[2]:<7}{r[3]:>8}{r[4]:>7}{r[5]:>6}  {note[:110]}")


def print_push_table(rows: list[tuple]) -> None:
    click.echo(f"  {'asset':<18}{'planned':>8}{'written':>9}{'already':>9}{'lookup':>8}{'w-back':>8}{'held':>6}{'calls':>7}")
    for r in rows:
        click.echo(f"  {r[0]:<18}" + "".join(f"{v!s:>{w}}" for v, w in zip(r[1:], (8, 9, 9, 8, 8, 6, 7))))


def _innermost_line(error) -> str:
    # Dagster wraps a step's exception ("Error occurred while executing …"): the cause says what went wrong.
    while error is not None and error.cause is not None:
        error = error.cause
    return error.message.strip().splitlines()[0] if error is not None and error.message.strip() else ""


def run_errors(result) -> list[str]:
    """One line per failed step of a run (the innermost cause; for a blocking check, what the check
    said), or the run's own failure message."""
    said = {f"{e.asset_key.to_user_string()}_{e.check_name}": e.description for e in result.get_asset_check_evaluations()
            if not e.passed and e.description}
    lines = [f"step {e.step_key} failed: " + (said.get(e.step_key) or _innermost_line(e.event_specific_data.error))
             for e in result.all_events if e.is_step_failure]
    if not lines:
        lines = [e.message.strip().splitlines()[0] for e in result.all_events if e.is_run_failure and e.message]
    return lines


@dataclass
class StageResult:
    ok: bool
    rows: list[tuple]
    errors: list[str]


def stage_jobs(stage: str, definitions, *, verifying: bool = False) -> tuple[str, ...]:
    """The jobs a stage runs. The verifying pass checks with `hold_check_job` (every suite, no soft signal:
    defs/checks/definitions.py says why) when the definitions have it."""
    if stage not in STAGE_JOBS:
        raise NotAvailableYet(f"sync --stage {stage}")
    if verifying and stage == "check" and definitions.get_repository_def().has_job(HOLD_CHECK_JOB):
        return (HOLD_CHECK_JOB,)
    return STAGE_JOBS[stage]


def execute_stage(stage: str, instance, definitions, *, verifying: bool = False) -> StageResult:
    jobs = stage_jobs(stage, definitions, verifying=verifying)
    ok, rows, errors = True, [], []
    # The event log keeps every debug event for the UI; the terminal gets warnings and the summary.
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    for job_name in jobs:
        job = definitions.resolve_job_def(job_name)
        kwargs = {}
        if job.partitions_def is not None:
            kwargs["partition_key"] = dt.datetime.now(dt.timezone.utc).date().isoformat()
        tags = {"sfxero/stage": stage}
        if queued.uses_queue(instance):
            result = queued.submit_and_wait(job, instance, tags=tags, run_config=quiet, **kwargs)
        else:
            result = launcher.execute(job, instance, raise_on_error=False, run_config=quiet, tags=tags, **kwargs)
        ok &= result.success
        rows += (_check_rows(result) if stage == "check" else
                 _materialization_rows(result, PUSH_KEYS if stage == "push" else EXTRACT_KEYS))
        if not result.success:
            for line in run_errors(result):
                errors.append(f"{job_name}: {line}")
                click.echo(f"  {job_name}: {line}", err=True)
    return StageResult(ok, rows, errors)


def run_stage_jobs(stage: str, instance, definitions, *, verifying: bool = False) -> tuple[bool, list[tuple]]:
    result = execute_stage(stage, instance, definitions, verifying=verifying)
    return result.ok, result.rows


def _print_stage(name: str, ok: bool, rows: list[tuple], seconds: float | None = None) -> None:
    if not summary.verbose():  # one line per stage, and only the checks that are not OK
        summary.print_stage(name, ok, rows, seconds)
        return
    click.echo(f"- {name}: {'ok' if ok else 'FAILED'}")
    if name == "check":
        print_check_table(rows)
    elif name == "push":
        print_push_table(rows)
    elif rows:
        click.echo(f"  {'table':<26}{'staged':>8}{'deleted':>9}{'invalid':>9}{'total':>9}{'calls':>7}  window")
        for r in sorted(rows):
            click.echo(f"  {r[0]:<26}{r[1]:>8}{r[2]:>9}{r[3]:>9}{r[4]:>9}{r[5]:>7}  {r[6]}")


@dataclass
class CycleResult:
    ok: bool                 # every run succeeded and nothing was held
    stopped: str | None      # why the cycle stopped early: "<stage> failed: <first error line>"


def _run_stages(stages: tuple[str, ...], instance, definitions, *, verifying: bool = False) -> CycleResult:
    """Runs `stages` in order; a failed stage stops the ones after it, which all depend on it."""
    all_ok = True
    for i, name in enumerate(stages):
        started = time.monotonic()
        result = execute_stage(name, instance, definitions, verifying=verifying)
        all_ok &= result.ok
        _print_stage(name, result.ok, result.rows, time.monotonic() - started)
        if not result.ok:
            first = result.errors[0] if result.errors else "a run failed"
            if name == "check":
                # A blocking check failed: nothing may reach Xero or Salesforce in this cycle.
                click.echo("- stopping: a blocking check failed (see ERROR rows above)")
                first = next((f"{r[0]} {r[1]}: {r[6]}" for r in result.rows if r[2] == "ERROR"), first)
            elif stages[i + 1:]:
                click.echo(f"- stopping: {name} failed, so {', '.join(stages[i + 1:])} would work on stale data")
            return CycleResult(False, f"{name} failed: {first}")
        if name == "check":
            # Records held by a check: the rest goes on, but the sync finished with held records.
            all_ok &= not any(isinstance(r[4], int) and r[4] > 0 for r in result.rows)
        if name == "push":
            all_ok &= not any(isinstance(r[6], int) and r[6] > 0 for r in result.rows)
    return CycleResult(all_ok, None)


def verify_convergence(staging_engine) -> tuple[bool, dict[str, dict[str, int]]]:
    """The stored plan after the verifying pass: converged when no recipe has a create, update or delete."""
    from ..reconcile.plan import summary
    from ..staging.state.plans import load_latest

    with staging_engine.connect() as conn:
        counts = summary(load_latest(conn))
    left = {r: c for r, c in counts.items() if any(c.get(a, 0) for a in ("create", "update", "delete"))}
    return not left, counts


def run_sync(stage: str) -> int:
    from ..definitions import defs

    stages = ORDER if stage == "all" else (stage,)
    with use_configured_or_sandbox() as mode:
        instance = get_instance()
        definitions = defs()
        click.echo(f"sfxero sync ({'against the sandbox' if 'sandbox' in mode else 'configured credentials'}; "
                   f"Dagster instance {instance.root_directory})")
        cycle = _run_stages(stages, instance, definitions)
        if stage != "all":
            return EXIT_OK if cycle.ok else EXIT_HELD
        if cycle.stopped:
            click.echo(f"NOT converged: {cycle.stopped}")
            return EXIT_HELD
        click.echo("Verifying: extract, check and reconcile again; the new plan must have nothing to write.")
        verify = _run_stages(("extract", "check", "reconcile"), instance, definitions, verifying=True)
        if verify.stopped:
            click.echo(f"NOT converged: the verifying {verify.stopped}")
            return EXIT_HELD
        from ..defs.staging.resources import staging_for_cli

        converged, counts = verify_convergence(staging_for_cli().engine)
        click.echo(f"  {'recipe':<8}" + "".join(f"{a:>10}" for a in ("create", "update", "delete", "skip", "conflict", "held")))
        for recipe, c in counts.items():
            click.echo(f"  {recipe:<8}" + "".join(f"{c.get(a, 0):>10}" for a in ("create", "update", "delete", "skip",
                                                                                    "conflict", "held")))
        click.echo("Converged: the second plan has nothing to create or update." if converged else
                   "NOT converged: the second plan still has writes (see `sfxero plan`).")
        if converged:
            # Nothing left to write (no API call): run against the verifying pass's plans, the push is
            # recorded as up to date with them, and the UI does not show it "Unsynced" behind them.
            _run_stages(("push",), instance, definitions)
        return EXIT_OK if cycle.ok and verify.ok and converged else EXIT_HELD
