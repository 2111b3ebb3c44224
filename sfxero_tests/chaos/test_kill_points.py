"""`kill -9` at named points of extract, check, reconcile and push (`kill_child.py`): the next
`sfxero sync` completes (it reaps the dead run and is not blocked by it), converges, and leaves the
staged tables and both emulators exactly as one uninterrupted sync does (`conftest.py` fingerprints).

Each point is (name, nth call, before/after it ran); `nth` is chosen so that the kill falls part way
through the stage (a later table, a later batch), and the test fails if the point is never reached.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import pytest

from sfxero_pipelines.sandbox.runner import SandboxServer

from ..conftest import FAST_XERO, pg_database
from .conftest import Chaos

#: (point, nth, when, backends).
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
CASES = [pytest.param(point, nth, when, backend, id=f"{point}#{nth}-{when}-{backend}")
         for point, nth, when, backends in POINTS for backend in backends]


@pytest.fixture(scope="module")
def chaos(tmp_path_factory):
    work = tmp_path_factory.mktemp("chaos")
    with SandboxServer(size="small", seed=42, xero_limits=FAST_XERO, state_dir=work / "sandbox") as server:
        yield Chaos(server, work)


@contextlib.contextmanager
def sqlite_url():
    with tempfile.TemporaryDirectory(prefix="sfxero-chaos-") as d:
        yield f"sqlite:///{Path(d) / 'staging.db'}"


@pytest.mark.slow
@pytest.mark.parametrize("point, nth, when, backend", CASES)
def test_the_sync_after_a_kill_converges_to_a_clean_runs_state(chaos, request, tmp_path, point, nth, when, backend):
    clean = chaos.clean(backend, pg_database if backend == "postgresql" else sqlite_url)
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'staging.db'}"
    after = chaos.kill_then_sync(url, point, nth, when)
    chaos.assert_as_clean(backend, url, after, clean)
