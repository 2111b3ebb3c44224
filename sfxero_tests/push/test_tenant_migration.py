"""Migration 7 (a tenant column on sync_link, sync_plan, sync_ledger, held_record and the Xero tables) on a database a
single-organisation sync wrote before it: every existing row gets that organisation, rows written after
carry the writing client's, and the next cycle converges with nothing to write (both backends)."""

from __future__ import annotations

import datetime as dt
import os

import pytest
import sqlalchemy as sa

from sfxero_pipelines.staging import migrations
from sfxero_pipelines.staging.state import tokens

from .conftest import Cycle, xero_state

TABLES = ("sync_link", "sync_plan", "sync_ledger", "held_record", "xero_contact", "xero_invoice")


def _tenants(engine) -> dict[str, set[str]]:
    with engine.connect() as conn:
        return {t: {r[0] for r in conn.execute(sa.text(f"SELECT DISTINCT tenant_id FROM {t}"))} for t in TABLES}


def _back_to_version_6(engine, tables=TABLES) -> None:
    """The database as release 6 left it: no tenant columns, version 6."""
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_sync_link_tenant")
        for table in tables:
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN tenant_id")
        conn.exec_driver_sql("DELETE FROM sfxero_schema_version WHERE version = 7")


# A whole cycle twice: SQLite in `make test`; PostgreSQL (the migration's SQL is the same on both, and the
# fast test below runs it there) as an extra case in the chaos lane, to keep CI within its budget.
@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.slow),
                        pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.slow, pytest.mark.chaos])])
def cycle_staging(request, tmp_path):
    from sfxero_pipelines.defs.staging.resources import StagingDatabase

    url = f"sqlite:///{tmp_path / 'staging.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    db = StagingDatabase(url=url)
    yield db
    db.dispose()


def test_rows_written_before_get_the_one_tenant_and_the_sync_converges_after(make_sandbox, cycle_staging, monkeypatch):
    staging = cycle_staging
    from ..conftest import FAST_XERO

    server = make_sandbox(size=12, seed=42, xero_limits=FAST_XERO)
    tenant = server.env["XERO_TENANT_ID"]
    monkeypatch.setenv("XERO_TENANT_ID", tenant)
    cycle = Cycle(server, staging)
    first = cycle.plan_to_push()
    assert first["R1"]["create"] > 0, first
    ok, _rows = cycle.stage("push")
    assert ok
    # Written by this release: every row carries the organisation it was written for.
    found = _tenants(staging.engine)
    assert all(found[t] == {tenant} for t in TABLES if t != "held_record") and found["held_record"] <= {tenant}

    _back_to_version_6(staging.engine)
    with staging.engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}
        assert all("tenant_id" not in {c["name"] for c in sa.inspect(conn).get_columns(t)} for t in TABLES)
    assert migrations.migrate(staging.engine) == [7]
    with staging.engine.connect() as conn:
        assert {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES} == counts
    assert all(found <= {tenant} for found in _tenants(staging.engine).values())
    assert _tenants(staging.engine)["sync_link"] == _tenants(staging.engine)["xero_contact"] == {tenant}

    before = xero_state(server)
    for name in ("extract", "check", "reconcile"):
        cycle.stage(name)
    converged, plan = cycle.converged()
    assert converged, plan
    ok, rows = cycle.stage("push")
    assert ok and all(r[2] == 0 for r in rows), rows
    assert xero_state(server) == before


def test_the_existing_tenant_is_the_one_the_client_addressed(staging, monkeypatch):
    """XERO_TENANT_ID when set, else the one active stored connection, else '' (a custom connection); and
    migration 7 on this backend fills the rows already there with it."""
    with staging.begin() as conn:
        assert tokens.serving_tenant(conn, {}) == ""
        assert tokens.serving_tenant(conn, {"XERO_TENANT_ID": " t-env "}) == "t-env"
        for tid in ("t-1", "t-2"):
            conn.execute(sa.insert(tokens.oauth_token).values(
                system="xero", tenant_id=tid, scopes="", state=tokens.ACTIVE if tid == "t-1" else tokens.REVOKED,
                created_at=sa.func.now(), refreshed_at=sa.func.now(), rotations=0))
        assert tokens.serving_tenant(conn, {}) == "t-1"
        conn.execute(sa.update(tokens.oauth_token).values(state=tokens.ACTIVE))
        assert tokens.serving_tenant(conn, {}) == ""  # several: a single-organisation sync names none
        assert tokens.serving_tenant(conn, os.environ | {"XERO_TENANT_ID": "t-2"}) == "t-2"
        conn.execute(sa.update(tokens.oauth_token).where(tokens.oauth_token.c.tenant_id == "t-2").values(
            state=tokens.REVOKED))
        conn.execute(sa.text("INSERT INTO sync_link (recipe, sf_id, xero_id, created_at, updated_at) "
                             "VALUES ('R1', '001A', 'X-1', :t, :t)"), {"t": dt.datetime.now(dt.timezone.utc)})
    monkeypatch.delenv("XERO_TENANT_ID", raising=False)
    _back_to_version_6(staging.engine, TABLES[:4])
    assert migrations.migrate(staging.engine) == [7]
    with staging.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT sf_id, tenant_id FROM sync_link")).all() == [("001A", "t-1")]
