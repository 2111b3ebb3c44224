"""The plans' blocking `ready_to_push` checks: a plan the push cannot write correctly stops the push
jobs before any API call; a sound plan passes. Pure rules first, then a real push run."""

from __future__ import annotations

import sqlalchemy as sa

from sfxero_pipelines.push.preflight import plan_problems
from sfxero_pipelines.push.rows import PushRow

from ..conftest import sandbox_call
from .conftest import Cycle, xero_state


def _row(row_no: int, action: str, *, target_id=None, payload=True, target_object="Contact", source="001A") -> PushRow:
    diff = {"target_object": target_object, **({"payload": {"Name": "A"}} if payload else {})}
    return PushRow(plan_id="R1-x", row_no=row_no, recipe="R1", direction="sf_to_xero", action=action,
                   source_id=source, target_id=target_id, diff=diff)


def test_sound_rows_pass():
    assert plan_problems([_row(1, "create"), _row(2, "update", target_id="x1", source="001B")]) == []


def test_each_rule_names_the_row():
    problems = plan_problems([
        _row(1, "update"),                                   # no target
        _row(2, "create", target_id="x9", source="001B"),    # a create with a target
        _row(3, "create", payload=False, source="001C"),     # nothing to send
        _row(4, "create", target_object="", source="001D"),  # no target object
        _row(5, "create", source="001E"), _row(6, "create", source="001E"),  # the same record twice
    ])
    assert any("row 1" in p and "without a target" in p for p in problems)
    assert any("row 2" in p and "already names its target x9" in p for p in problems)
    assert any("row 3" in p and "no payload" in p for p in problems)
    assert any("row 4" in p and "no target_object" in p for p in problems)
    assert any("row 6" in p and "as row 5" in p for p in problems)


def test_a_broken_plan_stops_the_push_before_any_call(fast_sandbox, staging):
    cycle = Cycle(fast_sandbox, staging)
    cycle.plan_to_push()
    with staging.begin() as conn:
        plan_id, n = conn.execute(sa.text(
            "SELECT plan_id, max(row_no) FROM sync_plan WHERE recipe = 'R1' GROUP BY plan_id "
            "ORDER BY max(created_at) DESC")).first()
        # The same create twice: pushing it would write one Contact twice.
        conn.execute(sa.text(
            "INSERT INTO sync_plan (plan_id, row_no, recipe, direction, source_id, target_id, action, diff, reason, "
            "created_at) SELECT plan_id, :n, recipe, direction, source_id, target_id, action, diff, reason, created_at "
            "FROM sync_plan WHERE plan_id = :p AND action = 'create' ORDER BY row_no LIMIT 1"), {"n": n + 1, "p": plan_id})
    before = xero_state(fast_sandbox)
    sandbox_call(fast_sandbox, "xero", "DELETE", "/__sandbox/stats")
    ok, _ = cycle.stage("push")
    assert not ok
    writes = {k: v for k, v in sandbox_call(fast_sandbox, "xero", "GET", "/__sandbox/stats")["requests"].items()
              if k.startswith(("POST", "PUT")) and "token" not in k}
    assert writes == {}
    assert xero_state(fast_sandbox) == before
