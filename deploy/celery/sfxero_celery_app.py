"""sfxero's Celery worker app (`celery -A sfxero_celery_app worker`, started by deploy/celery/up.sh, which
puts this directory on the path): dagster-celery's own tasks, with each step run in the environment of the
organisation its run is for.

A worker may serve several Xero organisations, each synced by runs of its own code location (its
`XERO_TENANT_ID`, its staging database). Before a step runs, the task reads its run's `sfxero/tenant`
tag and applies that organisation's env file from `SFXERO_TENANT_ENV_DIR`
(`sfxero_pipelines/tenant_env.py`); a step of an organisation the worker has no environment for fails
in one line naming the missing file (every staging engine is refused: `tenant_env.REFUSED_VAR`), instead
of running against another organisation's database.
The run id is read from the task's arguments by the wire name dagster-celery gives it
(`pipeline_run_id`, kept stable by Dagster's serializer for old payloads).
"""

from __future__ import annotations

import os

import dagster as dg
from celery import Task
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task

from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.tenant_env import REFUSED_VAR, TENANT_ENV_DIR, TENANT_TAG, environment_applied, step_environment


def _run_tags(packed_step_args: dict) -> dict[str, str]:
    run_id = packed_step_args["pipeline_run_id"]
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
    if run is None:
        raise ConfigError("DAGSTER_HOME", f"run {run_id} is not in this worker's Dagster instance "
                          f"({os.environ.get('DAGSTER_HOME', 'unset')}): start the worker with the instance of "
                          "the deployment that sent it")
    return run.tags


class TenantStep(Task):
    """dagster-celery's step task, run inside its organisation's environment."""

    def __call__(self, *args, **kwargs):
        packed = kwargs["execute_step_args_packed"] if "execute_step_args_packed" in kwargs else args[0]
        try:
            values = step_environment(_run_tags(packed).get(TENANT_TAG), os.environ)
        except ConfigError as refused:
            # Not raised from the task: dagster-celery stops submitting a run's steps after a task error
            # but waits for them, so the run would hang. The step fails inside Dagster instead.
            values = {REFUSED_VAR: str(refused) if refused.key != TENANT_ENV_DIR else refused.problem}
        with environment_applied(values):
            return super().__call__(*args, **kwargs)


app = make_app()
execute_plan = create_task(app, base=TenantStep)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
