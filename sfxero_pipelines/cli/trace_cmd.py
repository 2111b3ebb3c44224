"""`sfxero trace ID`: one record's story, newest first — staged versions, holds (open and released),
plan rows naming it, ledger writes with the values written, write-backs and links. Reads staging only;
no API call, no write. Exit 1 while the record has an open hold, 0 otherwise."""

from __future__ import annotations

import json
import os

import click

from . import EXIT_HELD, EXIT_OK


def run_trace(record_id: str, *, as_json: bool) -> int:
    from ..reconcile.hold_sentences import salesforce_web_url
    from ..reconcile.trace import trace
    from ..settings import engine_for, staging_url

    # A bare engine, as `sfxero plan`: reading a record's story must not migrate or write anything.
    engine = engine_for(staging_url())
    try:
        with engine.connect() as conn:
            events = trace(conn, record_id, salesforce_web_url(os.environ))
            conn.rollback()
    finally:
        engine.dispose()
    held = any(e.kind == "held" and e.details.get("open") for e in events)
    if as_json:
        click.echo(json.dumps({"record_id": record_id, "held": held, "events": [e.as_json() for e in events]},
                              ensure_ascii=False, default=str))
        return EXIT_HELD if held else EXIT_OK
    if not events:
        click.echo(f"{record_id}: nothing in staging, the plans, the ledger or the links names this id.")
        return EXIT_OK
    click.echo(f"{record_id}: {len(events)} event(s), newest first" + (" — held now" if held else ""))
    for e in events:
        when = e.at.strftime("%Y-%m-%d %H:%M:%S UTC") if e.at else "-"
        click.echo(f"  {when}  {e.kind:<10} {e.summary}")
        for label, url in e.details.get("links") or []:
            click.echo(f"  {'':<23}{'':<11}{label}: {url}")
    return EXIT_HELD if held else EXIT_OK
