"""What `sfxero sync` prints: a line per stage (counts, calls, time), only the checks that are not OK
(all with -v), colour only on a terminal, a progress bar only on a terminal; and `make run`'s commands
print at most 40 lines on the default sandbox (test_first_run.py)."""

from __future__ import annotations

import io

import click
import dagster as dg

from sfxero_pipelines.cli import summary
from sfxero_pipelines.cli.progress import RunProgress

CHECKS = [("sf_account", "quality", "ok", 40, 0, 0, ""),
          ("sf_account", "accounting_contact_push", "WARN", 40, 2, 2, "2 records held;\nthe other 38 proceed"),
          ("xero_invoice", "row_count", "ERROR", "", "", "", "no rows staged")] + \
         [(f"t{i}", "freshness", "ok", "", "", "", "fresh") for i in range(20)]


def lines_of(*args) -> list[str]:
    return [click.unstyle(line) for line in summary.stage_lines(*args)]


def test_checks_collapse_to_the_ones_not_ok():
    lines = lines_of("check", True, CHECKS, 4.25)
    assert lines[0] == "- check: ok  23 checks: 21 ok, 1 WARN, 1 ERROR; 2 records held, 4.2 s"
    # ERROR first, then WARN; notes on one line; nothing about the 21 that are fine.
    assert lines[1:] == ["    ERROR xero_invoice row_count: no rows staged",
                         "    WARN sf_account accounting_contact_push: 2 records held; the other 38 proceed"]


def test_many_problems_are_counted_past_the_first_few():
    rows = [(f"t{i}", "quality", "WARN", 1, 1, 1, "bad") for i in range(summary.SHOWN_PROBLEMS + 3)]
    lines = lines_of("check", True, rows, None)
    assert len(lines) == 1 + summary.SHOWN_PROBLEMS + 1
    assert lines[-1] == "    … and 3 more not OK (`sfxero sync -v` lists every check)"


def test_extract_push_and_reconcile_are_one_line_each():
    extract = [("sf_account", 40, 1, 2, 40, 3, "w"), ("xero_contact", 30, 0, 0, 30, 2, "w"), ("x", "", "", "", "", "", "")]
    assert lines_of("extract", True, extract, 1.0) == [
        "- extract: ok  3 tables, 70 rows staged (1 deleted, 2 flagged invalid), 5 API calls, 1.0 s"]
    push = [("xero_push", 13, 12, 1, 0, 12, 0, 7), ("salesforce_push", 5, 5, 0, 0, 0, 1, 2)]
    assert lines_of("push", False, push, 2.0) == [
        "- push: FAILED  18 planned, 17 written, 1 already done, 0 found by lookup, 12 write-backs, 1 held; "
        "9 API calls, 2.0 s"]
    plans = [("sync_plan_r1",), ("sync_plan_r2",), ("reconciliation_report",)]
    assert lines_of("reconcile", True, plans, None) == ["- reconcile: ok  2 plans stored, 1 reports refreshed"]


def test_colour_only_on_a_terminal():
    line = summary.stage_lines("check", False, CHECKS[:3], None)[0]
    assert "\x1b[" in line  # styled
    piped = io.StringIO()
    click.echo(line, file=piped)  # what click does when stdout is not a terminal
    assert "\x1b[" not in piped.getvalue() and "FAILED" in piped.getvalue()


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_and_nothing_otherwise():
    @dg.op
    def one():
        return 1

    @dg.op
    def two(x):
        return x

    @dg.job
    def little():
        two(one())

    instance = dg.DagsterInstance.ephemeral()
    result = little.execute_in_process(instance=instance)
    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        bar = RunProgress(instance, result.run_id, little, stream=stream)
        bar.update()
        bar.close()
    assert "little [########################] 2/2 steps" in tty.getvalue()
    assert tty.getvalue().endswith("\r")  # the bar is wiped before the summary line
    assert pipe.getvalue() == ""
