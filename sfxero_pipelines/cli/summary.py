"""What `sfxero sync` prints per stage: one line of counts, calls and time, then only what needs a look.

- extract: tables, rows staged (deleted, flagged invalid), API calls;
- check: checks run by status, records held; then one line per check that is not OK (WARN/ERROR);
- reconcile: the assets refreshed (plans, report, held overview);
- push: planned / written / already done / found by lookup / write-backs / held, API calls.
`-v` (`set_verbose`) prints the full per-table tables instead (sync_cmd's). Colour only when the
output is a terminal: click drops the styles otherwise, so logs and pipes get plain text.
"""

from __future__ import annotations

import click

_verbose = False
#: At most this many not-OK checks are listed; the rest are counted (all of them with -v).
SHOWN_PROBLEMS = 8
STATUS_COLOUR = {"ok": "green", "WARN": "yellow", "ERROR": "red", "FAILED": "red"}


def set_verbose(on: bool) -> None:
    global _verbose
    _verbose = on


def verbose() -> bool:
    return _verbose


def styled(status: str) -> str:
    return click.style(status, fg=STATUS_COLOUR.get(status), bold=status != "ok")


def _ints(values) -> int:
    return sum(v for v in values if isinstance(v, int) and not isinstance(v, bool))


def _took(seconds: float | None) -> str:
    return f", {seconds:.1f} s" if seconds is not None else ""


def extract_line(rows: list[tuple]) -> str:
    """rows: (asset, staged, deleted, invalid, total, calls, window) per materialization."""
    staged, deleted, invalid, calls = (_ints(r[i] for r in rows) for i in (1, 2, 3, 5))
    return (f"{len(rows)} tables, {staged:,} rows staged ({deleted:,} deleted, {invalid:,} flagged invalid), "
            f"{calls:,} API calls")


def check_lines(rows: list[tuple]) -> list[str]:
    """rows: (asset, check, status, rows, bad, held, note) per evaluation: the count line, then the not-OK ones."""
    by_status = {s: sum(1 for r in rows if r[2] == s) for s in ("ok", "WARN", "ERROR")}
    held = _ints(r[5] for r in rows)
    head = (f"{len(rows)} checks: {by_status['ok']} ok, {by_status['WARN']} WARN, {by_status['ERROR']} ERROR"
            + (f"; {held:,} records held" if held else ""))
    problems = sorted((r for r in rows if r[2] != "ok"), key=lambda r: (r[2] != "ERROR", r[0], r[1]))
    out = [head]
    for r in problems[:SHOWN_PROBLEMS]:
        note = " ".join(str(r[6]).split())
        out.append(f"    {styled(r[2])} {r[0]} {r[1]}: {note[:100]}")
    if len(problems) > SHOWN_PROBLEMS:
        out.append(f"    … and {len(problems) - SHOWN_PROBLEMS} more not OK (`sfxero sync -v` lists every check)")
    return out


def reconcile_line(rows: list[tuple]) -> str:
    plans = sum(1 for r in rows if str(r[0]).startswith("sync_plan_"))
    return f"{plans} plans stored, {len(rows) - plans} reports refreshed"


PUSH_NAMES = ("planned", "written", "already done", "found by lookup", "write-backs", "held")


def push_line(rows: list[tuple]) -> str:
    """rows: (asset, planned, written, already, lookup, write_backs, held, calls) per materialization."""
    sums = [_ints(r[i] for r in rows) for i in range(1, 8)]
    return ", ".join(f"{n:,} {name}" for n, name in zip(sums[:6], PUSH_NAMES)) + f"; {sums[6]:,} API calls"


def stage_lines(name: str, ok: bool, rows: list[tuple], seconds: float | None) -> list[str]:
    """The short summary of one stage (what `sync` prints without -v)."""
    if name == "check":
        first, *rest = check_lines(rows)
    else:
        first, rest = {"extract": extract_line, "reconcile": reconcile_line, "push": push_line}.get(
            name, lambda r: f"{len(r)} assets")(rows), []
    return [f"- {name}: {styled('ok' if ok else 'FAILED')}  {first}{_took(seconds)}", *rest]


def print_stage(name: str, ok: bool, rows: list[tuple], seconds: float | None = None) -> None:
    for line in stage_lines(name, ok, rows, seconds):
        click.echo(line)
