"""`sfxero report --html FILE`: one self-contained page (no script, nothing fetched) whose charts are
not empty: in-sync share per recipe over 30 days, amounts per currency on both sides, held by reason."""

from __future__ import annotations

import datetime as dt
import re

import dagster as dg
import pytest

from sfxero_pipelines.cli import main
from sfxero_pipelines.defs.reconciliation.assets import plan_assets, reconciliation_report
from sfxero_pipelines.reconcile.report_html import ReportData, render

from .conftest import Stager
from .test_report_causes import seed

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.timezone.utc)


def assert_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r"\b(?:src|href)\s*=", page)
    # The only URL is the SVG namespace, which is a name, never fetched.
    assert set(re.findall(r"https?://[^\"' <]+", page)) <= {"http://www.w3.org/2000/svg"}


def test_render_draws_every_chart_and_escapes_the_data():
    data = ReportData(
        generated_at=NOW,
        history={"R1": [(NOW.date() - dt.timedelta(days=d), 0.5 + d / 100) for d in (40, 12, 3, 0)]},
        counts=[{"recipe": "R1", "in_sync": 5, "held": 1}],
        totals=[{"currency": "USD", "salesforce_won": 90.0, "xero_invoiced": 70.0, "difference": 20.0}],
        held_by_reason=[("duplicate_name", 2), ("<script>", 1)],
    )
    page = render(data)
    assert_self_contained(page)
    charts = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(charts) == 3
    in_sync, amounts, held = charts
    # A day older than 30 is left out; the three others are drawn and joined.
    assert in_sync.count('class="point"') == 3 and 'class="series"' in in_sync and "R1 50%" in in_sync
    assert amounts.count('class="bar"') == 2 and "Salesforce 90.00" in amounts and "Xero 70.00" in amounts
    assert held.count('class="bar"') == 2 and "&lt;script&gt;" in held


def test_report_command_writes_the_page_from_staging_and_the_instance(sqlite_staging, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SFXERO_CONFIG", str(tmp_path / "c.yaml"))
    (tmp_path / "c.yaml").write_text("{}\n")
    monkeypatch.setenv("SFXERO_STAGING_URL", sqlite_staging.url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    ids = seed(Stager(sqlite_staging))
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        assert dg.materialize([*plan_assets, reconciliation_report], resources={"staging": sqlite_staging},
                              instance=instance).success
    out = tmp_path / "report.html"
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--html", str(out)])
    assert exit_.value.code == 0, capsys.readouterr()
    page = out.read_text()
    assert_self_contained(page)
    assert "R1 " in page and "R2 " in page and 'class="point"' in page
    assert "Salesforce 90.00" in page and "Xero 70.00" in page  # USD: two won deals, one invoice
    assert "Invoiced in Xero with no Salesforce source (1)" in page and ids["orphan"] in page
    assert "no records held" not in page  # the deal with no lines is held by the plan
    with pytest.raises(SystemExit):
        main(["report"])
    assert "### Why the amounts differ" in capsys.readouterr().out
