"""`sfxero approve PLAN_ID...`: let plans the mass-change guard holds go ahead (docs/architecture.md §6).

Each id must be a stored plan's (`sfxero plan` and `sfxero status` print them); the approval is
recorded in the staging database (`staging/state/approvals.py`) with who gave it, and the next push
writes exactly that plan. A plan id is a hash of the plan's content: once reconcile stores a
different plan, that one needs its own approval. Only plan ids are accepted for now; single plan
rows held for approval will use the same command and table.
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
    from ..staging.state import approvals
    from ..staging.state.plans import stored_plan_ids

    if not ids:
        raise click.UsageError("approve: name at least one plan id (`sfxero status` lists those waiting)")
    cfg = load_config()
    staging = staging_for_cli()
    with staging.begin() as conn:
        stored = set(stored_plan_ids(conn))
        unknown = [i for i in ids if i not in stored]
        if unknown:
            raise click.UsageError(f"approve: {unknown[0]} is not a stored plan id "
                                   "(`sfxero status` lists the plans waiting for approval)")
        verdicts = {v.plan_id: v for v in latest_verdicts(conn, cfg).values()}
        new = approvals.approve(conn, approvals.PLAN, list(ids), by=approver(),
                                detail={i: verdicts[i].breaches for i in ids if i in verdicts})
    for plan_id in dict.fromkeys(ids):
        verdict = verdicts.get(plan_id)
        what = ("; ".join(verdict.breaches) if verdict and verdict.blocked else
                "within the limits" if verdict else "not the latest plan of its recipe: a push writes only the latest")
        state = "approved" if plan_id in new else "already approved"
        click.echo(f"{state}: {plan_id} ({what})")
    click.echo("The next push writes it: `sfxero sync --stage push` (the push sensor launches one by itself).")
    return EXIT_OK
