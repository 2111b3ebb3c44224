"""The body of the kill-point tests (`test_kill_*.py`), shared so that the points can be split over
modules that pytest-xdist runs side by side (each module builds its sandbox and clean runs once)."""

from __future__ import annotations

import contextlib
import shutil

import pytest

from sfxero_pipelines.sandbox.runner import SandboxServer

from ..conftest import FAST_XERO, pg_database
from .conftest import Chaos, scratch_dir


#: The cases every `make test` runs: one per stage family and one on PostgreSQL. Each case costs a
#: killed and a complete sync (about a minute), so all of them would take CI past its time budget:
#: the others carry the `chaos` marker and `make test-chaos` runs every case.
EVERY_RUN = {("extract.page_written", 4, "after", "postgresql"), ("check.suite_run", 5, "after", "sqlite"),
             ("push.xero_write", 1, "after", "sqlite")}


def cases(points: list[tuple]) -> list:
    return [pytest.param(point, nth, when, backend, id=f"{point}#{nth}-{when}-{backend}",
                         marks=() if (point, nth, when, backend) in EVERY_RUN else (pytest.mark.chaos,))
            for point, nth, when, backends in points for backend in backends]


@contextlib.contextmanager
def chaos_sandbox():
    work = scratch_dir("sfxero-chaos-")
    try:
        with SandboxServer(size="small", seed=42, xero_limits=FAST_XERO, state_dir=work / "sandbox") as server:
            yield Chaos(server, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def kill_then_compare(chaos: Chaos, request, point: str, nth: int, when: str, backend: str) -> None:
    """Kill `sfxero sync` at the point, run it again (within the clean run's time, `AFTER_KILL_FACTOR`),
    and compare with a clean run on the same backend."""
    if backend == "postgresql":
        clean = chaos.clean(backend, pg_database)
        url = request.getfixturevalue("pg_url")
    else:
        clean = chaos.clean(backend, lambda: contextlib.nullcontext(chaos.sqlite_url()))
        url = chaos.sqlite_url()
    after, seconds = chaos.kill_then_sync(url, point, nth, when, backend)
    # The figures behind the bound, in the JUnit report (`--junitxml`) of every case.
    request.node.user_properties += [("clean_run_s", round(chaos.clean_seconds[backend], 1)),
                                     ("after_kill_run_s", round(seconds, 1))]
    chaos.assert_as_clean(backend, url, after, clean)
