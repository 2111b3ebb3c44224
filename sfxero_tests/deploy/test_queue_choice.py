"""Which door `sfxero sync` takes: the run queue on an instance configured with one (the production
configs), in process on the embedded default; and the run tags the queue's limits read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sfxero_pipelines.cli.queued import queue_chosen
from sfxero_pipelines.definitions import defs
from sfxero_pipelines.defs.sync.stages import STAGE_JOBS
from sfxero_pipelines.defs.sync.tags import SALESFORCE_POOL, tenant_tags, xero_pool
from sfxero_pipelines.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_production_configs_queue_and_the_embedded_default_runs_in_process(tmp_path):
    assert queue_chosen(ROOT / "deploy/postgres/dagster.yaml", {})
    assert queue_chosen(ROOT / "deploy/celery/dagster.yaml", {})
    assert not queue_chosen(ROOT / "dagster.yaml", {})
    assert not queue_chosen(tmp_path / "absent.yaml", {})
    assert queue_chosen(ROOT / "dagster.yaml", {"SFXERO_SYNC_RUNS": "queue"})
    assert not queue_chosen(ROOT / "deploy/celery/dagster.yaml", {"SFXERO_SYNC_RUNS": "in-process"})


def test_a_wrong_sync_runs_value_is_one_line_naming_the_variable():
    with pytest.raises(ConfigError) as wrong:
        queue_chosen(ROOT / "dagster.yaml", {"SFXERO_SYNC_RUNS": "daemon"})
    assert str(wrong.value) == "SFXERO_SYNC_RUNS: 'daemon' is not one of queue, in-process"


def test_every_job_is_tagged_with_its_tenant_and_pushes_with_their_target():
    assert tenant_tags("push_xero_job", "t-1") == {"sfxero/tenant": "t-1", "sfxero/job_tenant": "push_xero_job:t-1"}
    loaded = defs()
    for name in (n for names in STAGE_JOBS.values() for n in names):
        tags = loaded.resolve_job_def(name).tags
        assert tags["sfxero/job_tenant"] == f"{name}:{tags['sfxero/tenant']}", name
    assert loaded.resolve_job_def("push_xero_job").tags["sfxero/target"] == "xero"
    assert loaded.resolve_job_def("push_salesforce_job").tags["sfxero/target"] == "salesforce"


def _in_a_fresh_process(code: str, environ: dict[str, str]) -> str:
    """The last line `code` prints, run in a new Python process with `environ` (the definitions fix their
    jobs' tags and their steps' pools when first imported, from the environment then)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=environ, capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


POOLS = ("from sfxero_pipelines.definitions import defs\n"
         "loaded = defs()\n"
         "print(sorted({(n.name.split('_')[0], n.definition.pool) for job in ('extract_job', 'push_xero_job', "
         "'push_salesforce_job') for n in loaded.resolve_job_def(job).nodes if n.definition.pool}))\n")


@pytest.mark.subprocess
def test_each_organisation_has_its_own_xero_pool_and_salesforce_one():
    assert xero_pool("t-1") == "xero_api/t-1" and xero_pool("t-2") == "xero_api/t-2"
    base = {k: v for k, v in os.environ.items() if k != "XERO_TENANT_ID"}
    named = _in_a_fresh_process(POOLS, {**base, "XERO_TENANT_ID": "t-1"})
    # Salesforce's extracts (sf_*) and push (salesforce_push) share one pool; Xero's extracts and push the
    # organisation's.
    assert named == str([("salesforce", SALESFORCE_POOL), ("sf", SALESFORCE_POOL), ("xero", "xero_api/t-1")]), named
    # A location naming no organisation (a custom connection): the pool as before.
    assert _in_a_fresh_process(POOLS, base) == str([("salesforce", SALESFORCE_POOL), ("sf", SALESFORCE_POOL),
                                                    ("xero", "xero_api")])


def test_bench_scale_refuses_what_it_cannot_run_in_one_line():
    from ..test_cli import sfxero

    many = sfxero("bench", "scale", "--tenants", "9", "--staging", "postgresql+psycopg://u@127.0.0.1/x", "--json")
    assert many.returncode == 2 and "--tenants" in many.stderr and "at most 8" in many.stderr, many.stderr
    sqlite = sfxero("bench", "scale", "--json")
    assert sqlite.returncode == 2 and "--staging" in sqlite.stderr and "PostgreSQL" in sqlite.stderr, sqlite.stderr
    other = sfxero("bench", "push", "--tenants", "2", "--json")
    assert other.returncode == 2 and "applies to `bench scale` only" in other.stderr, other.stderr


@pytest.mark.subprocess
def test_cli_runs_carry_the_organisation_its_env_file_names():
    """The CLI loads the sandbox's env file (XERO_TENANT_ID with it) only when a command runs, after its
    modules are imported: the jobs it runs must be built after that, or their runs would be tagged
    `default` and queue as another organisation's."""
    probe = (
        "import importlib, os, pkgutil\n"
        "import sfxero_pipelines.cli as cli\n"
        "for m in (m for m in pkgutil.iter_modules(cli.__path__) if m.name != '__main__'):\n"
        "    importlib.import_module(f'sfxero_pipelines.cli.{m.name}')\n"
        "os.environ['XERO_TENANT_ID'] = 'org-from-env-file'\n"  # as use_configured_or_sandbox() does
        "from sfxero_pipelines.definitions import defs\n"
        "loaded = defs()\n"
        "from sfxero_pipelines.defs.sync.stages import STAGE_JOBS\n"
        "print(sorted({loaded.resolve_job_def(n).tags['sfxero/tenant'] for names in STAGE_JOBS.values() for n in names}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "XERO_TENANT_ID"}
    assert _in_a_fresh_process(probe, env) == "['org-from-env-file']"
