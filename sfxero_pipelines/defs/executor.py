"""The executor every sfxero job runs its steps with, chosen by `SFXERO_EXECUTOR` (no code change).

- unset or `multiprocess`: Dagster's default, one process per step on the machine running the run.
- `in_process`: every step in the run's own process (no per-step start-up: small deployments, and
  runs launched by a daemon on a busy machine).
- `celery`: dagster-celery; each step is a task on the broker `SFXERO_CELERY_BROKER` (default
  RabbitMQ on localhost, `pyamqp://guest@localhost//`), results in `SFXERO_CELERY_BACKEND` (default
  `rpc://`), routed to the queues of `defs/queues.py`. The workers must run the same code with the
  same `SFXERO_EXECUTOR` (they load this code location to run a step): `deploy/celery/up.sh`.

The broker and backend URLs are read from the environment when a run starts (`{"env": ...}`), so a
password in them never reaches the run config or the event log. `sfxero sync` runs its jobs in
process and does not use the executor; runs launched from the UI, schedules and sensors do.
"""

from __future__ import annotations

import os

import dagster as dg

from ..errors import ConfigError

EXECUTORS = ("multiprocess", "in_process", "celery")


def _celery_executor() -> dg.ExecutorDefinition:
    from dagster_celery import celery_executor

    config = {name: {"env": var} for name, var in (("broker", "SFXERO_CELERY_BROKER"),
                                                   ("backend", "SFXERO_CELERY_BACKEND"))
              if os.environ.get(var)}
    return celery_executor.configured(config, name="sfxero_celery")


@dg.definitions
def executor() -> dg.Definitions:
    choice = os.environ.get("SFXERO_EXECUTOR", "").strip().lower() or "multiprocess"
    if choice not in EXECUTORS:
        raise ConfigError("SFXERO_EXECUTOR", f"{choice!r} is not one of {', '.join(EXECUTORS)}")
    chosen = {"celery": _celery_executor, "in_process": lambda: dg.in_process_executor}.get(choice)
    return dg.Definitions(executor=chosen() if chosen else None)
