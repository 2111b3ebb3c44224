"""The daily reconciliation report: per recipe what is in sync / to create / to update / to delete /
in conflict / held (every enabled recipe, with or without a stored plan), amount totals per currency
on both sides (won Opportunities vs ACCREC invoices), and why they differ (`amount_causes`)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from ..config import SfxeroConfig
from ..recipes import R2, R7, RECIPES
from . import load
from .invoices import activated
from .plan import ACTIONS
from ..staging.state import plans


def enabled_recipes(cfg: SfxeroConfig) -> list[str]:
    """Enabled built-in recipes in code order, then the enabled declared ones."""
    return [*(r for r in RECIPES if getattr(cfg.recipes, r).enabled),
            *(n for n, d in cfg.recipes.declared.items() if d.enabled)]


def recipe_counts(conn: sa.Connection, cfg: SfxeroConfig | None = None) -> list[dict]:
    """From the latest stored plan of each recipe; with `cfg`, every enabled recipe is listed (all
    zeros and no plan id when it has no stored plan) and a disabled recipe's old plan is left out."""
    stored = {recipe: (plan_id, counts) for recipe, plan_id, counts in plans.action_counts(conn)}
    names = sorted(stored) if cfg is None else enabled_recipes(cfg)
    out = []
    for recipe in names:
        plan_id, counts = stored.get(recipe, ("", {}))
        row = {"recipe": recipe, "plan_id": plan_id, "in_sync": counts.get("skip", 0)}
        row.update({("to_" + a if a in ("create", "update", "delete") else a + ("s" if a == "conflict" else "")):
                    int(counts.get(a, 0)) for a in ACTIONS if a != "skip"})
        out.append(row)
    return out


def amount_totals(conn: sa.Connection, cfg: SfxeroConfig | None = None) -> list[dict]:
    """currency → invoiced in Salesforce (won Opportunities; activated Orders too when R7 is on) and
    in Xero (ACCREC, not deleted/voided). `difference` compares Xero with what the enabled invoice
    recipes (R2, R7) invoice from."""
    recipes = (cfg or SfxeroConfig()).recipes

    def per_currency(recipe: str) -> dict[str, float]:
        src = invoice_sources(conn, recipe)
        if src is None:
            return {}
        return {c or "?": round(float(total or 0), 2) for c, total in conn.exec_driver_sql(
            f"SELECT {src.currency}, sum({src.amount}) FROM {src.rows} GROUP BY {src.currency}").fetchall()}

    sf = per_currency(R2)
    orders = per_currency(R7) if recipes.R7.enabled else {}
    xero = {c: round(total, 2) for c, total in xero_invoiced(conn).items()}
    out = []
    for c in sorted(set(sf) | set(orders) | set(xero)):
        row = {"currency": c, "salesforce_won": sf.get(c, 0.0)}
        invoiced_from = sf.get(c, 0.0) if recipes.R2.enabled else 0.0
        if recipes.R7.enabled:
            row["salesforce_orders"] = orders.get(c, 0.0)
            invoiced_from += orders.get(c, 0.0)
        row.update({"xero_invoiced": xero.get(c, 0.0), "difference": round(invoiced_from - xero.get(c, 0.0), 2)})
        out.append(row)
    return out


@dataclass(frozen=True)
class InvoiceSources:
    """What an invoice recipe invoices from, as SQL pieces over the staged table (alias `s`): the
    report's totals and `amount_causes`' records select the same rows through this one definition."""

    rows: str  # "<table> s WHERE <the recipe's sources>"
    id: str
    name: str  # NULL when the table has no such column
    currency: str  # NULL when the org is single-currency
    amount: str


def invoice_sources(conn: sa.Connection, recipe: str) -> InvoiceSources | None:
    """R2: won Opportunities; R7: activated Orders (not deleted at the source). None when the table,
    or the column telling a source apart, is not staged."""
    table, flag = {R2: ("sf_opportunity", "iswon"), R7: ("sf_order", "totalamount")}[recipe]
    if not load.has_table(conn, table):
        return None
    have = load.table_columns(conn, table)
    if flag not in have:
        return None
    currency = "s.currencyisocode" if "currencyisocode" in have else "NULL"
    if recipe == R2:
        return InvoiceSources(f"sf_opportunity s WHERE NOT s.is_deleted AND {load.bool_true(conn, 's.iswon')}",
                              "s.id", "s.name", currency, "s.amount")
    return InvoiceSources(f"sf_order s WHERE NOT s.is_deleted AND {activated(have, 's')}", "s.id",
                          "s.ordernumber" if "ordernumber" in have else "NULL", currency, "s.totalamount")


#: Xero's invoices that count as invoiced: staged, not deleted at the source, not deleted or voided.
LIVE_INVOICES = "xero_invoice WHERE NOT is_deleted AND status NOT IN ('DELETED', 'VOIDED')"


def xero_invoiced(conn: sa.Connection) -> dict[str, float]:
    """currency → total of the ACCREC invoices in Xero (staged), not deleted or voided."""
    if not load.has_table(conn, "xero_invoice"):
        return {}
    return {c or "?": float(total or 0) for c, total in conn.exec_driver_sql(
        f"SELECT currency_code, sum(total) FROM {LIVE_INVOICES} GROUP BY currency_code").fetchall()}


def markdown(counts: list[dict], totals: list[dict], causes: str = "") -> str:
    def table(rows: list[dict]) -> str:
        if not rows:
            return "_none_\n"
        cols = list(rows[0])
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
        return "\n".join(lines) + "\n"

    return ("### Per recipe\n" + table(counts) + "\n### Amounts per currency\n" + table(totals)
            + ("\n### Why the amounts differ\n" + causes if causes else ""))


def as_frame(counts: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(counts)
