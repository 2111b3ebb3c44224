"""Fixtures for extract tests: both staging backends, resources pointed at a sandbox, and a helper
that materializes an extract asset for a partition (or range) as a real Dagster run."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from sfxero_pipelines.config import config_path, read_yaml
from sfxero_pipelines.defs.staging.resources import StagingDatabase
from sfxero_pipelines.defs.xero.resources import XeroResource

from .. import conftest as shared
from ..conftest import FAST_XERO, salesforce_resource  # noqa: F401 (imported from here by other folders' tests)


def xero_resource(server, **overrides) -> XeroResource:
    """The shared builder with Xero's minute limit lifted: extract tests count calls, not waits."""
    return shared.xero_resource(server, **{"per_minute_limit": FAST_XERO["per_minute"], **overrides})


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


@pytest.fixture
def past_days(tmp_path, monkeypatch) -> dt.date:
    """sfxero.yaml with `extract.start_date` a year back, as a team that backfills past days sets it: extract
    assets built from now on have a partition per day since (by default they start the day the staging
    database was set up). Returns that first day."""
    start = today() - dt.timedelta(days=365)
    data = read_yaml(config_path()) or {}
    data.setdefault("extract", {})["start_date"] = start.isoformat()
    config = tmp_path / "sfxero-past-days.yaml"
    config.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("SFXERO_CONFIG", str(config))
    return start


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
