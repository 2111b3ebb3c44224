"""Fixtures for check tests: both staging backends (shared with the extract tests) and helpers
that stage rows straight into an object table, so each rule can be shown on exactly the bad value."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS
from sfxero_pipelines.extract.rows import COLUMN_TYPES
from sfxero_pipelines.staging.schema import held_record
from sfxero_pipelines.staging.tables import ensure_object_table


NOW = dt.datetime.now(dt.timezone.utc)


def xero_table(db, key: str, rows: list[dict]) -> None:
    """Stage `rows` (typed columns by staging name; `id` required) into the table of Xero object `key`."""
    obj = XERO_OBJECTS[key]
    table, _ = ensure_object_table(db.engine, obj.table, {f.column: COLUMN_TYPES[f.kind] for f in obj.fields})
    stage(db, table, rows)


def sf_table(db, name: str, columns: dict[str, str], rows: list[dict]) -> None:
    table, _ = ensure_object_table(db.engine, name, {c: COLUMN_TYPES[k] for c, k in columns.items()})
    stage(db, table, rows)


def stage(db, table: sa.Table, rows: list[dict]) -> None:
    full = [{"modified_at": NOW, "is_deleted": False, "extracted_at": NOW, "raw": {}, **r} for r in rows]
    keys = {k for r in full for k in r}
    with db.begin() as conn:
        conn.execute(table.insert(), [{k: r.get(k) for k in keys} for r in full])


def holds(db, table_name: str, open_only: bool = True) -> list[dict]:
    with db.engine.connect() as conn:
        query = sa.select(held_record).where(held_record.c.table_name == table_name)
        if open_only:
            query = query.where(held_record.c.released_at.is_(None))
        return [dict(r) for r in conn.execute(query).mappings()]


@pytest.fixture(scope="package")
def checked_world_built(sandbox_state_dir, tmp_path_factory):
    """(sandbox, staged SQLite path, instance, result) of `test_checks_sandbox.py`'s world, extracted and
    checked once for the package's tests on this worker; tests take it through `checked_world` (a copy)."""
    from sfxero_pipelines.sandbox.runner import SandboxServer

    from ..extract.conftest import FAST_XERO
    from .test_checks_sandbox import FIXTURES, build_checked_world

    path = tmp_path_factory.mktemp("checked-world") / "staging.db"
    with SandboxServer(fixtures=FIXTURES, xero_limits=FAST_XERO, state_dir=sandbox_state_dir) as server:
        instance, result = build_checked_world(server, path)
        yield server, path, instance, result


@pytest.fixture(scope="package")
def gx():
    """great-expectations, imported by the tests that use it rather than at collection (the import alone
    costs seconds of CPU on every worker); being a package fixture, it keeps them on one xdist worker."""
    import great_expectations

    return great_expectations


@pytest.fixture(scope="package")
def ge_reference(gx):
    """`ge_reference.evaluate_with_great_expectations`: the engine the native evaluation is held to."""
    from .ge_reference import evaluate_with_great_expectations

    return evaluate_with_great_expectations
