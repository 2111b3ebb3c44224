"""The push sensor: a new sync plan with something to write launches the push job of that target.

Per target system (Xero: the sf_to_xero rows; Salesforce: the xero_to_sf rows) the sensor takes
the latest plan of every recipe that has pushable rows for it, and fingerprints those plan ids.
A fingerprint not requested before launches the target's push job with
run_key `push-<target>-<fingerprint>`: Dagster never launches a run_key twice for a sensor, so the
same plans are never pushed twice by the sensor, even if its cursor is lost. An approval of a plan
(`sfxero approve`) is part of the fingerprint, so a push the mass-change guard stopped is launched again;
so is the number of row approvals (`sfxero approve ROW_ID`): a new one makes the plans holding rows for
approval pushable once more, and the push writes the approved ones. (A push of the same
plan by hand, or a replay, is still safe: the ledger skips what was written.)

Pushable rows are what `push/rows.py` executes: create / update / delete, and for Xero also
`skip` rows that carry `"link": true` (a matched pair whose link the push records; without it,
the pair would be re-matched by name every cycle and could be created twice once a name changes).

Cheap on large plans: the latest plans are found by index seeks (there are a handful), the
plans' rows are read only when that set changed since the last evaluation, and never while a
reconcile_job run is writing plans.
"""

from __future__ import annotations

import hashlib
import json

import dagster as dg
import sqlalchemy as sa

from ...push.rows import TARGET, WRITE_ACTIONS
from ...staging.state import approvals, plans as stored_plans
from ..staging.resources import StagingDatabase
from ..sync.jobs import push_salesforce_job, push_xero_job, reconcile_job
from .chain import IN_PROGRESS

PUSH_JOBS = {"xero": push_xero_job, "salesforce": push_salesforce_job}
#: Tag on the push runs: which plan of each recipe they were launched for.
PLANS_TAG = "sfxero/plans"

def pushable_plans(conn: sa.Connection, latest: dict[str, str], *, held_too: bool = False) -> dict[str, dict[str, str]]:
    """target → {recipe: plan_id} of the latest plans with rows to push to that target (`held_too`: held
    rows count, for a row approval may have let one through)."""
    out: dict[str, dict[str, str]] = {target: {} for target in PUSH_JOBS}
    recipe_of = {plan_id: recipe for recipe, plan_id in latest.items()}
    if not latest:
        return out
    actions = [*WRITE_ACTIONS, "held"] if held_too else list(WRITE_ACTIONS)
    for plan_id, direction in stored_plans.directions_with_actions(conn, list(recipe_of), actions):
        if direction in TARGET:
            out[TARGET[direction]][recipe_of[plan_id]] = plan_id
    for recipe, plan_id in latest.items():
        if recipe not in out["xero"] and stored_plans.has_link_skip(conn, plan_id):
            out["xero"][recipe] = plan_id
    return {target: dict(sorted(plans.items())) for target, plans in out.items()}


def fingerprint(plans: dict[str, str], approved: set[str] = frozenset(), rows_approved: int = 0) -> str:
    # An approval changes the fingerprint: a push the mass-change guard stopped runs again once approved.
    material = ",".join(f"{recipe}={plan_id}" + ("+approved" if plan_id in approved else "")
                        for recipe, plan_id in sorted(plans.items()))
    if rows_approved:
        material += f"|rows={rows_approved}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def evaluate(conn: sa.Connection, cursor: dict) -> tuple[list[dg.RunRequest], list[str], dict]:
    """(run requests, why each target has none, the new cursor) for the plans now stored."""
    latest = stored_plans.latest_plan_ids(conn)
    if not latest:
        return [], ["no sync plan is stored yet (reconcile_job writes them)"], cursor
    approved = approvals.approved(conn, approvals.PLAN, list(latest.values()))
    rows_approved = approvals.count(conn, approvals.ROW)
    seen = fingerprint(latest, approved, rows_approved)
    if cursor.get("plans") == seen:
        return [], [f"no new plan since the last evaluation ({', '.join(latest.values())})"], cursor
    new_cursor = {**cursor, "plans": seen}
    requests, reasons = [], []
    for target, plans in pushable_plans(conn, latest, held_too=bool(rows_approved)).items():
        if not plans:
            reasons.append(f"{target}: the latest plans have nothing to push to {target}")
            continue
        fp = fingerprint(plans, approved, rows_approved)
        if cursor.get(target) == fp:
            reasons.append(f"{target}: plans {', '.join(plans.values())} were already requested (push-{target}-{fp})")
            continue
        new_cursor[target] = fp
        requests.append(dg.RunRequest(
            run_key=f"push-{target}-{fp}", job_name=PUSH_JOBS[target].name,
            tags={PLANS_TAG: ",".join(f"{r}={p}" for r, p in plans.items())}))
    return requests, reasons, new_cursor


def build_push_sensor(status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    @dg.sensor(name="push_new_plan_sensor", jobs=[push_xero_job, push_salesforce_job], minimum_interval_seconds=60,
               default_status=status,
               description="Launches push_xero_job / push_salesforce_job when a new sync plan has rows to write "
                           "to that system; the same plans are never pushed twice by the sensor.")
    def push_new_plan_sensor(context: dg.SensorEvaluationContext, staging: StagingDatabase):
        running = context.instance.get_runs(
            filters=dg.RunsFilter(job_name=reconcile_job.name, statuses=list(IN_PROGRESS)), limit=1)
        if running:
            return dg.SkipReason(f"reconcile_job run {running[0].run_id} is {running[0].status.value}: "
                                 "waiting for the plans it writes")
        cursor = json.loads(context.cursor) if context.cursor else {}
        try:
            with staging.engine.connect() as conn:
                requests, reasons, new_cursor = evaluate(conn, cursor)
        finally:
            staging.dispose()
        if requests:
            # The other target's reason, if any, is only logged: a tick that launches runs has no skip reason.
            for line in [f"new plans to push: {r.run_key} ({r.tags[PLANS_TAG]})" for r in requests] + reasons:
                context.log.info(line)
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(new_cursor, sort_keys=True),
                               skip_reason=None if requests else "; ".join(reasons))

    return push_new_plan_sensor
