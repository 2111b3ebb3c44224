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


def test_definitions_load_without_credentials_and_a_client_names_the_missing_one(monkeypatch):
    import pytest

    from sfxero_pipelines.defs.xero.resources import xero_resource_from_env
    from sfxero_pipelines.errors import ConfigError

    for var in ("XERO_CLIENT_ID", "XERO_CLIENT_SECRET", "XERO_API_URL"):
        monkeypatch.delenv(var, raising=False)
    dg.Definitions.validate_loadable(defs())
    with pytest.raises(ConfigError) as exc:
        xero_resource_from_env().get_client()
    assert str(exc.value) == "XERO_CLIENT_ID: is not set"


def test_the_verifying_pass_checks_every_suite_and_no_soft_signal():
    """`sfxero sync`'s verifying pass runs hold_check_job: every check that holds or blocks records (all of
    check_job's but the signals), so its signal results (one per staged table) are not written to the event log twice."""
    from sfxero_pipelines.cli.sync_cmd import stage_jobs

    definitions = defs()
    assert stage_jobs("check", definitions) == ("check_job",)
    assert stage_jobs("check", definitions, verifying=True) == ("hold_check_job",)
    assert stage_jobs("extract", definitions, verifying=True) == stage_jobs("extract", definitions)
    full = definitions.resolve_job_def("check_job").asset_layer.asset_graph.asset_check_keys
    holding = definitions.resolve_job_def("hold_check_job").asset_layer.asset_graph.asset_check_keys
    signals = {k for k in full if k.name == "signals"}
    assert signals and holding == full - signals
    assert {k.name for k in holding} >= {"quality", "accounting_invoice_push", "accounting_contact_push"}


def test_each_push_job_runs_the_push_checks_of_the_plans_it_writes_and_reconcile_job_none():
    """A plan's blocking `ready_to_push` and `mass_change` run first in the push job of the system its rows
    go to (nothing reaches that target before them), and only there: a plan held by the guard stops the
    push into its own target, not the other system's. reconcile_job stores plans without them, so a cycle
    does not evaluate them twice."""
    definitions = defs()
    plans = {k for k in definitions.resolve_job_def("reconcile_job").asset_layer.asset_graph.get_all_asset_keys()
             if k.to_user_string().startswith("sync_plan_")}
    assert plans
    assert not definitions.resolve_job_def("reconcile_job").asset_layer.asset_graph.asset_check_keys
    into = {"xero": {"sync_plan_r1", "sync_plan_r2", "sync_plan_r7"},
            "salesforce": {"sync_plan_r3", "sync_plan_r4", "sync_plan_r5", "sync_plan_r6"}}
    for system, job in (("xero", "push_xero_job"), ("salesforce", "push_salesforce_job")):
        checks = definitions.resolve_job_def(job).asset_layer.asset_graph.asset_check_keys
        for name in ("ready_to_push", "mass_change"):
            assert {k.asset_key.to_user_string() for k in checks if k.name == name} == into[system], (job, name)
    assert {dg.AssetKey(p) for p in into["xero"] | into["salesforce"]} == plans
