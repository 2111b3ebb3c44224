"""`kill -9` at named points of extract and check (`kill_child.py`): the next `sfxero sync` completes
(it reaps the dead run and is not blocked by it), converges, and leaves the staged tables and both
emulators exactly as one uninterrupted sync does (`conftest.py` fingerprints). Reconcile and push:
`test_kill_points_late.py`.

Each point is (name, nth call, before/after it ran, backends); `nth` puts the kill part way through
the stage (a later table, a later batch), and the test fails if the point is never reached.
"""

from __future__ import annotations

import pytest

from .kill_points import cases, kill_then_compare

POINTS = [
    ("extract.sf_describe", 2, "after", ("sqlite",)),
    ("extract.page_written", 1, "before", ("sqlite",)),
    ("extract.page_written", 4, "after", ("sqlite", "postgresql")),
    ("extract.page_flushed", 2, "after", ("sqlite",)),
    ("extract.sf_cursor_saved", 2, "after", ("sqlite",)),
    ("extract.writer_cursor_saved", 3, "before", ("sqlite",)),
    ("extract.xero_page_read", 2, "after", ("sqlite",)),
    ("extract.xero_cursor_saved", 1, "after", ("sqlite",)),
    ("check.suite_run", 1, "before", ("sqlite",)),
    ("check.suite_run", 5, "after", ("sqlite", "postgresql")),
    ("check.holds_synced", 2, "after", ("sqlite",)),
]


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.timeout(1800)  # a clean run, a killed one and the next one, on a loaded machine
@pytest.mark.parametrize("point, nth, when, backend", cases(POINTS))
def test_the_sync_after_a_kill_converges_to_a_clean_runs_state(chaos, request, point, nth, when, backend):
    kill_then_compare(chaos, request, point, nth, when, backend)
