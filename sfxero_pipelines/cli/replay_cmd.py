"""`sfxero replay`: re-push records the targets rejected, after someone fixed them.

Releases the push holds (all, or the given record ids), then runs the cycle — extract (to see the
fix), check, reconcile, push — as real Dagster runs. A fixed record is planned and written once
(the ledger never writes the same intended write twice); one still wrong is held again with the
target's new message. Exit 0 when every replayed record was written (a succeeded ledger entry
from this replay), 1 otherwise.
"""

from __future__ import annotations

import datetime as dt

import click

from ..staging.state.holds import open_push_holds, release
from ..staging.state.ledger import succeeded_since
from . import EXIT_HELD, EXIT_OK
from .connections import use_configured_or_sandbox
from .instance import get_instance
from .sync_cmd import _run_stages


def run_replay(record_ids: tuple[str, ...]) -> int:
    from ..defs.staging.resources import staging_for_cli
    from ..definitions import defs

    engine = staging_for_cli().engine
    with engine.begin() as conn:
        held = open_push_holds(conn)
        chosen = [h for h in held if not record_ids or h["record_id"] in record_ids]
        unknown = set(record_ids) - {h["record_id"] for h in held}
        if unknown:
            click.echo(f"not held at push (nothing to replay): {', '.join(sorted(unknown))}", err=True)
        if not chosen:
            click.echo("Nothing to replay: no record is held at push.")
            return EXIT_OK if not unknown else EXIT_HELD
        release(conn, [(h["table_name"], h["record_id"]) for h in chosen])
    click.echo(f"Replaying {len(chosen)} held record(s): " + ", ".join(h["record_id"] for h in chosen[:10]) +
               (" …" if len(chosen) > 10 else ""))
    started = dt.datetime.now(dt.timezone.utc)
    with use_configured_or_sandbox():
        _run_stages(("extract", "check", "reconcile", "push"), get_instance(), defs(), stop_on_block=True)
    with engine.connect() as conn:
        again = {h["record_id"]: h["reason"] for h in open_push_holds(conn)}
        written = succeeded_since(conn, [h["record_id"] for h in chosen], started)
    done = True
    for h in chosen:
        rid = h["record_id"]
        state = "written" if rid in written else f"held again: {again[rid]}" if rid in again else \
            "not written (see `sfxero plan` and the runs above)"
        done &= rid in written
        click.echo(f"  {rid}: {state}")
    return EXIT_OK if done else EXIT_HELD
