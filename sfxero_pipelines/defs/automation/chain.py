"""Run-status sensors that chain the cycle: extracts → check_job → reconcile_job.

- `check_after_extract_sensor`: when a cycle's extract_job *and* its reference_extract_job have
  both succeeded, run check_job. The checks (reference suites, invoice lines against items and
  tax rates) and reconcile read the reference tables too, so starting them while the reference
  reload is still running, or after it failed, would judge fresh transactions against missing or
  stale reference data. Whichever of the two runs finishes last starts the checks; the run_key is
  the cycle's, so both seeing each other succeed still launches one check run.
  An extract_job run outside a cycle (launched by hand in the UI) chains on its own, keyed by its
  run id; a reference reload by hand starts nothing.
- `reconcile_after_check_sensor`: check_job succeeded → reconcile_job, keyed by the check run's
  id. A check run that failed (a blocking check, or an error) is never a SUCCESS, so the chain
  stops there and nothing is reconciled, or pushed, from bad data.

Not chained: runs made by `sfxero sync` (tagged `sfxero/stage`; the CLI runs the stages it was
asked for, itself) and backfill runs (one check per partition run would pile up; the next scheduled
cycle checks everything staged).

Runs that start nothing are logged and return None rather than a SkipReason: a run-status sensor
stops reading events for the tick at the first value a run returns, so a SkipReason per ignored
run would delay the next real one by a tick each.
"""

from __future__ import annotations

import dagster as dg

from ..sync.jobs import check_job, extract_job, reconcile_job, reference_extract_job
from .schedules import CYCLE_TAG

#: Set by `sfxero sync` on every run it makes (cli/sync_cmd.py).
STAGE_TAG = "sfxero/stage"
BACKFILL_TAG = "dagster/backfill"
#: The run whose success launched this one.
UPSTREAM_TAG = "sfxero/upstream_run"

IN_PROGRESS = (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)

_PARTNER = {extract_job.name: reference_extract_job.name, reference_extract_job.name: extract_job.name}


def not_chained(run: dg.DagsterRun) -> str | None:
    """Why a run's success starts nothing, or None when it belongs to the automatic cycle."""
    if STAGE_TAG in run.tags:
        return (f"run {run.run_id} was made by `sfxero sync --stage {run.tags[STAGE_TAG]}`, "
                "which runs the stages it is asked for itself")
    if BACKFILL_TAG in run.tags:
        return (f"run {run.run_id} belongs to backfill {run.tags[BACKFILL_TAG]}: "
                "the next scheduled cycle checks and reconciles what it staged")
    return None


def cycle_run(instance: dg.DagsterInstance, job_name: str, cycle: str) -> dg.DagsterRun | None:
    """The newest run of `job_name` in `cycle` (after an automatic retry: the retry)."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name, tags={CYCLE_TAG: cycle}), limit=1)
    return runs[0] if runs else None


def check_request(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.RunRequest | str:
    """What the success of an extract or reference run starts: a check_job request, or why nothing."""
    if reason := not_chained(run):
        return reason
    cycle = run.tags.get(CYCLE_TAG)
    if cycle is None:
        if run.job_name != extract_job.name:
            return f"run {run.run_id} reloaded reference data outside a cycle: the next cycle's checks use it"
        return dg.RunRequest(run_key=f"check-after-{run.run_id}", tags={UPSTREAM_TAG: run.run_id})
    partner_job = _PARTNER[run.job_name]
    partner = cycle_run(instance, partner_job, cycle)
    if partner is None:
        if run.job_name != extract_job.name:
            return f"cycle {cycle} has no extract_job run (is extract_schedule stopped?): nothing to check"
        # The reference schedule is stopped: check against the reference data staged before.
    elif partner.status in IN_PROGRESS:
        return (f"cycle {cycle}: waiting for {partner_job} run {partner.run_id} ({partner.status.value}); "
                "its success starts the checks")
    elif partner.status != dg.DagsterRunStatus.SUCCESS:
        return (f"cycle {cycle}: {partner_job} run {partner.run_id} ended {partner.status.value}, "
                "so this cycle is not checked, reconciled or pushed")
    return dg.RunRequest(run_key=f"check-{cycle}", tags={CYCLE_TAG: cycle, UPSTREAM_TAG: run.run_id})


def reconcile_request(run: dg.DagsterRun) -> dg.RunRequest | str:
    if reason := not_chained(run):
        return reason
    tags = {UPSTREAM_TAG: run.run_id}
    if CYCLE_TAG in run.tags:
        tags[CYCLE_TAG] = run.tags[CYCLE_TAG]
    return dg.RunRequest(run_key=f"reconcile-after-{run.run_id}", tags=tags)


def _answer(context: dg.RunStatusSensorContext, outcome: dg.RunRequest | str) -> dg.RunRequest | None:
    if isinstance(outcome, str):
        context.log.info(outcome)
        return None
    context.log.info(f"run {context.dagster_run.run_id} ({context.dagster_run.job_name}) succeeded: "
                     f"requesting {outcome.run_key}")
    return outcome


def build_chain_sensors(status: dg.DefaultSensorStatus) -> list[dg.RunStatusSensorDefinition]:
    @dg.run_status_sensor(
        name="check_after_extract_sensor", run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[extract_job, reference_extract_job], request_job=check_job, default_status=status,
        description="Runs check_job once a cycle's extract_job and reference_extract_job have both succeeded.")
    def check_after_extract_sensor(context: dg.RunStatusSensorContext):
        return _answer(context, check_request(context.instance, context.dagster_run))

    @dg.run_status_sensor(
        name="reconcile_after_check_sensor", run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[check_job], request_job=reconcile_job, default_status=status,
        description="Runs reconcile_job after a successful check_job; a failed check run (a blocking check) "
                    "stops the cycle.")
    def reconcile_after_check_sensor(context: dg.RunStatusSensorContext):
        return _answer(context, reconcile_request(context.dagster_run))

    return [check_after_extract_sensor, reconcile_after_check_sensor]
