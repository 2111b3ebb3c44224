"""Fixtures for extract tests: both staging backends, resources pointed at a sandbox, and a helper
that materializes an extract asset for a partition (or range) as a real Dagster run."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import sqlalchemy as sa

from sfxero_pipelines.defs.staging.resources import StagingDatabase
from sfxero_pipelines.defs.xero.resources import XeroResource

FAST_XERO = {"per_minute": 100_000, "app_per_minute": 100_000}


def xero_resource(server, **overrides) -> XeroResource:
    env = server.env
    kwargs = dict(api_url=env["XERO_API_URL"], identity_url=env["XERO_IDENTITY_URL"], client_id=env["XERO_CLIENT_ID"],
                  client_secret=env["XERO_CLIENT_SECRET"], tenant_id=env["XERO_TENANT_ID"],
                  ca_bundle=env["SFXERO_CA_BUNDLE"], per_minute_limit=FAST_XERO["per_minute"])
    kwargs.update(overrides)
    return XeroResource(**kwargs)


def salesforce_resource(server, **overrides):
    from sfxero_pipelines.defs.salesforce.resources import SalesforceResource

    env = server.env
    kwargs = dict(login_url=env["SALESFORCE_LOGIN_URL"], client_id=env["SALESFORCE_CLIENT_ID"],
                  client_secret=env["SALESFORCE_CLIENT_SECRET"], ca_bundle=env["SFXERO_CA_BUNDLE"],
                  api_version=env["SALESFORCE_API_VERSION"])
    kwargs.update(overrides)
    return SalesforceResource(**kwargs)


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def materialize(assets: list, resources: dict, *, partition: dt.date | None = None,
                partition_range: tuple[dt.date, dt.date] | None = None) -> dg.ExecuteInProcessResult:
    """A real run on an ephemeral instance: one partition, a single-run backfill range, or unpartitioned."""
    instance = dg.DagsterInstance.ephemeral()
    if partition_range is not None:
        job = dg.Definitions(assets=assets, resources=resources,
                             jobs=[dg.define_asset_job("backfill", selection=dg.AssetSelection.assets(*assets))]
                             ).resolve_job_def("backfill")
        return job.execute_in_process(instance=instance, tags={
            "dagster/asset_partition_range_start": partition_range[0].isoformat(),
            "dagster/asset_partition_range_end": partition_range[1].isoformat()})
    kwargs = {"partition_key": partition.isoformat()} if partition else {}
    return dg.materialize(assets, resources=resources, instance=instance, **kwargs)


def staged(db: StagingDatabase, table: str) -> dict[str, dict]:
    """Staged rows by id (system columns included)."""
    with db.engine.connect() as conn:
        rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).mappings().all()
    out = {}
    for row in rows:
        row = dict(row)
        if isinstance(row["raw"], str):  # SQLite hands JSON back as text to a plain SELECT
            row["raw"] = json.loads(row["raw"])
        out[row["id"]] = row
    return out


def metadata_of(result: dg.ExecuteInProcessResult, asset_name: str) -> dict:
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key.to_user_string() == asset_name:
            return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    raise AssertionError(f"no materialization for {asset_name}")
