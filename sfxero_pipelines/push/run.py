"""The two push entry points the Dagster assets, the CLI and the benches call.

`push_to_xero` executes the sf_to_xero rows of the latest plans (and their write-backs into
Salesforce); `push_to_salesforce` the xero_to_sf rows. Both are safe to run again at any time —
after a crash, a retry or on a stale plan: the ledger decides what is already done. Each holds the
writer lease of the systems it writes to (`staging/state/lease.py`), so two pushes never write at once.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..staging.state import links
from ..staging.state.lease import WAIT_S, writer_lease
from . import budget
from .report import PushReport
from ..staging.state.plans import load_latest
from .rows import PushRow, load_rows, unwritten
from ..config import PushConfig
from .to_salesforce import SalesforceWriter, SfWrite
from .to_xero import XeroWriter


def _current(plan):
    """The latest plans of recipes that still exist: a recipe removed from sfxero.yaml has no plan asset
    left to clear its stored plan, and a push must never execute a stale one."""
    from ..config import load_config
    from ..recipes import RECIPES

    declared = load_config().recipes.declared
    if plan.empty or plan.recipe.isin(RECIPES).all():
        return plan
    keep = plan.recipe.isin([*RECIPES, *(n for n, r in declared.items() if r.enabled)])
    return plan[keep.to_numpy()].reset_index(drop=True)


def push_to_xero(engine: sa.Engine, xero_client, sf_client, *, cfg: PushConfig, run_id: str | None,
                 only_sources: set[str] | None = None, writer_wait_s: float = WAIT_S) -> PushReport:
    report = PushReport(target="xero")
    # Xero writes and their write-backs into Salesforce: the only writer of both while it runs.
    with writer_lease(engine, [("xero", xero_client.tenant_id), ("salesforce", "")], run_id=run_id,
                      wait_s=writer_wait_s):
        with engine.connect() as conn:
            plan = _current(load_latest(conn))
            rows, link_rows = load_rows(conn, "xero", only_sources=only_sources, plan=plan)
        XeroWriter(engine, xero_client, sf_client, cfg=cfg, run_id=run_id, report=report).push(
            rows, link_rows, unwritten(plan))
    report.api_calls.update(_calls(xero_client, "xero"))
    report.api_calls.update(_calls(sf_client, "salesforce"))
    return report


def sf_write(row: PushRow) -> SfWrite:
    """A xero_to_sf plan row as a Salesforce write: payload {SObject: record, …}. A declared recipe's
    create is an upsert on the field its row is found by (`lookup_by`), and its writes record links
    (not one that pairs through another recipe's links: those are that recipe's)."""
    records = [(sobject, dict(record)) for sobject, record in sorted(row.payload.items()) if isinstance(record, dict)]
    declared = row.diff.get("engine") == "declared"
    return SfWrite(key=row.key, recipe=row.recipe, action=row.action, records=records, hold_table=row.source_table,
                   hold_record=row.source_id, source_id=row.source_id, target_id=row.target_id, written=row.written,
                   note={"plan_id": row.plan_id}, tenant_id=row.tenant_id,
                   upsert_by=row.diff.get("lookup_by") if declared and row.action == "create" else None,
                   link_recipe=row.recipe if declared and row.action in ("create", "update")
                   and not row.diff.get("pairs_via") else None)


def push_to_salesforce(engine: sa.Engine, sf_client, *, cfg: PushConfig, run_id: str | None,
                       only_sources: set[str] | None = None, writer_wait_s: float = WAIT_S) -> PushReport:
    report = PushReport(target="salesforce")
    # One Salesforce org per staging database: the tenant part of its lease is empty.
    with writer_lease(engine, [("salesforce", "")], run_id=run_id, wait_s=writer_wait_s):
        with engine.connect() as conn:
            rows, link_rows = load_rows(conn, "salesforce", only_sources=only_sources, plan=_current(load_latest(conn)))
        # A declared recipe's pairs already in sync, matched by key: the link is all there is to record.
        if declared_links := [r for r in link_rows if r.diff.get("engine") == "declared"]:
            with engine.begin() as conn:
                for tenant in sorted({r.tenant_id for r in declared_links}):
                    report.links_recorded += links.record_links(
                        conn, [(r.recipe, r.target_id, r.source_id) for r in declared_links if r.tenant_id == tenant],
                        tenant_id=tenant)
        report.planned = len(rows)
        # Collections of `salesforce_batch_size` per action: what today's allocation can write.
        rows = budget.within_day_budget(rows, sf_client, cfg.salesforce_batch_size, lambda r: r.action, report)
        SalesforceWriter(engine, sf_client, cfg=cfg, run_id=run_id, report=report).write([sf_write(r) for r in rows])
    report.api_calls.update(_calls(sf_client, "salesforce"))
    return report


def _calls(client, system: str) -> dict[str, int]:
    return {f"{system} {k}": v for k, v in (getattr(client, "api_calls", None) or {}).items()} if client else {}
