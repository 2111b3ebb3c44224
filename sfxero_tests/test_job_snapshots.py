"""Every job's snapshot is the same in every process (docs/architecture.md §4.1): the UI compares a
run's snapshot with its code location's to decide whether it is "a different version"."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.subprocess

_SNAPSHOTS = """
import json
from sfxero_pipelines.definitions import defs
repo = defs().get_repository_def()
print(json.dumps({job.name: job.get_job_snapshot_id() for job in repo.get_all_jobs()}))
"""


def _snapshot_ids(hash_seed: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    out = subprocess.run([sys.executable, "-c", _SNAPSHOTS], env=env, capture_output=True, text=True,
                         timeout=180, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_job_snapshots_do_not_depend_on_the_process_hash_seed():
    first, second = _snapshot_ids("1"), _snapshot_ids("2")
    assert {"check_job", "hold_check_job", "push_xero_job", "push_salesforce_job"} <= set(first)
    changed = sorted(name for name in first if first[name] != second.get(name))
    assert not changed, f"job snapshots differ between processes: {changed}"
