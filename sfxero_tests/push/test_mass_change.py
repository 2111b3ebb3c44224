"""The mass-change guard, as real runs on both staging backends: a mapping mistake that would rewrite
every Xero Contact stops at the blocking `mass_change` check with nothing written; `sfxero approve`
lets exactly that plan go, and a different plan needs its own approval. The first sync of the small
sandbox (creates and new links) is not held."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfxero_pipelines.cli.approve_cmd import run_approve
from sfxero_pipelines.cli.plan_cmd import run_plan
from sfxero_pipelines.cli.status_cmd import run_status
from sfxero_pipelines.staging.state.approvals import PLAN, approval_of
from sfxero_pipelines.config import load_config
from sfxero_pipelines.push.guard import waiting_for_approval
from sfxero_pipelines.staging.state.plans import latest_plan_ids

from ..conftest import sandbox_call
from .conftest import Cycle, records

ROOT = Path(__file__).resolve().parents[2]

#: Name and AccountNumber swapped: every linked Contact would be renamed to its account number.
SWAPPED = """
mapping:
  contact_fields:
    - {sf: AccountNumber, xero: Name}
    - {sf: Name, xero: AccountNumber}
    - {sf: CurrencyIsoCode, xero: DefaultCurrency, transform: currency}
"""
#: A second mistake: the city as the name (another plan).
CITY_AS_NAME = """
mapping:
  contact_fields:
    - {sf: BillingCity, xero: Name}
    - {sf: Name, xero: AccountNumber}
    - {sf: CurrencyIsoCode, xero: DefaultCurrency, transform: currency}
