"""Plan assets (one per recipe, docs/architecture.md §5) and the daily reconciliation report.

A recipe declared in sfxero.yaml (config/declared.py) gets a plan asset of its own,
`sync_plan_<code>`, made from the configuration the code location loads.

Recipes that share a matching are computed together in one multi-asset (R1/R4/R5 on Accounts ↔
Contacts, R2/R3/R7 on Opportunities and Orders ↔ invoices, R6 on overdue Contacts ↔ Campaign
members) and materialize one asset per recipe. Each stores its
plan in `sync_plan` (unchanged inputs → the identical plan, not rewritten) and reports counts.
Nothing here calls an API: the push step turns plan rows into calls.
"""


import os

import dagster as dg

from ...config import load_config
from ...recipes import R1, WRITES_TO
from ...reconcile.build import FAMILIES, build_declared, build_family
from ...reconcile.declared import declared_tables
from ...reconcile.plan import ACTIONS
from ...reconcile.preview import PREVIEW_ROWS, markdown as plan_markdown, plan_names
from ...staging.state.plans import write_plan
from ...staging.state.tokens import serving_tenant
from ...reconcile.amount_causes import CAUSES, amount_causes, markdown as causes_markdown
from ...reconcile.report import amount_totals, markdown, recipe_counts
from ..recipe_roles import FAMILY_TABLES, RECIPE_TITLES, enabled, plan_description
from ..staging.resources import StagingDatabase

GROUP = "reconciliation"
FAMILY_DEPS = FAMILY_TABLES  # each plan asset depends on the staged tables its family reads
#: The recipes whose stored plans a family reads: R6 finds the customers R1's plan matches (planned after it).
PLANS_READ = {"campaigns": (R1,)}


def plan_key(recipe: str) -> str:
    return f"sync_plan_{recipe.lower()}"


def writes_tag(system: str) -> str:
    """The tag a plan asset carries when its rows go to `system` (the push job of that system selects
    the blocking checks of those plans by it)."""
    return f"sfxero/writes_{system}"


def writes_tags(systems) -> dict[str, str]:
    return {writes_tag(s): "true" for s in sorted(systems)}


def build_plan_asset(family: str) -> dg.AssetsDefinition:
    recipes = FAMILIES[family]

    @dg.multi_asset(
        name=f"plan_{family}",
        specs=[dg.AssetSpec(plan_key(r), group_name=GROUP, kinds={"sql", "python"},
                            deps=[*FAMILY_DEPS[family], *(plan_key(v) for v in PLANS_READ.get(family, ()))],
                            description=plan_description(r),
                            tags={"sfxero/recipe": r, "sfxero/enabled": str(enabled(r)).lower(),
                                  **writes_tags({WRITES_TO[r]})},
                            metadata={"dagster/table_name": "sync_plan", "recipe": r, "enabled": enabled(r)})
               for r in recipes],
        can_subset=False,
    )
    def _plan(context: dg.AssetExecutionContext, staging: StagingDatabase):
        cfg = load_config()
        with staging.begin() as conn:
            built = build_family(conn, cfg, family)
            outcome = write_plan(conn, built.rows, recipes=recipes, tenant_id=serving_tenant(conn, os.environ))
            names = plan_names(conn, built.rows, per_action=PREVIEW_ROWS)
        summary, ids = built.summary, built.plan_ids
        for recipe in recipes:
            counts = summary.get(recipe, dict.fromkeys(ACTIONS, 0))
            yield dg.MaterializeResult(asset_key=plan_key(recipe), metadata={
                "plan_id": ids.get(recipe, ""), "stored": outcome.get(recipe, "empty"),
                "dagster/row_count": sum(counts.values()), **{f"rows_{a}": n for a, n in counts.items()},
                "run_id": context.run.run_id,
                "preview": dg.MetadataValue.md(plan_markdown(
                    recipe, RECIPE_TITLES[recipe], built.rows[built.rows.recipe == recipe], names)),
            })

    return _plan


