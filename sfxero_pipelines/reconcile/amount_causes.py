"""Why the amounts per currency differ: the reconciliation report's difference split into causes.

The report's `difference` per currency is what the enabled invoice recipes (R2 won Opportunities,
R7 activated Orders) invoice from, minus what Xero has invoiced (ACCREC, not deleted or voided).
Each record lands in exactly one cause, with its signed share of the difference:

- `won_not_invoiced`: a Salesforce source with no Xero invoice yet (+ its amount);
- `invoiced_without_source`: a Xero invoice no Salesforce source is matched to (− its total);
- `amounts_differ`: a source and its matched invoice whose amounts differ (+ amount − total);
- `held`: a source the latest plan holds, so nothing is invoiced from it (+ its amount).

Matching is the latest stored plan's (its `target_id` on the source's row), so the report says
what the next push would act on. `unexplained` is whatever the causes leave over (0 unless the
staged tables changed under the plan); it is shown, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from ..config import SfxeroConfig
from ..recipes import R2, R7
from ..staging.state.plans import has_plans_table, load_latest
from . import load
from .report import LIVE_INVOICES, invoice_sources

CAUSES = ("won_not_invoiced", "invoiced_without_source", "amounts_differ", "held")
CAUSE_TITLES = {
    "won_not_invoiced": "Won in Salesforce, not yet invoiced in Xero",
    "invoiced_without_source": "Invoiced in Xero with no Salesforce source",
    "amounts_differ": "Linked, but the amounts differ",
    "held": "Held (not invoiced until fixed)",
}
#: A difference below half a cent is rounding, not a cause.
CENT = 0.005


@dataclass
class Record:
    name: str
    salesforce_id: str
    xero_id: str
    amount: float  # its signed share of the difference


@dataclass
class CurrencyCauses:
    currency: str
    difference: float
    causes: dict[str, list[Record]] = field(default_factory=lambda: {c: [] for c in CAUSES})

    def total(self, cause: str) -> float:
        return round(sum(r.amount for r in self.causes[cause]), 2)

    @property
    def unexplained(self) -> float:
        return round(self.difference - sum(self.total(c) for c in CAUSES), 2)


def _sources(conn: sa.Connection, cfg: SfxeroConfig) -> dict[str, tuple[str, str, str, float]]:
    """source id → (recipe, name, currency, amount) for the enabled invoice recipes' records."""
    out: dict[str, tuple[str, str, str, float]] = {}
    for recipe in (R2, R7):
        src = invoice_sources(conn, recipe) if getattr(cfg.recipes, recipe).enabled else None
        if src is None:
            continue
        for i, name, c, amount in conn.exec_driver_sql(
                f"SELECT {src.id}, {src.name}, {src.currency}, {src.amount} FROM {src.rows}").fetchall():
            shown = (name or i) if recipe == R2 else (f"Order {name}" if name else i)
            out[i] = (recipe, shown, c or "?", float(amount or 0))
    return out


def _invoices(conn: sa.Connection) -> dict[str, tuple[str, str, float]]:
    """invoice id → (number, currency, total) of Xero's live ACCREC invoices."""
    if not load.has_table(conn, "xero_invoice"):
        return {}
    return {i: (number or i, c or "?", float(total or 0)) for i, number, c, total in conn.exec_driver_sql(
        f"SELECT id, invoice_number, currency_code, total FROM {LIVE_INVOICES}").fetchall()}


def amount_causes(conn: sa.Connection, cfg: SfxeroConfig, differences: dict[str, float]) -> list[CurrencyCauses]:
    """Per currency of `differences` (the report's currency → difference), the records behind it."""
    sources, invoices = _sources(conn, cfg), _invoices(conn)
    plan = load_latest(conn) if has_plans_table(conn) else None
    rows: dict[str, tuple[str, str | None]] = {}  # source id → (action, matched invoice id)
    if plan is not None and len(plan):
        for r in plan[plan.recipe.isin([R2, R7])].itertuples(index=False):
            rows[r.source_id] = (r.action, r.target_id if isinstance(r.target_id, str) else None)
    out = {c: CurrencyCauses(c, d) for c, d in differences.items()}

    def add(currency: str, cause: str, record: Record) -> None:
        out.setdefault(currency, CurrencyCauses(currency, 0.0)).causes[cause].append(record)

    matched: set[str] = set()
    for source_id, (_recipe, name, currency, amount) in sorted(sources.items(), key=lambda kv: kv[1][1]):
        action, target = rows.get(source_id, ("create", None))
        if action == "held":
            add(currency, "held", Record(name, source_id, target or "", round(amount, 2)))
        elif target in invoices:
            matched.add(target)
            number, inv_currency, total = invoices[target]
            if inv_currency != currency:  # each side counts in its own currency
                add(currency, "amounts_differ", Record(name, source_id, target, round(amount, 2)))
                add(inv_currency, "amounts_differ", Record(number, source_id, target, round(-total, 2)))
            elif abs(amount - total) >= CENT:
                add(currency, "amounts_differ", Record(f"{name} / {number}", source_id, target, round(amount - total, 2)))
        else:
            add(currency, "won_not_invoiced", Record(name, source_id, "", round(amount, 2)))
    for invoice_id, (number, currency, total) in sorted(invoices.items(), key=lambda kv: kv[1][0]):
        if invoice_id not in matched:
            add(currency, "invoiced_without_source", Record(number, "", invoice_id, round(-total, 2)))
    return [out[c] for c in sorted(out)]


def markdown(causes: list[CurrencyCauses], *, per_cause: int = 20) -> str:
    """Per currency: each cause's total and up to `per_cause` of its records (largest first)."""
    if not causes:
        return "_no amounts staged_\n"
    lines: list[str] = []
    for cc in causes:
        lines.append(f"#### {cc.currency}: difference {cc.difference:,.2f} (Salesforce − Xero)")
        lines += ["| cause | amount | records |", "|---|---:|---:|"]
        lines += [f"| {CAUSE_TITLES[c]} | {cc.total(c):,.2f} | {len(cc.causes[c])} |" for c in CAUSES]
        if abs(cc.unexplained) >= CENT:
            lines.append(f"| Not explained (the staged tables changed after the plan) | {cc.unexplained:,.2f} | |")
        for c in CAUSES:
            recs = sorted(cc.causes[c], key=lambda r: -abs(r.amount))
            if not recs:
                continue
            lines.append(f"\n{CAUSE_TITLES[c]}:")
            lines += [f"- {r.name}: {r.amount:,.2f}" + (f" (Salesforce {r.salesforce_id})" if r.salesforce_id else "")
                      + (f" (Xero {r.xero_id})" if r.xero_id else "") for r in recs[:per_cause]]
            if len(recs) > per_cause:
                lines.append(f"- … and {len(recs) - per_cause} more")
        lines.append("")
    return "\n".join(lines) + "\n"
