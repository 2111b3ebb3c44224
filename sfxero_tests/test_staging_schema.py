"""The staging schema is created, versioned and migrated idempotently on SQLite and on the real
PostgreSQL server; object tables widen on drift; upserts never let an older copy win."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from sfxero_pipelines.defs.staging.resources import StagingDatabase
from sfxero_pipelines.staging import migrations
from sfxero_pipelines.staging.tables import ensure_object_table, upsert_rows

SYNC_TABLES = {"sfxero_schema_version", "extract_state", "sync_link", "sync_plan", "sync_ledger", "held_record"}


@pytest.fixture(params=["sqlite", "postgresql"])
def staging_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'staging.db'}"
    return request.getfixturevalue("pg_url")


def test_schema_created_and_versioned(staging_url):
    db = StagingDatabase(url=staging_url)
    names = set(sa.inspect(db.engine).get_table_names())
    assert SYNC_TABLES <= names
    with db.begin() as conn:
        assert migrations.current_version(conn) == migrations.LATEST_VERSION
    # A second migrate on the same database applies nothing and changes nothing.
    assert migrations.migrate(db.engine) == []
    db.dispose()


def test_existing_database_migrates_to_a_later_release(staging_url, monkeypatch):
    db = StagingDatabase(url=staging_url)
    with db.begin() as conn:
        conn.execute(sa.text("INSERT INTO sync_link (recipe, sf_id, xero_id, created_at, updated_at) "
                             "VALUES ('R1', '001A', 'X-1', :t, :t)"), {"t": dt.datetime.now(dt.timezone.utc)})

    def add_note_column(conn: sa.Connection) -> None:
        conn.exec_driver_sql("ALTER TABLE sync_link ADD COLUMN note TEXT")

    later = migrations.MIGRATIONS + (migrations.Migration(migrations.LATEST_VERSION + 1, "sync_link.note", add_note_column),)
    monkeypatch.setattr(migrations, "MIGRATIONS", later)
    assert migrations.migrate(db.engine) == [migrations.LATEST_VERSION + 1]
    assert migrations.migrate(db.engine) == []
    with db.begin() as conn:
        row = conn.execute(sa.text("SELECT sf_id, xero_id, note FROM sync_link")).one()
    assert tuple(row) == ("001A", "X-1", None)  # existing data survived the migration
    db.dispose()


def test_object_table_widens_and_upsert_keeps_newest(staging_url):
    db = StagingDatabase(url=staging_url)
    table, added = ensure_object_table(db.engine, "sf_account", {"name": sa.Text()})
    assert {"id", "modified_at", "is_deleted", "extracted_at", "raw", "invalid_reason", "name"} <= set(added)
    # The source grows a field: the table gains the column, nothing else changes.
    table, added = ensure_object_table(db.engine, "sf_account", {"name": sa.Text(), "industry": sa.Text()})
    assert added == ["industry"]
    assert ensure_object_table(db.engine, "sf_account", {"name": sa.Text()})[1] == []

    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    now = dt.datetime.now(dt.timezone.utc)

    def row(name, modified):
        return {"id": "001X", "name": name, "industry": None, "modified_at": modified, "is_deleted": False,
                "extracted_at": now, "invalid_reason": None, "raw": {"Name": name}}

    with db.begin() as conn:
        upsert_rows(conn, table, [row("new", t0 + dt.timedelta(hours=2))])
    with db.begin() as conn:
        upsert_rows(conn, table, [row("old", t0)])  # an earlier partition rerun afterwards
    with db.begin() as conn:
        name, raw = conn.execute(sa.select(table.c.name, table.c.raw)).one()
    assert name == "new" and raw == {"Name": "new"}
    with db.begin() as conn:
        upsert_rows(conn, table, [row("newer", t0 + dt.timedelta(hours=3))])
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 1
        assert conn.execute(sa.select(table.c.name)).scalar_one() == "newer"
    db.dispose()


def test_money_columns_of_an_existing_database_widen_to_any_legal_amount(staging_url, monkeypatch):
    """A database staged by a release whose money columns were numeric(18,4) (refusing 10^14 and up)
    is migrated: the columns take 1e15 and -9.99e17, the amounts already staged are kept."""
    widen = next(m for m in migrations.MIGRATIONS if m.apply is migrations._widen_money)
    # The release before it had only the migrations before it (a later one would record a newer version).
    monkeypatch.setattr(migrations, "MIGRATIONS", tuple(m for m in migrations.MIGRATIONS if m.version < widen.version))
    db = StagingDatabase(url=staging_url)
    old_money = sa.Numeric(18, 4, asdecimal=False)
    table, _ = ensure_object_table(db.engine, "sf_opportunity", {"amount": old_money, "name": sa.Text()})
    now = dt.datetime.now(dt.timezone.utc)

    def row(record_id, amount):
        return {"id": record_id, "amount": amount, "name": "Deal", "modified_at": now, "is_deleted": False,
                "extracted_at": now, "invalid_reason": None, "raw": {"Amount": amount}}

    with db.begin() as conn:
        upsert_rows(conn, table, [row("006A", 1250.5)])
    monkeypatch.undo()
    assert migrations.migrate(db.engine) == [m.version for m in migrations.MIGRATIONS if m.version >= widen.version]
    with db.begin() as conn:
        upsert_rows(conn, table, [row("006B", 1e15), row("006C", -9.99e17)])
    with db.begin() as conn:
        amounts = dict(conn.execute(sa.text("SELECT id, amount FROM sf_opportunity")).all())
    assert {k: float(v) for k, v in amounts.items()} == {"006A": 1250.5, "006B": 1e15, "006C": -9.99e17}
    if db.engine.dialect.name == "postgresql":
        with db.begin() as conn:
            precision = conn.execute(sa.text("SELECT numeric_precision FROM information_schema.columns "
                                             "WHERE table_name = 'sf_opportunity' AND column_name = 'amount'")).scalar_one()
        assert precision is None  # unconstrained numeric
    db.dispose()


def test_processes_opening_one_fresh_database_at_once_migrate_it_once(staging_url):
    """The webhook receiver and a sync opening a new database together: each waits for the other's
    migration instead of failing on "table sfxero_schema_version already exists" or a duplicate version."""
    import concurrent.futures

    engines = [sa.create_engine(staging_url, connect_args={"timeout": 60}) if staging_url.startswith("sqlite")
               else sa.create_engine(staging_url) for _ in range(6)]
    try:
        with concurrent.futures.ThreadPoolExecutor(len(engines)) as pool:
            applied = list(pool.map(migrations.migrate, engines))
        assert sorted(len(a) for a in applied) == [0] * 5 + [migrations.LATEST_VERSION]
        with engines[0].connect() as conn:
            versions = conn.execute(sa.text("SELECT version FROM sfxero_schema_version ORDER BY version")).scalars().all()
        assert versions == list(range(1, migrations.LATEST_VERSION + 1))
    finally:
        for engine in engines:
            engine.dispose()
