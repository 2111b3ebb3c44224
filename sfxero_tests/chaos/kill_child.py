"""`sfxero sync --stage all` in a process that kills itself with SIGKILL at a named point (a real `kill -9`).

Usage: python -m sfxero_tests.chaos.kill_child POINT NTH [WHEN]

POINT is a name of `POINTS` (a function of the sync's own path: a page written, a cursor saved, a
suite run, a plan stored, a ledger row begun, a write sent…); the NTH call of it, counted across the
whole process, sends SIGKILL to the process `before` the call runs or `after` it returned (default).
Nothing in production knows about this: the wrapper is installed on the module attribute the code
looks up at call time, in this test-only child, so the data path under test is the real one.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

#: Named kill point -> (module whose attribute the sync looks up at call time, attribute path).
POINTS: dict[str, tuple[str, str]] = {
    # extract
    "extract.page_written": ("sfxero_pipelines.extract.writer", "StagingWriter.write"),
    "extract.page_flushed": ("sfxero_pipelines.extract.writer", "StagingWriter.flush"),
    "extract.sf_cursor_saved": ("sfxero_pipelines.extract.salesforce", "save_state"),
    "extract.xero_cursor_saved": ("sfxero_pipelines.extract.xero", "save_state"),
    "extract.writer_cursor_saved": ("sfxero_pipelines.extract.writer", "save_state"),
    "extract.xero_page_read": ("sfxero_pipelines.clients.xero", "XeroClient.get_page"),
    "extract.sf_describe": ("sfxero_pipelines.clients.salesforce", "SalesforceClient.describe"),
    # check
    "check.suite_run": ("sfxero_pipelines.defs.checks.checks", "run_suite"),
    "check.holds_synced": ("sfxero_pipelines.defs.checks.checks", "sync_holds"),
    # reconcile
    "reconcile.family_built": ("sfxero_pipelines.defs.reconciliation.assets", "build_family"),
    "reconcile.plan_stored": ("sfxero_pipelines.defs.reconciliation.assets", "write_plan"),
    # push
    "push.ledger_begun": ("sfxero_pipelines.staging.state.ledger", "begin"),
    "push.ledger_finished": ("sfxero_pipelines.staging.state.ledger", "finish"),
    "push.xero_write": ("sfxero_pipelines.clients.xero", "XeroClient.write"),
    "push.links_recorded": ("sfxero_pipelines.staging.state.links", "record_links"),
    "push.sf_write_back": ("sfxero_pipelines.clients.salesforce", "SalesforceClient.update_collection"),
}


def arm(point: str, nth: int, when: str = "after") -> None:
    module_name, path = POINTS[point]
    owner = importlib.import_module(module_name)
    *parents, attr = path.split(".")
    for name in parents:
        owner = getattr(owner, name)
    original = getattr(owner, attr)
    calls = {"n": 0}

    def die() -> None:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth and when == "before":
            die()
        result = original(*args, **kwargs)
        if calls["n"] == nth:
            die()
        return result

    setattr(owner, attr, wrapper)


def main() -> None:
    point, nth = sys.argv[1], int(sys.argv[2])
    arm(point, nth, sys.argv[3] if len(sys.argv) > 3 else "after")
    from sfxero_pipelines.cli import main as sfxero

    sfxero(["sync", "--stage", "all"])


if __name__ == "__main__":
    main()
