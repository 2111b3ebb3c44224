"""Push assets: one per target system, each the latest plan's writes to that system.

`xero_push` writes the sf_to_xero rows (Contacts, invoices) and, in the same step, their links and
write-backs into Salesforce; `salesforce_push` writes the xero_to_sf rows. Both read only the
stored plan (`sync_plan`) and the ledger: rerunning either, after a crash or a retry, never writes
a record twice. A write whose outcome stays unknown (the target kept failing) fails the step, so
the retry policy reruns it and the ledger resolves it by lookup. Rejected records are held and
listed by the `held_records` check of each asset.
"""


import dagster as dg

from ...config import load_config
from ...push.report import PushReport
from ...push.run import push_to_salesforce, push_to_xero
from ...reconcile.build import FAMILIES
from ..reconciliation.assets import DECLARED, plan_key
from ..salesforce.resources import SalesforceResource
from ..queues import SALESFORCE_QUEUE, XERO_QUEUE
from ..sync.tags import SALESFORCE_POOL, xero_pool
from ..retries import only_transient_retried
from ..staging.resources import StagingDatabase
from ..xero.resources import XeroResource

GROUP = "push"
PLAN_ASSETS = [*(plan_key(r) for family in FAMILIES.values() for r in family), *(plan_key(n) for n in DECLARED)]
#: Transient trouble (a 5xx streak, a dropped connection) is retried by rerunning the step: safe,
#: because the ledger makes a rerun resume instead of repeat.
RETRY = dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def _result(context: dg.AssetExecutionContext, report: PushReport) -> dg.MaterializeResult:
    meta = report.metadata()
    context.log.info(f"push to {report.target}: " + ", ".join(f"{k} {v}" for k, v in meta.items()))
    out = {**meta, "dagster/row_count": report.written, "by_recipe": dg.MetadataValue.json(dict(report.by_recipe)),
           "api_calls": dg.MetadataValue.json(dict(report.api_calls)), "run_id": context.run.run_id}
    if report.held:
        out["held_sample"] = dg.MetadataValue.json(report.held[:20])
    if report.waiting:
        context.log.warning(f"push to {report.target}: {len(report.waiting)} write(s) {report.waiting_reason}")
        out["waiting_sample"] = dg.MetadataValue.json(report.waiting[:20])
    return dg.MaterializeResult(metadata=out)


def _guarded(context: dg.AssetExecutionContext, fn) -> PushReport:
    # Only transient trouble is rerun; an auth error, an exhausted budget or a configuration error
    # stops the step with its reason.
    with only_transient_retried():
        return fn()


@dg.asset(group_name=GROUP, kinds={"xero"}, pool=xero_pool(), op_tags=XERO_QUEUE, deps=PLAN_ASSETS, retry_policy=RETRY,
          description="Writes the sync plan's Salesforce → Xero rows (R1 Contacts, R2 invoices): batches of 50 with "
                      "Idempotency-Keys, ledger before and after each call, links and write-backs in the same step.")
def xero_push(context: dg.AssetExecutionContext, xero: XeroResource, salesforce: SalesforceResource,
              staging: StagingDatabase) -> dg.MaterializeResult:
    cfg = load_config().push

    def run() -> PushReport:
        with xero.get_client() as x, salesforce.get_client() as s:
            return push_to_xero(staging.engine, x, s, cfg=cfg, run_id=context.run.run_id)

    return _result(context, _guarded(context, run))


@dg.asset(group_name=GROUP, kinds={"salesforce"}, pool=SALESFORCE_POOL, op_tags=SALESFORCE_QUEUE,
          deps=[*PLAN_ASSETS, "xero_push"],
          retry_policy=RETRY,
          description="Writes the sync plan's Xero → Salesforce rows (R1 write-backs, R3 status and payments, R4 "
                      "balances, R5 Xero-owned fields): sObject Collections of 200, Bulk 2.0 above the threshold.")
def salesforce_push(context: dg.AssetExecutionContext, salesforce: SalesforceResource,
                    staging: StagingDatabase) -> dg.MaterializeResult:
    cfg = load_config().push

    def run() -> PushReport:
        with salesforce.get_client() as s:
            return push_to_salesforce(staging.engine, s, cfg=cfg, run_id=context.run.run_id)

    return _result(context, _guarded(context, run))
