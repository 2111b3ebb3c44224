"""The jobs each `sfxero sync --stage` runs, in order, by name.

Apart from the job definitions (`jobs.py`) so that the CLI can name them at import without building
them: a job's run tags are fixed when it is built, from the organisation the environment names
(`tags.tenant_tags`), and the CLI loads that environment (the sandbox's env file) only once a command
runs.
"""

from __future__ import annotations

STAGE_JOBS: dict[str, tuple[str, ...]] = {
    "extract": ("reference_extract_job", "extract_job"),
    "reconcile": ("reconcile_job",),
    "check": ("check_job",),
    "push": ("push_xero_job", "push_salesforce_job"),
}
