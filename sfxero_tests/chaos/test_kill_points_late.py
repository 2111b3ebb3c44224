"""`kill -9` at named points of reconcile and push; see `test_kill_points.py` for what is asserted."""

from __future__ import annotations

import pytest

from .kill_points import cases, kill_then_compare

POINTS = [
    ("reconcile.family_built", 1, "after", ("sqlite",)),
    ("reconcile.plan_stored", 1, "after", ("sqlite", "postgresql")),
    ("reconcile.plan_stored", 2, "before", ("sqlite",)),
    ("push.ledger_begun", 1, "after", ("sqlite",)),
    ("push.ledger_begun", 3, "after", ("sqlite", "postgresql")),
    ("push.xero_write", 1, "after", ("sqlite",)),
    ("push.xero_write", 4, "before", ("sqlite",)),
    ("push.ledger_finished", 2, "after", ("sqlite", "postgresql")),
    ("push.links_recorded", 1, "after", ("sqlite",)),
    ("push.sf_write_back", 1, "after", ("sqlite",)),
    ("push.sf_write_back", 1, "before", ("sqlite",)),
]


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.timeout(1800)  # a clean run, a killed one and the next one, on a loaded machine
@pytest.mark.parametrize("point, nth, when, backend", cases(POINTS))
def test_the_sync_after_a_kill_converges_to_a_clean_runs_state(chaos, request, point, nth, when, backend):
    kill_then_compare(chaos, request, point, nth, when, backend)
