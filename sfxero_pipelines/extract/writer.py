"""Stream pages of source records into one staging table.

Each page is typed, upserted and committed on its own (memory stays flat whatever the object's
size), together with the cursor it reached when the read is incremental and in source order.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable

import sqlalchemy as sa

from ..staging.tables import Upserter, ensure_object_table
from .rows import RowBuilder
from .state import ExtractState, save_state


class StagingWriter:
    def __init__(self, engine: sa.Engine, table_name: str, builder: RowBuilder, state: ExtractState,
                 *, run_id: str | None, advance_cursor: bool) -> None:
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
            if self._upserter is None:
                self._upserter = Upserter(conn, self.table)
            self._upserter.execute(conn, rows)
            last = rows[-1]
            for row in rows:
                if row["modified_at"] is not None and (self.max_modified is None or row["modified_at"] > self.max_modified):
                    self.max_modified = row["modified_at"]
            if self.advance_cursor and last["modified_at"] is not None:
                self.state.cursor_modified_at, self.state.cursor_id = last["modified_at"], last["id"]
                save_state(conn, self.state, self.run_id)
        self.counts["rows"] += len(rows)
        for row in rows:
            if row["is_deleted"]:
                self.counts["deleted"] += 1
            if row["invalid_reason"]:
                self.counts["invalid"] += 1
                if len(self.invalid_sample) < 10:
                    self.invalid_sample.append({"id": row["id"], "reason": row["invalid_reason"]})
        return len(rows)

    def staged_total(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()