def build_declared_asset(name: str) -> dg.AssetsDefinition:
    """The plan asset of a declared recipe: same rows, storage and metadata as a built-in's."""
    recipe = load_config().recipes.declared[name]
    title = recipe.title or f"{recipe.source.name} → {'Xero ' if recipe.to.xero else 'Salesforce '}{recipe.to.name}"
    state = "" if recipe.enabled else f"Disabled: recipes.{name}.enabled is false in sfxero.yaml, so this plan stays empty. "
    # A ref from Xero, or pairs (`match: [{link: R1}]`), go through another recipe's links, those its plan
    # makes included: planned after it.
    vias = {s.via for s in recipe.fields.values() if s.via} | {recipe.pairs_via}
    refs = sorted({plan_key(v) for v in vias if v and recipe.source.xero})

    @dg.asset(name=plan_key(name), group_name=GROUP, kinds={"sql", "python"}, deps=[*declared_tables(recipe), *refs],
              tags={"sfxero/recipe": name, "sfxero/enabled": str(recipe.enabled).lower(), "sfxero/declared": "true",
                    **writes_tags(recipe.writes_to)},
              metadata={"dagster/table_name": "sync_plan", "recipe": name, "enabled": recipe.enabled},
              description=f"{state}The {name} sync plan ({title}, declared in sfxero.yaml): what the next push "
                          "creates, updates or holds, record by record with the fields that differ, stored in sync_plan.")
    def _plan(context: dg.AssetExecutionContext, staging: StagingDatabase) -> dg.MaterializeResult:
        cfg = load_config()
        with staging.begin() as conn:
            built = build_declared(conn, cfg, name)
            outcome = write_plan(conn, built.rows, recipes=(name,))
            names = plan_names(conn, built.rows, per_action=PREVIEW_ROWS)
        counts = built.summary.get(name, dict.fromkeys(ACTIONS, 0))
        return dg.MaterializeResult(metadata={
            "plan_id": built.plan_ids.get(name, ""), "stored": outcome.get(name, "empty"),
            "dagster/row_count": sum(counts.values()), **{f"rows_{a}": n for a, n in counts.items()},
            "run_id": context.run.run_id, "preview": dg.MetadataValue.md(plan_markdown(name, title, built.rows, names)),
        })

    return _plan


plan_assets = [build_plan_asset(f) for f in FAMILIES]
#: Declared recipes' codes, as the configuration loaded with the code location names them.
DECLARED = list(load_config().recipes.declared)
declared_plan_assets = [build_declared_asset(n) for n in DECLARED]


@dg.asset(
    group_name=GROUP, kinds={"sql"}, deps=[*(plan_key(r) for f in FAMILIES for r in FAMILIES[f]),
                                           *(plan_key(n) for n in DECLARED)],
    automation_condition=dg.AutomationCondition.on_cron("0 6 * * *"),
    description="Daily: per recipe in sync / to create / to update / to delete / conflicts / held, and amounts per "
                "currency (won Opportunities, and activated Orders with R7, in Salesforce vs ACCREC invoices in Xero).",
)
def reconciliation_report(staging: StagingDatabase) -> dg.MaterializeResult:
    with staging.begin() as conn:
        cfg = load_config()
        counts = recipe_counts(conn, cfg)
        totals = amount_totals(conn, cfg)
        causes = amount_causes(conn, cfg, {t["currency"]: t["difference"] for t in totals})
    schema = dg.TableSchema(columns=[dg.TableColumn(c, "int" if c != "recipe" and c != "plan_id" else "string")
                                     for c in (counts[0] if counts else ["recipe"])])
    amounts = dg.TableSchema(columns=[dg.TableColumn(c, "string" if c == "currency" else "float")
                                      for c in (totals[0] if totals else ["currency", "salesforce_won", "xero_invoiced",
                                                                          "difference"])])
    meta = {
        "report": dg.MetadataValue.md(markdown(counts, totals, causes_markdown(causes))),
        "recipes": dg.MetadataValue.table([dg.TableRecord(r) for r in counts], schema=schema),
        "amounts": dg.MetadataValue.table([dg.TableRecord(r) for r in totals], schema=amounts),
    }
    for cc in causes:
        for cause in CAUSES:
            meta[f"{cc.currency}_{cause}"] = cc.total(cause)
    for r in counts:
        for k, v in r.items():
            if k not in ("recipe", "plan_id"):
                meta[f"{r['recipe']}_{k}"] = v
    return dg.MaterializeResult(metadata=meta)