"""


def _use_config(monkeypatch, tmp_path: Path, name: str, extra: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text((ROOT / "sfxero.yaml").read_text() + extra)
    monkeypatch.setenv("SFXERO_CONFIG", str(path))


def _contacts(server) -> dict[str, str]:
    return {c["ContactID"]: c["Name"] for c in records(server, "xero", "Contacts")}


def _xero_writes(server) -> int:
    stats = sandbox_call(server, "xero", "GET", "/__sandbox/stats")["requests"]
    return sum(n for k, n in stats.items() if k.split(" ")[0] in ("POST", "PUT") and "token" not in k)


def _check(rows: list[tuple], recipe: str) -> tuple:
    return next(r for r in rows if r[0] == f"sync_plan_{recipe.lower()}")


@pytest.mark.slow
def test_mapping_mistake_is_stopped_until_approved_and_a_new_plan_needs_a_new_approval(
        make_sandbox, staging, tmp_path, monkeypatch, capsys):
    server = make_sandbox(size="small", seed=42, xero_limits={"per_minute": 100_000, "app_per_minute": 100_000})
    monkeypatch.setenv("SFXERO_STAGING_URL", staging.url)
    _use_config(monkeypatch, tmp_path, "default", "")
    cycle = Cycle(server, staging)

    # The first sync (creates, new links) is a small dataset's normal day: not held.
    cycle.plan_to_push()
    ok, _ = cycle.stage("push")
    assert ok
    with staging.engine.connect() as conn:
        assert waiting_for_approval(conn, load_config()) == []

    _use_config(monkeypatch, tmp_path, "swapped", SWAPPED)
    summary = cycle.plan_to_push()
    linked = len(records(server, "xero", "Contacts"))
    assert summary["R1"]["update"] >= 20, summary
    before, writes_before = _contacts(server), _xero_writes(server)

    ok, _ = cycle.stage("push")
    assert not ok
    assert _contacts(server) == before
    assert _xero_writes(server) == writes_before, "the guard stopped the push before any Xero write"
    with staging.engine.connect() as conn:
        waiting = waiting_for_approval(conn, load_config())
        plan_id = latest_plan_ids(conn)["R1"]
    assert [v.plan_id for v in waiting] == [plan_id]
    figures = waiting[0].figures
    assert figures["updates"] == summary["R1"]["update"] and figures["updates"] <= figures["linked"] <= linked
    assert figures["change_share"] > 0.2
    evaluation = _check_evaluation(cycle, "R1")
    assert not evaluation.passed and f"sfxero approve {plan_id}" in evaluation.description
    # `sfxero plan` and `sfxero status` say that the plan waits, and the command that lets it go.
    capsys.readouterr()
    run_plan(as_json=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    run_status()
    shown = capsys.readouterr().out
    assert f"Mass-change guard: {plan_id} waits for approval: updates {figures['updates']} of" in shown
    assert "Plans held by the mass-change guard" in shown and f"  {plan_id} waits for approval: updates" in shown
    assert shown.count(f"sfxero approve {plan_id}") == 2

    assert run_approve((plan_id,)) == 0
    ok, _ = cycle.stage("push")
    assert ok
    renamed = _contacts(server)
    changed = [i for i in before if renamed[i] != before[i]]
    assert len(changed) == summary["R1"]["update"]

    # Another mistake: another plan, held again although the first one was approved.
    _use_config(monkeypatch, tmp_path, "city", CITY_AS_NAME)
    cycle.plan_to_push()
    with staging.engine.connect() as conn:
        second = latest_plan_ids(conn)["R1"]
    assert second != plan_id
    before = _contacts(server)
    ok, _ = cycle.stage("push")
    assert not ok
    assert _contacts(server) == before
    with staging.engine.connect() as conn:
        assert [v.plan_id for v in waiting_for_approval(conn, load_config())] == [second]

    # Approved from the UI instead: a launch of the push job with the check's run config.
    job = cycle.definitions.resolve_job_def("push_xero_job")
    result = job.execute_in_process(instance=cycle.instance, raise_on_error=False, run_config={
        "ops": {"sync_plan_r1_mass_change": {"config": {"approve": [second]}}}})
    assert result.success
    assert _contacts(server) != before
    with staging.engine.connect() as conn:
        assert waiting_for_approval(conn, load_config()) == []
        assert approval_of(conn, PLAN, second)["approved_by"] == f"dagster run {result.run_id}"


def _check_evaluation(cycle: Cycle, recipe: str):
    import dagster as dg

    record = cycle.instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey(f"sync_plan_{recipe.lower()}"), "mass_change")])
    execution = next(iter(record.values()))
    return execution.event.dagster_event.event_specific_data


def _store(staging, parts: list) -> dict[str, str]:
    from sfxero_pipelines.reconcile import plan as P
    from sfxero_pipelines.staging.state.plans import write_plan

    plan = P.finalize(parts)
    with staging.begin() as conn:
        write_plan(conn, plan)
    return P.plan_ids(plan)


@pytest.mark.slow
def test_deletes_and_an_amount_shift_stop_the_push_on_both_backends(make_sandbox, staging, tmp_path, monkeypatch):
    """Plans as reconcile stores them, read back from each backend by the push jobs' blocking check."""
    import sqlalchemy as sa

    from sfxero_pipelines.reconcile import plan as P

    server = make_sandbox(size="small", seed=42, xero_limits={"per_minute": 100_000, "app_per_minute": 100_000})
    # The small sandbox holds a dozen invoices per currency: the floor is lowered to see the rule apply.
    _use_config(monkeypatch, tmp_path, "floor", "\npush:\n  guard_min_records: 5\n")
    cycle = Cycle(server, staging)
    assert cycle.stage("extract")[0]
    with staging.engine.connect() as conn:
        currency = conn.execute(sa.text("SELECT currency_code FROM xero_invoice GROUP BY currency_code "
                                        "ORDER BY count(*) DESC, currency_code")).scalar()
        mine = conn.execute(sa.text("SELECT id, currency_code, total FROM xero_invoice WHERE currency_code = :c "
                                    "AND status NOT IN ('DELETED', 'VOIDED') ORDER BY id"), {"c": currency}).fetchall()[:20]
        invoiced = conn.execute(sa.text("SELECT sum(total) FROM xero_invoice WHERE currency_code = :c AND status "
                                        "NOT IN ('DELETED', 'VOIDED')"), {"c": currency}).scalar_one()
    assert len(mine) >= 5
    # Each linked invoice grows by a tenth of what is invoiced in its currency: +50% and more.
    bump = float(invoiced) / 10
    amounts = P.rows("R2", "sf_to_xero", "update", [f"006{i:015d}" for i in range(len(mine))], [i[0] for i in mine],
                     [{"match": "link", "target_object": "Invoice",
                       "fields": {"SubTotal": {"old": float(i[2]), "new": float(i[2]) + bump}},
                       "payload": {"InvoiceID": i[0], "LineItems": []}} for i in mine], "amount changed")
    deletes = P.rows("R6", "xero_to_sf", "delete", ["x1"], ["00v000000000001"],
                     [{"target_object": "CampaignMember", "payload": {"CampaignMember": {"Id": "00v000000000001"}}}],
                     "paid")
    ids = _store(staging, [amounts, deletes])
    writes = _xero_writes(server)

    ok, _ = cycle.stage("push")
    assert not ok
    assert _xero_writes(server) == writes
    r2, r6 = _check_evaluation(cycle, "R2"), _check_evaluation(cycle, "R6")
    assert not r2.passed and f"moves the total invoiced in {mine[0][1]}" in r2.description
    assert f"sfxero approve {ids['R2']}" in r2.description
    assert not r6.passed and "1 delete(s)/void(s)/archive(s), more than push.max_deletes 0" in r6.description
    figures = r2.metadata["figures"].data
    assert figures["amount_shift"][mine[0][1]]["shift"] == pytest.approx(bump * len(mine), abs=0.05)

    # A small plan (below the floor, nothing deleted) passes the guard.
    _store(staging, [P.rows("R2", "sf_to_xero", "skip", ["006x"], [mine[0][0]], None, "in sync"),
                     P.rows("R6", "xero_to_sf", "skip", ["x1"], ["00v000000000001"], None, "member")])
    cycle.stage("push")
    assert _check_evaluation(cycle, "R2").passed and _check_evaluation(cycle, "R6").passed


def test_approve_refuses_an_id_that_is_not_a_stored_plan(sqlite_staging, monkeypatch, capsys):
    from sfxero_pipelines.cli import main

    monkeypatch.setenv("SFXERO_STAGING_URL", sqlite_staging.url)
    with pytest.raises(SystemExit) as exc:
        main(["approve", "R1-0000"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["sfxero: approve: R1-0000 is not a stored plan id (`sfxero status` lists the plans waiting for "
                   "approval)"]
