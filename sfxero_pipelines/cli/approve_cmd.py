"""`sfxero approve ID...`: let what a person must approve go ahead (docs/architecture.md §6, "Delete policies").

Two kinds of id, both printed by `sfxero plan` and `sfxero status`:
- a PLAN_ID (`R1-…`): a stored plan the mass-change guard holds. A plan id is a hash of the plan's
  content: once reconcile stores a different plan, that one needs its own approval.
- a ROW_ID (`row-…`): one delete, void or archive a recipe's delete policy holds for approval
  (reconcile/deletes.py). It must be held in the latest stored plans. The id is a hash of the change
  and of the target's status, so it never approves a different change (say, once the invoice is paid).
Approvals are recorded in the staging database (`staging/state/approvals.py`) with who gave them; the
next push writes what they let through.
"""

from __future__ import annotations

import getpass
import socket

import click

from . import EXIT_OK


def approver() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        user = "unknown"
    return f"{user}@{socket.gethostname()} (sfxero approve)"


def run_approve(ids: tuple[str, ...]) -> int:
    from ..config import load_config
    from ..defs.staging.resources import staging_for_cli
    from ..push.guard import latest_verdicts
    from ..reconcile.deletes import APPROVAL_PREFIX, waiting_rows, waiting_what
    from ..staging.state import approvals
    from ..staging.state.plans import has_plans_table, load_latest, stored_plan_ids

    if not ids:
        raise click.UsageError("approve: name at least one plan id or row id (`sfxero status` and `sfxero plan` "
                               "list those waiting)")
    cfg = load_config()
    staging = staging_for_cli()
    row_ids = [i for i in ids if i.startswith(APPROVAL_PREFIX)]
    plan_ids = [i for i in ids if not i.startswith(APPROVAL_PREFIX)]
    with staging.begin() as conn:
        stored = set(stored_plan_ids(conn))
        held = waiting_rows(load_latest(conn)) if row_ids and has_plans_table(conn) else {}
        unknown = [i for i in plan_ids if i not in stored]
        if unknown:
            raise click.UsageError(f"approve: {unknown[0]} is not a stored plan id "
                                   "(`sfxero status` lists the plans waiting for approval)")
        unknown = [i for i in row_ids if i not in held]
        if unknown:
            raise click.UsageError(f"approve: {unknown[0]} is not a row held for approval in the latest plans "
                                   "(`sfxero plan` lists them; a row id changes when its record does)")
        verdicts = {v.plan_id: v for v in latest_verdicts(conn, cfg).values()}
        new = approvals.approve(conn, approvals.PLAN, plan_ids, by=approver(),
                                detail={i: verdicts[i].breaches for i in plan_ids if i in verdicts}) if plan_ids else []
        new += approvals.approve(conn, approvals.ROW, row_ids, by=approver(),
                                 detail={i: held[i] for i in row_ids}) if row_ids else []
    for plan_id in dict.fromkeys(plan_ids):
        verdict = verdicts.get(plan_id)
        what = ("; ".join(verdict.breaches) if verdict and verdict.blocked else
                "within the limits" if verdict else "not the latest plan of its recipe: a push writes only the latest")
        state = "approved" if plan_id in new else "already approved"
        click.echo(f"{state}: {plan_id} ({what})")
    for row_id in dict.fromkeys(row_ids):
        state = "approved" if row_id in new else "already approved"
        click.echo(f"{state}: {row_id} ({waiting_what(held[row_id])})")
    click.echo("The next push writes it: `sfxero sync --stage push` (the push sensor launches one by itself).")
    return EXIT_OK
