"""Stream pages of source records into one staging table.

Each page is typed, upserted and committed on its own (memory stays flat whatever the object's
size), together with the cursor it reached when the read is incremental and in source order.

Two ways in, with the same result in the table, the cursor and the counts:
- `write_page(records)`: parsed records, typed by `RowBuilder` and upserted by `Upserter`;
- `write_json_page(text)`: the page as a JSON array text, typed and upserted by the database
  (`sql_loader.JsonPageLoader`). Records the SQL does not type itself (malformed ones, odd shapes)
  and pages it cannot take whole go through the `write_page` machinery, in the same transaction
  or instead of it; with no SQL loader for the fields or backend, it is `write_page` on the parse.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable

import sqlalchemy as sa

from ..staging.tables import Upserter, ensure_object_table
from .rows import RowBuilder
from .sql_loader import JsonPageLoader, PageLoad
from .state import ExtractState, save_state


class StagingWriter:
    """`json_deleted_field`: the field whose `true` (or "true") marks a deleted record, i.e. what
    `builder.is_deleted` tests, for the SQL of `write_json_page`; without it that SQL is not used."""

    def __init__(self, engine: sa.Engine, table_name: str, builder: RowBuilder, state: ExtractState,
                 *, run_id: str | None, advance_cursor: bool, json_deleted_field: str | None = None) -> None:
        self.engine = engine
        self.table_name = table_name
        self.builder = builder
        self.state = state
        self.run_id = run_id
        self.advance_cursor = advance_cursor
        self.counts: Counter[str] = Counter()
        self.invalid_sample: list[dict] = []
        self.max_modified: dt.datetime | None = None
        self.table, self.columns_added = ensure_object_table(engine, table_name, builder.column_types)
        self._upserter: Upserter | None = None
        self._json_loader = JsonPageLoader.create(engine.dialect.name, self.table, builder,
                                                  deleted_field=json_deleted_field) if json_deleted_field else None

    def write_page(self, records: Iterable[dict]) -> int:
        now = dt.datetime.now(dt.timezone.utc)
        rows = [self.builder.build(r, now) for r in records]
        if not rows:
            return 0
        # One row per id per page: a record repeated within a page (a source re-sending it) must
        # not make the upsert touch the same row twice in one statement (PostgreSQL refuses that).
        if len({r["id"] for r in rows}) != len(rows):
            rows = list({r["id"]: r for r in rows}.values())
        with self.engine.begin() as conn:
            self._upsert(conn, rows)
            self._advance(conn, rows[-1]["modified_at"], rows[-1]["id"])
        self._count(rows)
        return len(rows)

    def write_json_page(self, records_json: str) -> int:
        """Stage a page given as the text of a JSON array of records (see the module docstring)."""
        if self._json_loader is None:
            return self.write_page(json.loads(records_json))
        now = dt.datetime.now(dt.timezone.utc)
        try:
            with self.engine.begin() as conn:
                load = self._json_loader.load(conn, records_json, now)
                if load is None:
                    raise _WholePage
                rows = self._leftovers(conn, load, now)
                last = max([*([load.last] if load.last else []), *((o, r["id"], r["modified_at"]) for o, r in rows)],
                           default=None)
                if last is not None:
                    self._advance(conn, last[2], last[1])
        except (_WholePage, sa.exc.DataError):
            # Nothing of this page was committed: stage it through the Python path instead.
            return self.write_page(json.loads(records_json))
        if load.max_modified is not None and (self.max_modified is None or load.max_modified > self.max_modified):
            self.max_modified = load.max_modified
        self.counts["rows"] += load.rows
        self.counts["deleted"] += load.deleted
        self._count([r for _, r in rows])
        return load.rows + len(rows)

    def _leftovers(self, conn: sa.Connection, load: PageLoad, now: dt.datetime) -> list[tuple[int, dict]]:
        """Type and upsert the records the SQL left (malformed or odd ones), as write_page would."""
        rows = [(ordinal, self.builder.build(json.loads(text), now)) for ordinal, text in load.leftovers]
        if rows:
            self._upsert(conn, [r for _, r in rows])
        return rows

    def _upsert(self, conn: sa.Connection, rows: list[dict]) -> None:
        if self._upserter is None:
            self._upserter = Upserter(conn, self.table)
        self._upserter.execute(conn, rows)
        for row in rows:
            if row["modified_at"] is not None and (self.max_modified is None or row["modified_at"] > self.max_modified):
                self.max_modified = row["modified_at"]

    def _advance(self, conn: sa.Connection, modified_at: dt.datetime | None, record_id: str) -> None:
        """Save the cursor at the page's last record (source order), with the page, if incremental."""
        if self.advance_cursor and modified_at is not None:
            self.state.cursor_modified_at, self.state.cursor_id = modified_at, record_id
            save_state(conn, self.state, self.run_id)

    def _count(self, rows: list[dict]) -> None:
        self.counts["rows"] += len(rows)
        for row in rows:
            if row["is_deleted"]:
                self.counts["deleted"] += 1
            if row["invalid_reason"]:
                self.counts["invalid"] += 1
                if len(self.invalid_sample) < 10:
                    self.invalid_sample.append({"id": row["id"], "reason": row["invalid_reason"]})

    def staged_total(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()


class _WholePage(Exception):
    """The SQL loader declined the page (it wrote nothing): roll back, use the Python path."""
