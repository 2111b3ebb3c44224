"""The `sfxero` command (docs/architecture.md §7).

Exit codes: 0 success; 1 finished with held (failed) records or a run failure; 2 configuration or
usage error, printed as one line that names the problem — never a traceback (set SFXERO_DEBUG=1 to
see one).
"""

from __future__ import annotations

import os
import sys

import click

from ..errors import ConfigError, SfxeroError

EXIT_OK, EXIT_HELD, EXIT_CONFIG = 0, 1, 2
STAGES = ("extract", "check", "reconcile", "push", "all")
BENCHES = ("extract", "check", "reconcile", "push", "e2e", "tokens", "soak", "scale", "latency")


class NotAvailableYet(ConfigError):
    def __init__(self, command: str) -> None:
        super().__init__(f"sfxero {command}", "not available yet in this release")


def require_staging() -> str:
    """Validate SFXERO_STAGING_URL, and that the database answers, before a command touches
    staging (a ConfigError names it)."""
    from ..settings import staging_url
    from .preflight import check_staging

    url = staging_url()
    check_staging(url)
    return url


def require_dagster_home() -> None:
    """Validate DAGSTER_HOME before a command opens the instance (a ConfigError names it)."""
    from ..settings import dagster_home
    from .preflight import check_dagster_home

    check_dagster_home(dagster_home())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sfxero", prog_name="sfxero")
def cli() -> None:
    """Self-hosted Salesforce <-> Xero sync on Dagster.

    With no credentials configured, everything runs against the built-in sandbox
    (`sfxero sandbox`), which emulates both APIs over HTTPS on loopback.
    """


@cli.command()
@click.option("--size", default="small", show_default=True, help="small | medium | large | N (number of accounts).")
@click.option("--seed", default=42, show_default=True, type=int, help="Same seed, same data.")
@click.option("--fixtures", type=click.Path(exists=True, dir_okay=False), help="JSON fixture file (docs/sandbox.md format) instead of seeded data.")
@click.option("--schema", "schema_file", type=click.Path(exists=True, dir_okay=False),
              help="YAML/JSON file of Salesforce custom objects and fields to serve (docs/architecture.md, sandbox schema file).")
@click.option("--faults", default="", help='e.g. "xero.429=0.1,sf.5xx=0.05,latency_ms=20,token_ttl_s=60".')
@click.option("--env-file", default=".sfxero/sandbox.env", show_default=True, type=click.Path(dir_okay=False), help="Where to write the connection settings.")
@click.option("--sf-port", default=0, type=click.IntRange(0, 65535), help="Salesforce emulator port (0 = any free port).")
@click.option("--xero-port", default=0, type=click.IntRange(0, 65535), help="Xero emulator port (0 = any free port).")
@click.option("--detach", is_flag=True, help="Run in the background (reuse one already answering); `make run` does this.")
@click.option("--stop", is_flag=True, help="Stop a sandbox started with --detach.")
@click.option("--webhook-url", default=None, help="Send Xero webhooks (signed with XERO_WEBHOOK_KEY) to this URL.")
@click.option("--auto-consent", is_flag=True, help="Xero's and Salesforce's consent pages approve at once (for `sfxero connect` in scripts).")
@click.option("--xero-orgs", default=1, show_default=True, type=click.IntRange(1, 50),
              help="Xero organisations the consent grants, each seeded on its own with its own rate limits (architecture.md §4.4).")
def sandbox(size: str, seed: int, fixtures: str | None, schema_file: str | None, faults: str, env_file: str, sf_port: int, xero_port: int,
            detach: bool, stop: bool, webhook_url: str | None, auto_consent: bool, xero_orgs: int) -> None:
    """Run the emulated Salesforce org and Xero organisation (foreground unless --detach)."""
    from .sandbox_cmd import run_sandbox, start_detached, stop_detached

    if stop:
        stop_detached(env_file)
        return
    if detach:
        start_detached(sys.argv[1:], env_file)
        return
    run_sandbox(size=size, seed=seed, fixtures=fixtures, schema_file=schema_file, faults=faults, env_file=env_file,
                sf_port=sf_port, xero_port=xero_port, webhook_url=webhook_url, auto_consent=auto_consent,
                xero_orgs=xero_orgs)


@cli.command()
@click.option("--stage", type=click.Choice(STAGES), default="all", show_default=True, help="Run one stage, or the whole cycle.")
@click.option("-v", "--verbose", is_flag=True, help="Every table and every check, not just a line per stage.")
def sync(stage: str, verbose: bool) -> None:
    """Run the sync headless: extract, check, reconcile, push (as real Dagster runs)."""
    from . import summary
    from .preflight import preflight

    summary.set_verbose(verbose)

    preflight(stage)  # before the run machinery is even imported: a bad setting is one line, at once
    from .sync_cmd import run_sync

    sys.exit(run_sync(stage))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--recipe", help="Only this recipe's rows (R1..R7, or a declared recipe's code).")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Show at most N rows that are not in sync.")
def plan(as_json: bool, recipe: str | None, limit: int | None) -> None:
    """Dry run: what a push would do, record by record. Writes nothing anywhere."""
    from .plan_cmd import run_plan

    require_staging()
    sys.exit(run_plan(as_json=as_json, recipe=recipe, limit=limit))


@cli.command()
@click.argument("ids", nargs=-1)
def approve(ids: tuple[str, ...]) -> None:
    """Let held changes go ahead: PLAN_IDs the mass-change guard holds, ROW_IDs (row-…) a delete policy holds."""
    from .approve_cmd import run_approve

    require_staging()
    sys.exit(run_approve(ids))


