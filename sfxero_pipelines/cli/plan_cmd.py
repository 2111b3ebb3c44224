"""`sfxero plan`: the dry run. Builds the sync plan from staging and prints it — summary, then every
row with its field-level diff — without writing anything anywhere (the read runs in a transaction
that is rolled back, and no API is called)."""

from __future__ import annotations

import json

import click

from . import EXIT_HELD, EXIT_OK


def guard_lines(conn, cfg, rows) -> dict[str, dict]:
    """recipe → what the mass-change guard says of its plan, for the plans it would stop (not approved)."""
    from ..push.guard import assess, guard_inputs
    from ..staging.state import approvals

    verdicts = [v for v in assess(rows, cfg.push, guard_inputs(conn, rows, cfg.mapping)).values() if v.blocked]
    given = approvals.approved(conn, approvals.PLAN, [v.plan_id for v in verdicts])
    return {v.recipe: {"plan_id": v.plan_id, "line": v.line(), "breaches": v.breaches, "figures": v.figures,
                       "command": f"sfxero approve {v.plan_id}"} for v in verdicts if v.plan_id not in given}


def run_plan(*, as_json: bool, recipe: str | None = None, limit: int | None = None) -> int:
    from ..config import load_config
    from ..reconcile.build import build_plan
    from ..reconcile.deletes import waiting_rows, waiting_what
    from ..reconcile.preview import plan_names, text_lines
    from ..settings import engine_for, staging_url

    cfg = load_config()
    from ..recipes import RECIPES

    if recipe is not None and recipe not in RECIPES and recipe not in cfg.recipes.declared:
        raise click.UsageError(f"plan --recipe: no recipe {recipe} ({', '.join([*RECIPES, *cfg.recipes.declared])})")
    # A bare engine, not the StagingDatabase resource: the resource migrates the schema on first
    # use, and a dry run must not even do that.
    engine = engine_for(staging_url())
    try:
        with engine.connect() as conn:
            plan = build_plan(conn, cfg)
            rows = plan.rows if recipe is None else plan.rows[plan.rows.recipe == recipe]
            shown = rows[rows.action != "skip"]
            if limit is not None:
                shown = shown.head(limit)
            names = {} if as_json else plan_names(conn, shown)
            guard = guard_lines(conn, cfg, plan.rows)
            waiting = {i: w for i, w in waiting_rows(plan.rows).items() if recipe is None or w["recipe"] == recipe}
            conn.rollback()
    finally:
        engine.dispose()
    summary = {r: c for r, c in plan.summary.items() if recipe is None or r == recipe}
    held = sum(c["held"] for c in summary.values())
    if as_json:
        out = {"summary": summary, "waits_for_approval": {r: g for r, g in guard.items() if r in summary},
               "rows_waiting_for_approval": waiting, "plan_ids": {r: p for r, p in plan.plan_ids.items() if r in summary}, "rows": [
            {"plan_id": r.plan_id, "row_no": int(r.row_no), "recipe": r.recipe, "direction": r.direction,
             "source_id": r.source_id, "target_id": r.target_id, "action": r.action,
             "diff": json.loads(r.diff) if isinstance(r.diff, str) else None, "reason": r.reason}
            for r in rows.itertuples(index=False)]}
        click.echo(json.dumps(out, ensure_ascii=False, sort_keys=True))
        return EXIT_HELD if held else EXIT_OK
    click.echo("Sync plan (dry run: nothing was written)")
    click.echo(f"{'recipe':<7}{'create':>9}{'update':>9}{'delete':>9}{'skip':>9}{'conflict':>10}{'held':>7}  plan id")
    for r, c in summary.items():
        click.echo(f"{r:<7}{c['create']:>9}{c['update']:>9}{c['delete']:>9}{c['skip']:>9}{c['conflict']:>10}"
                   f"{c['held']:>7}  {plan.plan_ids[r]}")
    if not summary:
        click.echo("(nothing staged to reconcile)")
    for r, g in guard.items():
        if r in summary:
            click.echo(f"Mass-change guard: {g['line']}\n  the push stops before it; to let it go ahead: {g['command']}")
    if waiting:
        click.echo(f"Delete policy: {len(waiting)} change(s) wait for approval (the push skips them until "
                   f"`sfxero approve ROW_ID`):")
        for row_id, w in waiting.items():
            click.echo(f"  {row_id}  {waiting_what(w)}")
    if len(shown):
        click.echo("")
    for line in text_lines(shown, names):
        click.echo(line)
    skipped = int((rows.action == "skip").sum())
    if skipped:
        click.echo(f"\n{skipped} record(s) in sync (not listed).")
    return EXIT_HELD if held else EXIT_OK
