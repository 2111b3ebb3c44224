"""The code location loads: Definitions resolve, resources are registered once, and Dagster's own
validator accepts the project the way `dagster dev` / CI would load it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from sfxero_pipelines.definitions import defs

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_resolve_with_staging_resource():
    definitions = defs()
    assert isinstance(definitions, dg.Definitions)
    assert "staging" in definitions.resources
    # Builds the repository: every asset, check, job, sensor and resource binding must resolve.
    dg.Definitions.validate_loadable(definitions)
    assert "staging" in definitions.get_repository_def().get_top_level_resources()


def test_dagster_definitions_validate_accepts_workspace(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sfxero_pipelines" in result.stdout + result.stderr
