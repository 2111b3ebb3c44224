"""The real-time lane's Dagster wiring: a sensor that turns waiting changes into one run per batch.

- `realtime_lane_sensor` (every `TICK_S`, 5 s: as often as `dagster-daemon` evaluates sensors; a tick
  reads the inbox, no API call): asks `realtime/feed.next_batch` for the inbox's webhook events and,
  when the budget-paced interval (at least `realtime.min_poll_interval_s`, 10 s) has passed, one
  composite Salesforce change poll (and, without a webhook receiver, If-Modified-Since
  reads of Xero's Contacts and Invoices paced on the tenant's daily limit: `polls_xero`); a batch becomes a `realtime_lane_job` run with
  `run_key` derived from the event ids (Dagster never launches a run_key twice), the cursor advances.
  While a lane run requested in the last 5 minutes is still queued or starting, a tick skips (nothing
  read, the cursor kept): what changed meanwhile goes in one batch once it runs, so runs never pile up
  in the queue faster than run workers start.
- `realtime_lane_job`: one op running `realtime/lane.run_batch` (extract by id → the suites reading the
  touched tables → the touched families' plans → push of the changed records, under the cycle's
  writer lease and ledger), then marking the batch's inbox events processed. It runs in process
  (a batch is a handful of records: a process per step would cost more than the work).
The scheduled cycle stays the safety net. `realtime.enabled: false` (sfxero.yaml) registers both
STOPPED; `schedules.enabled: false` stops them too, like every sensor. With Salesforce not configured
(e.g. SALESFORCE_LOGIN_URL unset) each tick skips with one reason naming the missing setting: no
poll, no run, no error, the cursor and the inbox kept.
"""

import contextlib
import datetime as dt
import os
from collections.abc import Callable

import dagster as dg

from ...config import RealtimeConfig, SfxeroConfig, load_config
from ...errors import ConfigError
from ...realtime.feed import next_batch
from ...realtime.lane import Changes, run_batch
from ...staging.state import inbox
from ..salesforce.resources import SalesforceResource, salesforce_resource_from_env
from ..staging.resources import StagingDatabase
from ..xero.resources import XeroResource, xero_resource_from_env

LANE_TAG = "sfxero/lane"
#: The daemon's sensor loop runs every 5 s: a webhook event waits at most that long for its tick.
TICK_S = 5
#: The sensor's own minimum interval, below the loop's: at 5 s (the loop's period) a tick whose loop
#: came a few ms early was skipped, so ticks came 5 or 10 s apart (4 gaps of 10 s in 11, measured);
#: at 1 s the loop alone paces it.
MIN_INTERVAL_S = 1
#: The sensor's skip reason while Salesforce is not configured (the lane's one idle state for it).
SKIP_NOT_CONFIGURED = "Salesforce is not configured"


class LaneBatchConfig(dg.Config):
    #: "<system>:<object>:<id>" per changed record (system: salesforce or xero), readable in the launchpad.
    records: list[str] = []
    inbox_ids: list[int] = []

    def changes(self) -> Changes:
        out = Changes()
        for entry in self.records:
            system, obj, record_id = entry.split(":", 2)
            getattr(out, system).setdefault(obj, []).append(record_id)
        return out


def batch_config(changes: Changes, inbox_ids: list[int]) -> LaneBatchConfig:
    records = [f"{system}:{obj}:{i}" for system in ("salesforce", "xero")
               for obj, ids in getattr(changes, system).items() for i in ids]
    return LaneBatchConfig(records=records, inbox_ids=inbox_ids)


@dg.op(description="One real-time batch: the changed records through extract by id, checks, reconcile and push.")
def lane_batch(context: dg.OpExecutionContext, config: LaneBatchConfig, staging: StagingDatabase,
               salesforce: SalesforceResource, xero: XeroResource) -> dg.Output:
    cfg = load_config()
    with salesforce.get_client() as sf, xero.get_client() as x:
        report = run_batch(staging.engine, sf, x, config.changes(), cfg=cfg, run_id=context.run.run_id)
    if report.blocked:
        # Checks before push: nothing was written; the events stay for the cycle to judge again.
        raise dg.Failure(description="a blocking check failed: " + "; ".join(report.blocked))
    with staging.begin() as conn:
        inbox.mark_processed(conn, config.inbox_ids)
    return dg.Output(None, metadata={"staged": dg.MetadataValue.json(report.staged), "written": report.written,
                                     "held_now": sum(report.held.values()), "families": ", ".join(report.families),
                                     "stage_seconds": dg.MetadataValue.json(report.seconds)})


