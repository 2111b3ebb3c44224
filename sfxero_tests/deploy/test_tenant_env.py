"""Which environment a step gets on a worker shared by several organisations (sfxero_pipelines/tenant_env.py):
its organisation's env file, the worker's own when the run is the worker's organisation's, and a refusal
naming the missing file otherwise. The Celery path itself runs in test_celery.py and `bench scale`."""

from __future__ import annotations

import os

import dagster as dg
import pytest

from sfxero_pipelines.defs.staging.resources import StagingDatabase
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.tenant_env import REFUSED_VAR, TENANT_ENV_DIR, environment_applied, refusal, step_environment

ORG_A, ORG_B = "a3c1e6f0-0000-4000-8000-00000000000a", "b7d2f9e1-0000-4000-8000-00000000000b"


def _env_file(folder, tenant: str, **values: str):
    (folder / f"{tenant}.env").write_text("# one organisation's code location\n"
                                          + "".join(f'{k}="{v}"\n' for k, v in values.items()))


def test_a_step_gets_its_organisations_file(tmp_path):
    _env_file(tmp_path, ORG_A, XERO_TENANT_ID=ORG_A, SFXERO_STAGING_URL="postgresql+psycopg://h/org_a")
    _env_file(tmp_path, ORG_B, XERO_TENANT_ID=ORG_B, SFXERO_STAGING_URL="postgresql+psycopg://h/org_b")
    worker = {TENANT_ENV_DIR: str(tmp_path), "SFXERO_STAGING_URL": "sqlite:///worker.db"}
    assert step_environment(ORG_B, worker) == {"XERO_TENANT_ID": ORG_B,
                                               "SFXERO_STAGING_URL": "postgresql+psycopg://h/org_b"}
    assert step_environment(ORG_A, worker)["SFXERO_STAGING_URL"] == "postgresql+psycopg://h/org_a"


def test_the_workers_own_organisation_needs_no_file():
    assert step_environment(ORG_A, {"XERO_TENANT_ID": ORG_A}) == {}
    assert step_environment("default", {}) == {}
    assert step_environment(None, {"XERO_TENANT_ID": ORG_A}) == {}  # a run without the tag: the worker's


@pytest.mark.parametrize("with_dir", [True, False])
def test_another_organisations_step_is_refused_naming_the_file(tmp_path, with_dir):
    worker = {"XERO_TENANT_ID": ORG_A, **({TENANT_ENV_DIR: str(tmp_path)} if with_dir else {})}
    with pytest.raises(ConfigError) as refused:
        step_environment(ORG_B, worker)
    message = str(refused.value)
    assert TENANT_ENV_DIR in message and f"{ORG_B}.env" in message and ORG_A in message
    assert (str(tmp_path) in message) == with_dir


def test_a_file_naming_another_organisation_is_refused(tmp_path):
    _env_file(tmp_path, ORG_B, XERO_TENANT_ID=ORG_A)
    with pytest.raises(ConfigError, match=f"is for organisation {ORG_B} but its XERO_TENANT_ID names {ORG_A}"):
        step_environment(ORG_B, {TENANT_ENV_DIR: str(tmp_path)})


def test_the_default_organisations_file_on_a_worker_naming_one_is_refused(tmp_path):
    _env_file(tmp_path, "default", SFXERO_STAGING_URL="sqlite:///custom.db")
    assert step_environment("default", {TENANT_ENV_DIR: str(tmp_path)}) == {"SFXERO_STAGING_URL": "sqlite:///custom.db"}
    with pytest.raises(ConfigError, match="names no organisation"):
        step_environment("default", {TENANT_ENV_DIR: str(tmp_path), "XERO_TENANT_ID": ORG_A})


@pytest.mark.parametrize("tenant", ["../etc/passwd", ".hidden", "a/b"])
def test_a_tag_that_is_not_a_file_name_is_refused(tmp_path, tenant):
    with pytest.raises(ConfigError, match="not an organisation id"):
        step_environment(tenant, {TENANT_ENV_DIR: str(tmp_path)})


def test_the_environment_is_put_back_after_the_step(monkeypatch):
    monkeypatch.setenv("SFXERO_STAGING_URL", "sqlite:///worker.db")
    monkeypatch.delenv("XERO_TENANT_ID", raising=False)
    with environment_applied({"SFXERO_STAGING_URL": "postgresql+psycopg://h/org_b", "XERO_TENANT_ID": ORG_B}):
        assert os.environ["XERO_TENANT_ID"] == ORG_B
        assert os.environ["SFXERO_STAGING_URL"].endswith("org_b")
    assert os.environ["SFXERO_STAGING_URL"] == "sqlite:///worker.db" and "XERO_TENANT_ID" not in os.environ


def test_a_refused_step_fails_in_dagster_with_the_reason_before_touching_staging(tmp_path, monkeypatch):
    """What the worker app does with a step it has no environment for: every staging engine is refused, so the
    step fails in Dagster with the reason."""
    assert refusal({}) is None
    database = tmp_path / "the-workers-own.db"

    @dg.asset
    def staged(staging: StagingDatabase) -> None:
        staging.engine.dispose()

    monkeypatch.setenv(REFUSED_VAR, f"a step of organisation {ORG_B} needs /x/{ORG_B}.env")
    result = dg.materialize([staged], resources={"staging": StagingDatabase(url=f"sqlite:///{database}")},
                            raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    said = failure.step_failure_data.error.to_string()
    assert f"{TENANT_ENV_DIR}: a step of organisation {ORG_B} needs /x/{ORG_B}.env" in said
    assert not database.exists()  # nothing was opened, let alone written
    monkeypatch.delenv(REFUSED_VAR)
    assert dg.materialize([staged], resources={"staging": StagingDatabase(url=f"sqlite:///{database}")}).success
