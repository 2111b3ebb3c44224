"""A CLI run keeps its SQLite event-log files open (cli/instance_files.py): each event then costs one
WAL commit instead of a checkpoint at every per-event connection close. The evidence that a file is
held: its WAL survives between events (SQLite deletes it when the last connection closes)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from sfxero_pipelines.cli import launcher
from sfxero_pipelines.cli.instance_files import event_log_files_held


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.get() as inst:
        yield inst


def _wal_job(seen: dict) -> dg.JobDefinition:
    @dg.op
    def look(context):
        storage = context.instance.event_log_storage
        seen["index"] = Path(storage.path_for_shard("index") + "-wal").exists()
        seen["run"] = Path(storage.path_for_shard(context.run_id) + "-wal").exists()

    @dg.job
    def wal_job():
        look()

    return wal_job


def test_a_cli_run_holds_its_event_log_files_open_so_the_wal_is_not_checkpointed_per_event(instance):
    instance.get_runs()  # the index shard exists before the first run, as on a used instance
    seen: dict = {}
    result = launcher.execute(_wal_job(seen), instance, tags={"sfxero/stage": "test"})
    assert result.success
    assert seen == {"index": True, "run": True}
    # Every event was stored and is readable once the files are released.
    kinds = {e.dagster_event.event_type_value for e in instance.all_logs(result.run_id) if e.dagster_event}
    assert {"PIPELINE_START", "STEP_START", "STEP_SUCCESS", "PIPELINE_SUCCESS"} <= kinds


def test_a_run_that_never_started_leaves_no_shard_file_behind(instance):
    storage = instance.event_log_storage
    with event_log_files_held(instance, "never-started") as held:
        assert Path(storage.path_for_shard("never-started")) in held
    assert not Path(storage.path_for_shard("never-started")).exists()
    assert "never-started" not in storage.get_all_run_ids()


def _synchronous(url: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("PRAGMA synchronous").scalar()
    finally:
        engine.dispose()


def test_while_a_run_executes_the_instance_files_commit_without_a_disk_sync_and_others_are_untouched(instance, tmp_path):
    storage = instance.event_log_storage
    history = Path(storage.path_for_shard("index")).parent.parent
    inside, outside = f"sqlite:///{history / 'runs.db'}", f"sqlite:///{tmp_path / 'elsewhere.db'}"
    full, normal = 2, 1
    assert _synchronous(inside) == full
    with event_log_files_held(instance, "some-run"):
        assert _synchronous(inside) == normal
        assert _synchronous(f"sqlite:///{Path(storage.path_for_shard('some-run'))}") == normal
        assert _synchronous(outside) == full
    assert _synchronous(inside) == full
