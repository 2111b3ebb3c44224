"""The run tags the run queue limits by (`tag_concurrency_limits` in every deploy/*/dagster.yaml and the
Helm values), so that concurrency scales with Xero organisations:

- `sfxero/target` (push jobs): the system written. Salesforce is one org per deployment: limit 1.
- `sfxero/tenant`: the Xero organisation a run works on. A limit on the key alone caps how many
  tenants' runs go at once (the deployment's worker and API capacity).
- `sfxero/job_tenant` = `<job>:<tenant>`: limited to 1 per unique value, so one tenant's push (or
  extract, ...) never runs twice at once, while different tenants' run side by side.

Steps that call Xero take the organisation's own Dagster pool (`xero_pool`: `xero_api/<tenant>`), so
organisations' API steps run side by side while each organisation's go one at a time; Salesforce's
steps share `salesforce_api` (one org).

The queue admits; the writer lease in the staging database (`staging/state/lease.py`) is what
guarantees one writer per (system, tenant) for runs that step past the queue. A job without a
tenant of its own (one organisation per code location, `XERO_TENANT_ID` unset: a custom connection)
is tagged `default`.
"""

from __future__ import annotations

import os

from ...tenant_env import DEFAULT_TENANT, TENANT_TAG, own_tenant

TARGET_TAG = "sfxero/target"
JOB_TENANT_TAG = "sfxero/job_tenant"
__all__ = ["DEFAULT_TENANT", "JOB_TENANT_TAG", "SALESFORCE_POOL", "TARGET_TAG", "TENANT_TAG", "XERO_POOL",
           "tenant_of_location", "tenant_tags", "xero_pool"]
XERO_POOL = "xero_api"
SALESFORCE_POOL = "salesforce_api"


def tenant_of_location() -> str:
    """The organisation this code location works on (its `XERO_TENANT_ID`), or `default`."""
    return own_tenant(os.environ)


def tenant_tags(job_name: str, tenant: str | None = None) -> dict[str, str]:
    tenant = tenant or tenant_of_location()
    return {TENANT_TAG: tenant, JOB_TENANT_TAG: f"{job_name}:{tenant}"}


def xero_pool(tenant: str | None = None) -> str:
    """The Dagster pool of the steps that call Xero: one per organisation (`xero_api/<tenant>`), since
    Xero's limits are each organisation's and one organisation's steps must not wait for another's;
    `xero_api` for a location that names none. The instance's `pools.default_limit` (1) applies to each."""
    tenant = tenant or tenant_of_location()
    return XERO_POOL if tenant == DEFAULT_TENANT else f"{XERO_POOL}/{tenant}"
