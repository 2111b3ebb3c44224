"""`held_records_overview`: every held record of every stage, as sentences a person can act on.

Gathers the open holds (check and push, from `held_record`) and the latest plans' `held` rows
(reconcile), explains each (`reconcile/hold_sentences.py`) with links that open the record in
Salesforce and Xero, and counts them by reason. In the reconciliation group, so every reconcile
run refreshes it; nothing here calls an API.
"""

from __future__ import annotations

import os

import dagster as dg

from ...recipes import R1, R2, R3, R4, R5, R6, R7
from ...reconcile.hold_sentences import counts_by_kind, explain_hold, markdown, salesforce_web_url
from ...staging.state.holds import open_holds_detailed
from ...staging.state.plans import has_plans_table, load_latest
from ..staging.resources import StagingDatabase
from .assets import GROUP, plan_assets

#: Which staged table a plan's `held` row is about, by recipe (its source record's table).
RECIPE_SOURCE_TABLE = {R1: "sf_account", R2: "sf_opportunity", R3: "sf_opportunity", R4: "xero_contact",
                       R5: "xero_contact", R6: "xero_contact", R7: "sf_order"}


def plan_holds(plan) -> list[dict]:
    """The latest plans' `held` rows, shaped like holds (stage `reconcile`)."""
    held = plan[plan.action == "held"] if len(plan) else plan
    return [{"stage": "reconcile", "table_name": RECIPE_SOURCE_TABLE.get(r.recipe, ""), "record_id": r.source_id,
             "reason": r.reason, "detail": {"recipe": r.recipe}, "held_at": r.created_at}
            for r in held.itertuples(index=False)]


@dg.asset(
    group_name=GROUP, kinds={"sql"}, deps=[s.key for a in plan_assets for s in a.specs],
    description="Every held record (check, reconcile, push) with what is wrong, how to fix it, and links to the "
                "record in Salesforce and Xero; counts by reason.",
)
def held_records_overview(staging: StagingDatabase) -> dg.MaterializeResult:
    with staging.begin() as conn:
        holds = open_holds_detailed(conn)
        plan = load_latest(conn) if has_plans_table(conn) else None
    if plan is not None:
        holds += plan_holds(plan)
    sf_url = salesforce_web_url(os.environ)
    counts = counts_by_kind(explain_hold(h, sf_url) for h in holds)
    return dg.MaterializeResult(metadata={
        "held": len(holds),
        **{f"held_{stage}": sum(1 for h in holds if h["stage"] == stage) for stage in ("check", "reconcile", "push")},
        "overview": dg.MetadataValue.md(markdown(holds, sf_url)),
        "by_reason": dg.MetadataValue.json(dict(counts)),
    })
