"""Runs sfxero jobs one after the other with `dg.execute_job` on the instance of DAGSTER_HOME, from a fresh
process: the Celery test's driver (test_celery.py). A process builds its jobs from the configuration its
first import of the definitions saw, so the driver and the workers, each started with the test's
SFXERO_CONFIG and XERO_TENANT_ID, plan the same steps; the test's own process, which other tests may have
used first, could not. Prints one JSON line per run: {"job", "run_id"}.

    python -m sfxero_tests.deploy.celery_driver TENANT JOB [JOB ...]
"""

from __future__ import annotations

import datetime as dt
import json
import sys

import dagster as dg

from sfxero_pipelines.defs.reconstructable import reconstructable_sfxero_job
from sfxero_pipelines.defs.sync.tags import tenant_tags


def main(tenant: str, job_names: list[str]) -> None:
    with dg.DagsterInstance.get() as instance:
        for name in job_names:
            tags = {"sfxero/stage": "celery-test", **tenant_tags(name, tenant)}
            if name == "extract_job":
                tags["dagster/partition"] = dt.datetime.now(dt.timezone.utc).date().isoformat()
            with dg.execute_job(reconstructable_sfxero_job(name), instance=instance, tags=tags,
                                raise_on_error=False) as result:
                print(json.dumps({"job": name, "run_id": result.dagster_run.run_id}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
