"""Dagster runs execute on a real instance whose storage is the real PostgreSQL (dagster-postgres),
and the embedded default instance is SQLite under DAGSTER_HOME, persisted across runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from sfxero_pipelines.defs.staging.resources import StagingDatabase

ROOT = Path(__file__).resolve().parents[1]


@dg.asset
def staging_probe(staging: StagingDatabase) -> dg.MaterializeResult:
    """Touches the staging database through the registered resource."""
    with staging.begin() as conn:
        version = conn.execute(sa.text("SELECT max(version) FROM sfxero_schema_version")).scalar_one()
    return dg.MaterializeResult(metadata={"schema_version": version})


def _run_probe(instance: dg.DagsterInstance, staging_url: str) -> dg.ExecuteInProcessResult:
    return dg.materialize([staging_probe], instance=instance, resources={"staging": StagingDatabase(url=staging_url)})


def test_run_on_postgres_instance(tmp_path, pg_url, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "deploy/postgres/dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", make_url(pg_url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = _run_probe(instance, f"sqlite:///{tmp_path / 'staging.db'}")
        assert result.success
        run_id = result.run_id
    # The run is in PostgreSQL: read it back with plain SQL, not through Dagster.
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        status = conn.execute(sa.text("SELECT status FROM runs WHERE run_id = :r"), {"r": run_id}).scalar_one()
        events = conn.execute(sa.text("SELECT count(*) FROM event_logs WHERE run_id = :r"), {"r": run_id}).scalar_one()
    engine.dispose()
    assert status == "SUCCESS"
    assert events > 5


def test_embedded_instance_persists_runs(tmp_path, monkeypatch):
    from sfxero_pipelines.cli.instance import prepare_dagster_home

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    home = prepare_dagster_home()
    assert (home / "dagster.yaml").read_text() == (ROOT / "dagster.yaml").read_text()
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        run_id = _run_probe(instance, f"sqlite:///{tmp_path / 'staging.db'}").run_id
    # A new process-level instance on the same home sees the earlier run (persisted, not ephemeral).
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(run_id).is_success
    assert (home / "history" / "runs.db").exists()
