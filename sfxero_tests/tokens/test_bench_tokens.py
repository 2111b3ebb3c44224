"""`sfxero bench tokens --json` as a user runs it: 8 processes, one stored connection, 2-second access
tokens; every call succeeds, no invalid_grant, and one rotation per token lifetime, not one per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPEC_KEYS = {"bench", "records", "seconds", "api_calls", "floor_seconds", "ratio_to_floor", "peak_rss_mb"}


def test_bench_tokens_rotates_once_per_lifetime_across_eight_processes(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sfxero_pipelines.cli", "bench", "tokens", "--json"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert SPEC_KEYS | {"processes", "token_calls", "rotations", "invalid_grant"} <= set(out)
    assert out["bench"] == "tokens" and out["processes"] == 8
    assert out["records"] == 400 and out["failed_calls"] == 0 and out["invalid_grant"] == 0, out["errors"]
    assert out["api_calls"] == {"salesforce": 0, "xero": 400}
    assert out["token_calls"] == out["rotations"] and 1 <= out["rotations"] <= out["expiries"]
