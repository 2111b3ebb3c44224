"""`sfxero status`: last runs, API budget left, writes waiting for the next day's budget, plans waiting
for approval, held records — read from the instance and staging only.

A run abandoned by a dead `sfxero` process is marked failed first (its slots freed), and its line says so.
No API call is made: the budget shown is what the last extract or push reported (Salesforce's
`Sforce-Limit-Info`, Xero's rate-limit headers), with the time it was reported.
"""

from __future__ import annotations

import datetime as dt
import json

import click

from ..config import load_config
from ..push.guard import waiting_for_approval
from ..reconcile.deletes import stored_waiting, waiting_what
from ..staging.state.holds import open_holds_by_stage
from . import EXIT_HELD, EXIT_OK
from .abandoned import ABANDONED_TAG, reap_abandoned_runs
from .instance import get_instance

#: Assets whose materializations report each system's budget (the busiest reader of each).
BUDGET_ASSETS = {"salesforce": "sf_account", "xero": "xero_invoice"}
PUSH_ASSETS = ("xero_push", "salesforce_push")
SHOWN_HOLDS = 20


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "-"


def print_runs(instance, limit: int = 10) -> None:
    records = instance.get_run_records(limit=limit)
    click.echo(f"Last runs ({len(records)}):")
    for rec in records:
        run = rec.dagster_run
        took = f"{rec.end_time - rec.start_time:.1f}s" if rec.start_time and rec.end_time else ""
        click.echo(f"  {_when(rec.start_time or rec.create_timestamp.timestamp()):<24}{run.job_name:<24}"
                   f"{run.status.value:<10}{took:>8}  {run.run_id[:8]}")
        if note := run.tags.get(ABANDONED_TAG):
            click.echo(f"    {note}")


def print_budget(instance) -> None:
    import dagster as dg

    click.echo("API budget (as last reported):")
    for system, asset in BUDGET_ASSETS.items():
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
        meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
        budget = getattr(meta.get("api_budget"), "value", None) or getattr(meta.get("api_budget"), "data", None)
        if not budget:
            click.echo(f"  {system:<11}no extract reported yet")
            continue
        shown = ", ".join(f"{k} {v}" for k, v in sorted(budget.items()) if v is not None)
        click.echo(f"  {system:<11}{shown}  (at {_when(event.timestamp)})")


def print_holds(holds: list[dict]) -> None:
    click.echo(f"Held records: {len(holds)}" + (" (fix them, then `sfxero replay`)" if holds else ""))
    counts: dict[tuple[str, str], int] = {}
    for h in holds:
        counts[(h["stage"], h["table_name"])] = counts.get((h["stage"], h["table_name"]), 0) + 1
    for (stage, table), n in sorted(counts.items()):
        click.echo(f"  {stage:<8}{table:<28}{n:>6}")
    import os

    from ..reconcile.hold_sentences import explain_hold, salesforce_web_url

    sf_url = salesforce_web_url(os.environ)
    for h in holds[:SHOWN_HOLDS]:
        explained = explain_hold(h, sf_url)
        click.echo(f"  - {h['stage']}/{h['table_name']} {h['record_id']}: {explained.sentence}")
        click.echo(f"      rule: {str(h['reason'])[:160]}")
        for label, url in explained.links:
            click.echo(f"      {label}: {url}")
    if len(holds) > SHOWN_HOLDS:
        click.echo(f"  … and {len(holds) - SHOWN_HOLDS} more (`sfxero status --json` lists all)")


def budget_waits(instance) -> list[dict]:
    """Writes the last push of each target left in the plan for the next day's API budget."""
    import dagster as dg

    out = []
    for asset in PUSH_ASSETS:
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
        meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
        waiting = getattr(meta.get("waiting_for_budget"), "value", None)
        if waiting:
            sample = getattr(meta.get("waiting_sample"), "data", None) or []
            out.append({"push": asset, "waiting": int(waiting), "at": event.timestamp, "sample": sample,
                        "reason": getattr(meta.get("waiting_reason"), "value", None) or ""})
    return out


def print_budget_waits(waits: list[dict]) -> None:
    for w in waits:
        click.echo(f"Planned, not written: {w['waiting']} write(s) of {w['push']} {w['reason']} (at {_when(w['at'])}); "
                   "the next push writes them")
        for row in w["sample"][:5]:
            click.echo(f"  - {row['recipe']} {row['action']} {row['target_object']} {row['source_id']}"
                       + (f" ({row['amount']:,.2f})" if row.get("amount") else ""))


def print_waiting(waiting: list) -> None:
    """Plans the mass-change guard holds, each with the command that lets it go ahead."""
    if waiting:
        click.echo("Plans held by the mass-change guard (push.max_change_share, max_deletes, max_amount_shift):")
    for v in waiting:
        click.echo(f"  {v.line()}")
        click.echo(f"    to let it go ahead: sfxero approve {v.plan_id}")


def print_waiting_rows(rows: dict[str, dict]) -> None:
    """Single deletes/voids a delete policy holds for approval, each with its id."""
    if rows:
        click.echo(f"Deletes held for approval by a delete policy ({len(rows)}): `sfxero approve ROW_ID` lets one go")
    for row_id, w in rows.items():
        click.echo(f"  {row_id}  {waiting_what(w)}")


def run_status(as_json: bool = False) -> int:
    from ..defs.staging.resources import staging_for_cli

    instance = get_instance()
    # A run whose launcher died is failed now, so the list below shows what really happened to it.
    reap_abandoned_runs(instance)
    with staging_for_cli().engine.connect() as conn:
        holds = open_holds_by_stage(conn)
        waiting = waiting_for_approval(conn, load_config())
        rows_waiting = stored_waiting(conn)
    if as_json:
        runs = [{"job": r.dagster_run.job_name, "status": r.dagster_run.status.value, "run_id": r.dagster_run.run_id,
                 "start": r.start_time, "end": r.end_time, "note": r.dagster_run.tags.get(ABANDONED_TAG)}
                for r in instance.get_run_records(limit=10)]
        click.echo(json.dumps({"runs": runs, "held": holds, "waits_for_budget": budget_waits(instance),
                               "waits_for_approval": [
            {"recipe": v.recipe, "plan_id": v.plan_id, "breaches": v.breaches, "figures": v.figures,
             "command": f"sfxero approve {v.plan_id}"} for v in waiting],
                               "rows_waiting_for_approval": rows_waiting}, default=str))
    else:
        print_runs(instance)
        print_budget(instance)
        print_budget_waits(budget_waits(instance))
        print_waiting(waiting)
        print_waiting_rows(rows_waiting)
        print_holds(holds)
    return EXIT_HELD if holds else EXIT_OK
