"""Reconstructs a sfxero job by name in a Celery worker: the pointer a run hands to the broker.

`dg.execute_job` needs a job the step's process can rebuild; the worker imports this module and
calls `sfxero_job(name)`, which loads the same code location (with the same `SFXERO_EXECUTOR`).
"""

from __future__ import annotations

import dagster as dg


def sfxero_job(name: str) -> dg.JobDefinition:
    from sfxero_pipelines.definitions import defs

    return defs().resolve_job_def(name)


def reconstructable_sfxero_job(name: str):
    return dg.build_reconstructable_job(__name__, "sfxero_job", reconstructable_args=(name,))
