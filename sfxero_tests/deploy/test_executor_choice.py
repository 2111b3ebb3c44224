"""SFXERO_EXECUTOR picks the executor of every job; a wrong value is one line naming the variable."""

from __future__ import annotations

import pytest

from sfxero_pipelines.definitions import defs
from sfxero_pipelines.defs.queues import CELERY_QUEUE_TAG
from sfxero_pipelines.defs.sync.stages import STAGE_JOBS
from sfxero_pipelines.errors import ConfigError

ALL_JOBS = [name for names in STAGE_JOBS.values() for name in names]


def test_celery_executor_on_every_job_and_api_steps_on_their_system_queue(monkeypatch):
    monkeypatch.setenv("SFXERO_EXECUTOR", "celery")
    loaded = defs()
    assert {loaded.resolve_job_def(n).executor_def.name for n in ALL_JOBS} == {"sfxero_celery"}
    queues = {node.name: node.tags.get(CELERY_QUEUE_TAG)
              for n in ("extract_job", "reference_extract_job", "push_xero_job", "push_salesforce_job")
              for node in loaded.resolve_job_def(n).graph.node_defs}
    assert queues["xero_push"] == "xero" and queues["salesforce_push"] == "salesforce"
    assert queues["sf_account"] == "salesforce" and queues["xero_contact"] == "xero"
    assert queues["xero_account"] == "xero"  # reference data, read whole


def test_default_executor_when_unset(monkeypatch):
    monkeypatch.delenv("SFXERO_EXECUTOR", raising=False)
    loaded = defs()
    assert {loaded.resolve_job_def(n).executor_def.name for n in ALL_JOBS} == {"multi_or_in_process_executor"}


def test_unknown_executor_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv("SFXERO_EXECUTOR", "kubernetes")
    with pytest.raises(Exception) as raised:
        defs()
    cause = raised.value
    while not isinstance(cause, ConfigError) and cause.__cause__ is not None:
        cause = cause.__cause__
    assert isinstance(cause, ConfigError)
    assert str(cause) == "SFXERO_EXECUTOR: 'kubernetes' is not one of multiprocess, in_process, celery"


def test_in_process_executor_runs_every_step_in_the_run_process(monkeypatch):
    monkeypatch.setenv("SFXERO_EXECUTOR", "in_process")
    loaded = defs()
    assert {loaded.resolve_job_def(n).executor_def.name for n in ALL_JOBS} == {"in_process"}