@cli.group(invoke_without_command=True)
@click.pass_context
def recipes(ctx: click.Context) -> None:
    """Every recipe, built-in and declared in sfxero.yaml: source, target, match, enabled."""
    if ctx.invoked_subcommand is None:
        from .recipes_cmd import run_list

        sys.exit(run_list())


@recipes.command("validate")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def recipes_validate(file: str | None) -> None:
    """Check a configuration (FILE, or SFXERO_CONFIG / ./sfxero.yaml) without running anything: exit 0, or 2
    with one line per problem naming its key."""
    from .recipes_cmd import run_validate

    sys.exit(run_validate(file))


@recipes.command("show")
@click.argument("name")
def recipes_show(name: str) -> None:
    """One recipe's effective declaration, defaults filled in."""
    from .recipes_cmd import run_show

    sys.exit(run_show(name))


@cli.command()
@click.option("--port", default=3000, show_default=True, type=int)
def dev(port: int) -> None:
    """Serve the Dagster UI on the same instance and staging state."""
    from .dev_cmd import run_dev

    require_staging()
    require_dagster_home()
    run_dev(port)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Runs and every held record as JSON.")
def status(as_json: bool) -> None:
    """Last runs, API budget left, held records (exit 1 while records are held)."""
    from .status_cmd import run_status

    require_staging()
    require_dagster_home()
    sys.exit(run_status(as_json))


@cli.command()
@click.argument("record_id")
@click.option("--json", "as_json", is_flag=True, help="Every event as JSON.")
def trace(record_id: str, as_json: bool) -> None:
    """One record's story (a Salesforce or Xero id): staged, held, planned, written, linked — newest first."""
    from .trace_cmd import run_trace

    require_staging()
    sys.exit(run_trace(record_id, as_json=as_json))


@cli.command()
@click.option("--html", "html_file", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write one self-contained HTML page (charts inline, nothing fetched) to this file.")
def report(html_file: str | None) -> None:
    """The reconciliation report: per recipe, amounts per currency and why they differ, held records."""
    from .report_cmd import run_report

    require_staging()
    require_dagster_home()
    sys.exit(run_report(html_file))


@cli.command()
@click.argument("record_ids", nargs=-1)
def replay(record_ids: tuple[str, ...]) -> None:
    """Re-push held records after a fix (all of them, or the given source record ids)."""
    from .preflight import check_local

    check_local()  # the Salesforce checks wait for `sync`: with nothing held, replay calls no API
    from .replay_cmd import run_replay

    sys.exit(run_replay(record_ids))


@cli.command()
@click.argument("which", type=click.Choice(BENCHES))
@click.option("--size", default=10_000, show_default=True, type=int, help="Records per object.")
@click.option("--staging", "staging_url", default=None, help="Staging database URL (default: a temporary SQLite file).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on the last line (docs/architecture.md §9).")
@click.option("--cycles", default=None, type=int,
              help="soak only: sync cycles of random edits checked against the model (default 50).")
@click.option("--tenants", default=None, type=int,
              help="scale only: Xero organisations in the sandbox (1 today; several need the sandbox's --xero-orgs).")
@click.option("--changes", default=None, type=int, help="latency only: changes made through the APIs (default 60).")
@click.option("--duration", default=None, type=float,
              help="latency only: seconds the changes are spread over at random (default 300).")
@click.option("--idle-minutes", default=None, type=float,
              help="latency only: minutes without a change whose API calls are scaled to an hour (default 10).")
@click.option("--engine", "engine_mode", is_flag=True,
              help="reconcile only: plan R1's settings written as a declaration on the declared-recipe engine's "
                   "own read instead of R1's pass (docs/architecture.md §5.3).")
def bench(which: str, size: int, staging_url: str | None, as_json: bool, cycles: int | None,
          tenants: int | None, changes: int | None, duration: float | None, idle_minutes: float | None,
          engine_mode: bool) -> None:
    """Measure a stage against its floor (docs/architecture.md §9)."""
    from .bench_cmd import run_bench

    sys.exit(run_bench(which, size=size, staging_url=staging_url, as_json=as_json, cycles=cycles, tenants=tenants,
                       changes=changes, duration=duration, idle_minutes=idle_minutes, engine_mode=engine_mode))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (put a TLS proxy in front).")
@click.option("--port", default=8787, show_default=True, type=int)
def webhooks(host: str, port: int) -> None:
    """Receive Xero webhooks (POST /webhooks/xero) into the staging inbox; needs XERO_WEBHOOK_KEY."""
    from .webhooks_cmd import run_webhooks

    require_staging()
    run_webhooks(host, port)


from .connect_cmd import connect, connections, disconnect  # noqa: E402 - light: click commands only

for _command in (connect, connections, disconnect):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: maps errors to docs/architecture.md §7 exit codes with one-line messages."""
    try:
        cli.main(args=argv, prog_name="sfxero", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            click.echo("sfxero: interrupted by SIGINT", err=True)
            sys.exit(130)
        click.echo("sfxero: aborted", err=True)
        sys.exit(EXIT_CONFIG)
    except click.ClickException as exc:
        click.echo(f"sfxero: {exc.format_message()}", err=True)
        sys.exit(EXIT_CONFIG)
    except ConfigError as exc:
        click.echo(f"sfxero: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    except SfxeroError as exc:
        click.echo(f"sfxero: {exc}", err=True)
        sys.exit(EXIT_HELD)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: say what failed in one line, full detail only on request
        if os.environ.get("SFXERO_DEBUG") == "1":
            raise
        click.echo(f"sfxero: internal error: {type(exc).__name__}: {exc} (set SFXERO_DEBUG=1 for a traceback)", err=True)
        sys.exit(EXIT_HELD)
