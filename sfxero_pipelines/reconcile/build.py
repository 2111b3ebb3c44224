"""Build the whole plan from staging: every enabled recipe, canonical order, content-derived ids.

`build_plan(conn, cfg)` only reads. Callers decide whether to store it (`staging.state.plans.write_plan`, the
Dagster assets) or just show it (`sfxero plan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from ..config import SfxeroConfig
from ..config.wording import Wording
from ..recipes import R1, R2, R3, R4, R5, R6, R7
from . import plan

#: Recipe families planned together (they share one matching) → the recipes they produce.
FAMILIES: dict[str, tuple[str, ...]] = {"contacts": (R1, R4, R5), "invoices": (R2, R3, R7),
                                        "campaigns": (R6,)}
#: The staged tables each family reads (the plan assets depend on them; the real-time lane rebuilds a
#: family when one of them changed).
FAMILY_TABLES: dict[str, list[str]] = {
    "contacts": ["sf_account", "sf_contact", "xero_contact"],
    "invoices": ["sf_opportunity", "sf_opportunity_line_item", "sf_order", "sf_order_item", "sf_product2", "sf_account",
                 "xero_invoice", "xero_item"],
    "campaigns": ["xero_contact", "xero_invoice", "sf_account", "sf_contact", "sf_lead", "sf_campaign",
                  "sf_campaign_member"],
}


@dataclass
class Plan:
    rows: pd.DataFrame
    stats: dict = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, dict[str, int]]:
        return plan.summary(self.rows)

    @property
    def plan_ids(self) -> dict[str, str]:
        return plan.plan_ids(self.rows)


def build_family(conn: sa.Connection, cfg: SfxeroConfig, family: str, planned: pd.DataFrame | None = None) -> Plan:
    """One family's plan; `planned`: the plans built before it in the same pass (R6 finds the customers
    R1 matches in them)."""
    if family == "contacts":
        from .contacts import plan_contacts

        if not any(getattr(cfg.recipes, r).enabled for r in FAMILIES["contacts"]):
            return Plan(plan.finalize([]))
        result = plan_contacts(conn, cfg)
        return Plan(plan.finalize([result.rows]), {"contacts": result.stats})
    if family == "invoices":
        from .invoices import plan_invoices

        if not any(getattr(cfg.recipes, r).enabled for r in FAMILIES["invoices"]):
            return Plan(plan.finalize([]))
        result = plan_invoices(conn, cfg)
        return Plan(plan.finalize([result.rows]), {"invoices": result.stats})
    if family == "campaigns":
        from .campaigns import plan_campaigns

        if not cfg.recipes.R6.enabled:
            return Plan(plan.finalize([]))
        result = plan_campaigns(conn, cfg, planned)
        return Plan(plan.finalize([result.rows]), {"campaigns": result.stats})
    raise ValueError(f"unknown recipe family {family!r}")


def build_declared(conn: sa.Connection, cfg: SfxeroConfig, name: str, planned: pd.DataFrame | None = None,
                   wording: Wording | None = None) -> Plan:
    """One declared recipe's plan (reconcile/declared.py), finalized like a family's. `planned`: the
    plans built before it in the same pass (a ref through R1's links reads R1's pairs there); `wording`:
    what its rows say, if not the engine's words."""
    from .declared import plan_declared

    result = plan_declared(conn, cfg, name, planned, wording)
    return Plan(plan.finalize([result.rows]), {name: result.stats})


def build_plan(conn: sa.Connection, cfg: SfxeroConfig, families: tuple[str, ...] | None = None) -> Plan:
    """Every family's plan (or `families`'), and with all of them every enabled declared recipe's."""
    parts, stats = [], {}
    for family in families or tuple(FAMILIES):
        # R6 reads R1's pairs from the plans built before it; nothing else reads them (at 1M a copy is work).
        reads = family == "campaigns" and cfg.recipes.R6.enabled
        built = build_family(conn, cfg, family, plan.concat(parts) if reads else None)
        parts.append(built.rows)
        stats.update(built.stats)
    for name in (cfg.recipes.declared if families is None else ()):
        r = cfg.recipes.declared[name]
        if r.enabled:
            # Only a recipe into Salesforce reads this pass's plans (its refs through R1's pairs); copying
            # every row planned so far for each recipe into Xero would be work for nothing.
            built = build_declared(conn, cfg, name, plan.concat(parts) if r.to.salesforce else None)
            parts.append(built.rows)
            stats.update(built.stats)
    rows = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else plan.finalize([])
    return Plan(rows, stats)
