"""`sfxero report`: the reconciliation report from staging, in the terminal or (`--html FILE`) as one
self-contained page.

Reads only: today's figures from staging (the latest stored plans, staged amounts, open holds), the
in-sync history from the `reconciliation_report` materializations on the Dagster instance (the last
one of each day over the last 30 days; today's point is today's plans). No API is called.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import click

from . import EXIT_OK

HISTORY_DAYS = 30
#: Report metadata suffixes per recipe (reconcile/report.recipe_counts): in sync vs the rest.
NOT_IN_SYNC = ("to_create", "to_update", "to_delete", "conflicts", "held")


def _share(counts: dict) -> float | None:
    total = counts.get("in_sync", 0) + sum(counts.get(k, 0) for k in NOT_IN_SYNC)
    return counts.get("in_sync", 0) / total if total else None


def history_from_instance(instance, recipes: list[str], today: dt.date) -> dict[str, list[tuple[dt.date, float]]]:
    """recipe → [(day, in-sync share)] from the last `reconciliation_report` materialization of each day."""
    import dagster as dg

    since = dt.datetime.combine(today - dt.timedelta(days=HISTORY_DAYS - 1), dt.time(), dt.timezone.utc)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("reconciliation_report"), after_timestamp=since.timestamp()),
        limit=5000, ascending=True).records
    by_day: dict[dt.date, dict] = {}
    for record in records:  # ascending: a later one of the same day replaces an earlier one
        meta = record.asset_materialization.metadata
        by_day[dt.datetime.fromtimestamp(record.timestamp, dt.timezone.utc).date()] = {
            k: getattr(v, "value", v) for k, v in meta.items()}
    out: dict[str, list[tuple[dt.date, float]]] = {}
    for day, meta in sorted(by_day.items()):
        for recipe in recipes:
            counts = {k[len(recipe) + 1:]: v for k, v in meta.items() if k.startswith(f"{recipe}_")}
            if (share := _share(counts)) is not None:
                out.setdefault(recipe, []).append((day, share))
    return out


def gather(instance, now: dt.datetime | None = None):
    """The page's data: staging for today, the instance for the history."""
    from ..config import load_config
    from ..defs.reconciliation.held import plan_holds
    from ..reconcile.amount_causes import amount_causes
    from ..reconcile.hold_sentences import counts_by_kind, explain_hold, salesforce_web_url
    from ..reconcile.report import amount_totals, recipe_counts
    from ..reconcile.report_html import ReportData
    from ..settings import engine_for, staging_url
    from ..staging.state.holds import has_holds_table, open_holds_detailed
    from ..staging.state.plans import has_plans_table, load_latest

    now = now or dt.datetime.now(dt.timezone.utc)
    cfg = load_config()
    engine = engine_for(staging_url())
    try:
        with engine.connect() as conn:
            counts = recipe_counts(conn, cfg)
            totals = amount_totals(conn, cfg)
            causes = amount_causes(conn, cfg, {t["currency"]: t["difference"] for t in totals})
            holds = open_holds_detailed(conn) if has_holds_table(conn) else []
            if has_plans_table(conn):
                holds += plan_holds(load_latest(conn))
    finally:
        engine.dispose()
    history = history_from_instance(instance, [c["recipe"] for c in counts], now.date()) if instance else {}
    for c in counts:  # today's point is today's plans, whether or not the report asset ran since
        if (share := _share(c)) is not None:
            points = [p for p in history.get(c["recipe"], []) if p[0] != now.date()]
            history[c["recipe"]] = points + [(now.date(), share)]
    sf_url = salesforce_web_url(os.environ)
    held = counts_by_kind(explain_hold(h, sf_url) for h in holds)
    return ReportData(generated_at=now, history=history, counts=counts, totals=totals, causes=causes,
                      held_by_reason=list(held))


def run_report(html_file: str | None) -> int:
    from ..reconcile.amount_causes import markdown as causes_markdown
    from ..reconcile.report import markdown
    from ..reconcile.report_html import render
    from .instance import get_instance

    data = gather(get_instance())
    if html_file:
        Path(html_file).write_text(render(data), encoding="utf-8")
        click.echo(f"Wrote {html_file} (one self-contained page: open it in any browser, or attach it to an email).")
    else:
        click.echo(markdown(data.counts, data.totals, causes_markdown(data.causes)), nl=False)
    return EXIT_OK
