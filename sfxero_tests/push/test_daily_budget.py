"""The daily budget planner against the sandbox, as real runs on both staging backends: a push larger
than the tenant's remaining daily Xero budget writes what fits, highest amounts first, and succeeds;
the rest stays planned with "waits for tomorrow's API budget", which `sfxero status` shows; the next
day (the emulator's clock) the push completes it, with no duplicate."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from sfxero_pipelines.cli.status_cmd import budget_waits, print_budget_waits
from sfxero_pipelines.push.budget import amount
from sfxero_pipelines.push.rows import load_rows

from ..conftest import sandbox_call
from ..extract.conftest import salesforce_resource, xero_resource
from .conftest import Cycle, xero_state

ROOT = Path(__file__).resolve().parents[2]
DAY = 2_000        # the tenant's daily calls: enough for the extract, then spent down by "another app"
LEFT_FOR_PUSH = 7  # what the push finds left (one of them pays for asking)
DAY_S = 86_400


def _xero(server):
    # The whole limit usable (no share kept back), so the figures are exact.
    return xero_resource(server, day_limit=DAY, day_budget_stop_share=1.0)


def _spend_down_to(server, left: int) -> None:
    with _xero(server).get_client() as client:
        client.get_all("Currencies")
        sandbox_call(server, "xero", "POST", f"/__sandbox/tenants/{server.env['XERO_TENANT_ID']}/spend",
                     {"calls": client.limits["day_remaining"] - left - 1})
        client.get_all("Currencies")  # the client reads what is left from Xero's answer, as in a real day
        assert client.limits["day_remaining"] == left


def _push_report(cycle: Cycle) -> dict:
    event = cycle.instance.get_latest_materialization_event(dg.AssetKey("xero_push"))
    return {k: getattr(v, "value", getattr(v, "data", v)) for k, v in event.asset_materialization.metadata.items()}


@pytest.mark.slow
def test_push_beyond_the_daily_budget_writes_the_largest_and_finishes_the_next_day(
        make_sandbox, staging, tmp_path, monkeypatch, capsys):
    server = make_sandbox(size="small", seed=42,
                          xero_limits={"per_minute": 100_000, "app_per_minute": 100_000, "per_day": DAY})
    config = tmp_path / "sfxero.yaml"
    # One element per write: each invoice is a call, so the budget decides record by record.
    config.write_text((ROOT / "sfxero.yaml").read_text() + "\npush:\n  xero_batch_size: 1\n")
    monkeypatch.setenv("SFXERO_CONFIG", str(config))
    cycle = Cycle(server, staging)
    cycle.definitions = dg.Definitions(
        assets=cycle.definitions.assets, asset_checks=cycle.definitions.asset_checks, jobs=cycle.definitions.jobs,
        resources={"staging": staging, "xero": _xero(server), "salesforce": salesforce_resource(server)})
    summary = cycle.plan_to_push()
    with staging.engine.connect() as conn:
        rows, _ = load_rows(conn, "xero")
    invoices = {r.source_id: amount(r) for r in rows if r.target_object == "Invoice"}
    assert len(rows) > LEFT_FOR_PUSH and len(invoices) > LEFT_FOR_PUSH, summary

    _spend_down_to(server, LEFT_FOR_PUSH)
    ok, _ = cycle.stage("push")
    assert ok, "the push finished what fitted instead of failing on the limit"
    report = _push_report(cycle)
    written = {i for i, n in xero_state(server)["invoices_by_reference"].items() if i in invoices}
    waiting = [w for w in json.loads(json.dumps(report["waiting_sample"]))]
    held = {h["source_id"] for h in report.get("held_sample", [])}
    assert written and report["waiting_for_budget"] == len(rows) - report["written"] - report["held"] > 0
    assert report["waiting_reason"] == "waits for tomorrow's API budget (0 calls left)"
    # Highest amounts first: every invoice written is at least as large as every one still waiting.
    assert min(invoices[i] for i in written) >= max(invoices[i] for i in invoices if i not in written | held)
    assert [w["amount"] for w in waiting] == sorted((w["amount"] for w in waiting), reverse=True)
    with staging.engine.connect() as conn:
        ledger = dict(conn.execute(sa.text("SELECT outcome, count(*) FROM sync_ledger WHERE target_system = 'xero' "
                                           "GROUP BY outcome")).fetchall())
    assert ledger == {"succeeded": report["written"]}, "waiting rows have no ledger entry"

    print_budget_waits(budget_waits(cycle.instance))
    shown = capsys.readouterr().out
    assert f"{report['waiting_for_budget']} write(s) of xero_push waits for tomorrow's API budget (0 calls left)" in shown

    sandbox_call(server, "xero", "POST", "/__sandbox/clock", {"advance_s": DAY_S + 1})
    ok, _ = cycle.stage("push")
    assert ok
    after = _push_report(cycle)
    assert after["waiting_for_budget"] == 0 and after["already_done"] == report["written"]
    state = xero_state(server)
    assert set(invoices) - held <= set(state["invoices_by_reference"])  # held: its Account failed a check
    assert max(state["invoices_by_reference"].values()) == 1, "no invoice written twice"
    assert max(state["contacts_by_number"].values()) == 1, "no Contact written twice"
    assert budget_waits(cycle.instance) == []


@pytest.mark.slow
def test_salesforce_push_stops_at_the_daily_allocation_and_finishes_the_next_day(make_sandbox, staging, tmp_path,
                                                                                 monkeypatch):
    """The Xero → Salesforce rows against the org's daily API allocation (`/limits`), through the
    push entry point the `salesforce_push` asset calls."""
    from sfxero_pipelines.config import load_config
    from sfxero_pipelines.push.run import push_to_salesforce

    server = make_sandbox(size="small", seed=42, xero_limits={"per_minute": 100_000, "app_per_minute": 100_000})
    config = tmp_path / "sfxero.yaml"
    config.write_text((ROOT / "sfxero.yaml").read_text() + "\npush:\n  salesforce_batch_size: 1\n")
    monkeypatch.setenv("SFXERO_CONFIG", str(config))
    cycle = Cycle(server, staging)
    cycle.plan_to_push()
    with staging.engine.connect() as conn:
        rows, _ = load_rows(conn, "salesforce")
    assert len(rows) > 4
    sf = salesforce_resource(server, budget_stop_share=1.0)

    server.salesforce.daily_limit = server.salesforce.api_used + 4  # /limits, then three writes
    with sf.get_client() as client:
        report = push_to_salesforce(staging.engine, client, cfg=load_config().push, run_id="budget-1")
    assert report.written == 3 and len(report.waiting) == len(rows) - 3
    assert report.waiting_reason == "waits for tomorrow's API budget (0 calls left)"
    # These rows carry no invoice amount: equal amounts keep the plan's order.
    assert [(w["recipe"], w["source_id"]) for w in report.waiting] == [(r.recipe, r.source_id) for r in rows[3:]]

    sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"advance_s": DAY_S + 1})
    server.salesforce.daily_limit = 100_000
    with sf.get_client() as client:
        again = push_to_salesforce(staging.engine, client, cfg=load_config().push, run_id="budget-2")
    assert again.waiting == [] and again.already_done == 3 and again.written == len(rows) - 3
