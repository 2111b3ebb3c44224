"""Reconstructs a sfxero job by name in another process: the pointer a run hands to Celery workers.

`dg.execute_job` on a Celery deployment needs a job each step's process can rebuild; the worker imports
this module and calls `sfxero_job(name)`, which loads the same code location (with the same
`SFXERO_EXECUTOR`). Used by `bench scale` and the Celery test, which run jobs from their own process.
"""

from __future__ import annotations

import dagster as dg


def sfxero_job(name: str) -> dg.JobDefinition:
    from ..definitions import defs

    return defs().resolve_job_def(name)


def reconstructable_sfxero_job(name: str):
    return dg.build_reconstructable_job("sfxero_pipelines.defs.reconstructable", "sfxero_job",
                                        reconstructable_args=(name,))