@dg.job(name="realtime_lane_job", tags={LANE_TAG: "batch"}, executor_def=dg.in_process_executor,
        description="A real-time batch of changed records: extract by id → checks → reconcile → push.")
def realtime_lane_job():
    lane_batch()


def not_configured(salesforce: SalesforceResource) -> str | None:
    """Why Salesforce cannot be reached as configured (one line), or None when it can be tried."""
    try:
        salesforce.settings()
    except ConfigError as exc:
        return str(exc)
    return None


def polls_xero(realtime: RealtimeConfig, environ=os.environ) -> bool:
    """Whether the lane polls Xero: `xero_poll: on`, or `auto` without XERO_WEBHOOK_KEY (no receiver can
    run without it, so no webhook reaches the inbox)."""
    return realtime.xero_poll == "on" or (realtime.xero_poll == "auto" and not environ.get("XERO_WEBHOOK_KEY"))


def build_lane_sensor(status: dg.DefaultSensorStatus,
                      salesforce: Callable[[], SalesforceResource] = salesforce_resource_from_env,
                      xero: Callable[[], XeroResource] = xero_resource_from_env) -> dg.SensorDefinition:
    """`salesforce` and `xero` build the resources on each tick (from the environment by default). They
    are not Dagster resource parameters on purpose: Dagster resolves those before the tick, and an unset
    SALESFORCE_LOGIN_URL would then fail every tick with a config error instead of one clear skip."""

    @dg.sensor(name="realtime_lane_sensor", job=realtime_lane_job, default_status=status,
               minimum_interval_seconds=MIN_INTERVAL_S,
               description="Webhook events and the Salesforce change poll → one lane run per batch of changes.")
    def realtime_lane_sensor(context: dg.SensorEvaluationContext, staging: StagingDatabase):
        resource = salesforce()
        missing = not_configured(resource)
        if missing is not None:
            # Nothing polled, nothing launched, the cursor kept: waiting webhook events stay in the inbox
            # for the lane once Salesforce is set up, or for the cycle.
            return dg.SkipReason(f"{SKIP_NOT_CONFIGURED}: {missing}. Set it up, or switch the lane off "
                                 "(sfxero.yaml realtime.enabled: false)")
        now = dt.datetime.now(dt.timezone.utc)
        if launching(context.instance, now):
            # The changes wait and go together in the next batch: a run per tick while run workers are
            # still starting would queue faster than a loaded machine starts them (and repeat the
            # waiting inbox events in each). Nothing polled, the cursor and the inbox kept.
            return dg.SkipReason("a lane run is still starting: changes wait for the next batch")
        cfg = load_config()
        with contextlib.ExitStack() as stack:
            sf = stack.enter_context(resource.get_client())
            x = stack.enter_context(xero().get_client()) if polls_xero(cfg.realtime) else None
            conn = stack.enter_context(staging.engine.connect())
            batch, cursor = next_batch(conn, sf, context.cursor, cfg, now, xero_client=x)
        context.update_cursor(cursor)
        if batch is None:
            return dg.SkipReason("no change since the last tick")
        return dg.RunRequest(run_key=batch.run_key,
                             run_config=dg.RunConfig(ops={"lane_batch": batch_config(batch.changes, batch.inbox_ids)}))

    return realtime_lane_sensor


#: Lane runs not yet executing their op; one older than `LAUNCH_GRACE` no longer holds the lane back (a
#: worker that died starting it leaves it there until run monitoring fails it).
LAUNCHING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]
LAUNCH_GRACE = dt.timedelta(minutes=5)


def launching(instance: dg.DagsterInstance, now: dt.datetime) -> bool:
    """Whether a lane run requested lately is still waiting to start."""
    return instance.get_runs_count(dg.RunsFilter(job_name=realtime_lane_job.name, statuses=LAUNCHING,
                                                 created_after=now - LAUNCH_GRACE)) > 0


def lane_status(config: SfxeroConfig, sensor_status: dg.DefaultSensorStatus) -> dg.DefaultSensorStatus:
    return sensor_status if config.realtime.enabled else dg.DefaultSensorStatus.STOPPED
