"""The extract partitions start on the day the staging database was set up, unless sfxero.yaml sets
`extract.start_date`: a first sync reads all history at once, so no day before it is listed (the UI
would show each one "Missing" although its rows are staged)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import yaml

from sfxero_pipelines.defs.partitions import partitions_start, staging_created_on
from sfxero_pipelines.staging.migrations import created_on, migrate
from sfxero_pipelines.staging.schema import schema_version


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def _set_up_days_ago(engine: sa.Engine, days: int) -> dt.date:
    when = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    with engine.begin() as conn:
        conn.execute(schema_version.update().values(applied_at=when))
    return when.date()


def test_a_staging_database_knows_the_day_it_was_set_up(staging):
    with staging.engine.connect() as conn:  # the resource migrates on first use
        assert created_on(conn) == _today()
    assert _set_up_days_ago(staging.engine, 10) == _today() - dt.timedelta(days=10)
    with staging.engine.connect() as conn:
        assert created_on(conn) == _today() - dt.timedelta(days=10)


def test_partitions_start_the_day_staging_was_set_up_and_list_no_day_before(tmp_path):
    url = f"sqlite:///{tmp_path / 'staging.db'}"
    engine = sa.create_engine(url)
    migrate(engine)
    first = _set_up_days_ago(engine, 3)
    engine.dispose()
    start = partitions_start({"SFXERO_STAGING_URL": url})
    assert start == first
    from sfxero_pipelines.defs.partitions import _daily

    keys = _daily(start).get_partition_keys()
    assert keys[0] == first.isoformat() and keys[-1] == _today().isoformat() and len(keys) == 4


def test_a_configured_start_date_wins(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'staging.db'}"
    migrate(sa.create_engine(url))
    config = tmp_path / "sfxero.yaml"
    config.write_text(yaml.safe_dump({"extract": {"start_date": "2024-01-01"}}))
    monkeypatch.setenv("SFXERO_CONFIG", str(config))
    assert partitions_start({"SFXERO_STAGING_URL": url}) == dt.date(2024, 1, 1)


def test_before_set_up_or_unreachable_it_is_today_and_nothing_is_created(tmp_path):
    missing = tmp_path / "not-yet.db"
    assert partitions_start({"SFXERO_STAGING_URL": f"sqlite:///{missing}"}) == _today()
    assert not missing.exists()
    # Nothing listens on port 1: the location still loads, on today.
    assert staging_created_on("postgresql+psycopg://postgres@127.0.0.1:1/test") is None
    assert partitions_start({"SFXERO_STAGING_URL": "postgresql+psycopg://postgres@127.0.0.1:1/test"}) == _today()
    assert partitions_start({"SFXERO_STAGING_URL": "mysql://nowhere/db"}) == _today()
