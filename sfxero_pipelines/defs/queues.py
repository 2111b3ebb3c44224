"""Which Celery queue an API-calling step goes to under the Celery executor (see deploy/celery/).

Steps that call Xero go to the `xero` queue and steps that call Salesforce to `salesforce`, so each
system's calls can get their own workers (and a worker count that fits that system's rate limits);
every other step (checks, reconcile) goes to dagster-celery's default queue, `dagster`. The tags are
inert under the default executor.
"""

from __future__ import annotations

#: The op tag dagster-celery routes a step by.
CELERY_QUEUE_TAG = "dagster-celery/queue"
DEFAULT_QUEUE = "dagster"

XERO_QUEUE = {CELERY_QUEUE_TAG: "xero"}
SALESFORCE_QUEUE = {CELERY_QUEUE_TAG: "salesforce"}
