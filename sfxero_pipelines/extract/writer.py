"""Stream pages of source records into one staging table.

Pages are written as they arrive (memory stays flat whatever the object's size), in a transaction
committed every ~20k rows or 2 s and at the end (`StagingWriter`), with the cursor the last of them
reached when the read is incremental and in source order: a crash loses at most the uncommitted
pages and their cursor, which the next run reads again.

A page is written in two steps, so fetching, typing and writing can overlap (`StagingWriter.load`):
- `prepare(records, raws=None)`: CPU only, no database: the page typed into bound rows by
  `PageRows` (the values `RowBuilder` + `Upserter` bind, malformed records staged with their
  reason, one row per id); `raws`, each record's JSON text when the caller has it, becomes `raw`;
- `write(page)`: the upsert with the modified-timestamp guard (an older copy never overwrites a
  newer one), in the open transaction; then the cursor (saved with the commit) and the counts.
`write_page` prepares, writes and commits one page.

A bad row never takes its page with it. When the database refuses a page for a row-level reason (a
data exception or a constraint, `_row_level`), the page alone is undone (PostgreSQL: a savepoint
taken for every page; SQLite: the upsert is idempotent, so the rows it did apply are simply written
again) and written again row by row, each under a savepoint: every good row is staged; a refused
row is staged with the refused typed columns null and `invalid_reason` naming each field and the
database's own message; a row refused even with every typed column null is held instead
(`held_record`, stage `extract`, with that message; released once a later load stages it). The
cursor still moves to the page's last record and the counts report them (`invalid`, `held`). The
fast path keeps its statements and round trips: the row-by-row retry only runs after a failure.

The upsert is a driver-level bulk statement: SQLite `executemany` of INSERT ... ON CONFLICT DO
UPDATE ... WHERE <guard>; PostgreSQL (psycopg 3) a binary COPY into a session temp table typed as
the reference binds its parameters, then one INSERT ... SELECT ... ON CONFLICT with the same guard.
Into a table this writer created (a first full load, the largest there is), PostgreSQL pages are
copied straight into the table instead, under a savepoint: an id already there (a record that moved
to a later page while the read went on, or another run's) makes the copy fail, and that page and the
rest go through the upsert. Either way the table ends the same: an insert is what the upsert does
for an id that is not there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import hashlib
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import psycopg
import sqlalchemy as sa

from ..staging.schema import SYSTEM_COLUMNS
from ..staging.state import holds
from ..staging.tables import ensure_object_table
from .page_rows import BuiltPage, PageRows
from ..clients.prefetch import pipeline
from .rows import RowBuilder
from .state import ExtractState, save_state

T = TypeVar("T")
log = logging.getLogger(__name__)


class StagingWriter:
    """Writes one object's pages into its staging table.

    `load` (or `write` ... `close`) writes pages in one transaction held across pages, committed every
    `commit_rows` rows or `commit_seconds` seconds and at the end: a transaction per page cost more
    than the page itself on SQLite (each rewrites most primary-key index pages, the ids arriving in
    modified order). An error rolls back the uncommitted pages and the cursor saved with them (`abort`),
    so the next run reads them again; until `close`, the connection (on SQLite, the write lock) is held."""

    def __init__(self, engine: sa.Engine, table_name: str, builder: RowBuilder, state: ExtractState,
                 *, run_id: str | None, advance_cursor: bool, commit_rows: int = 20_000,
                 commit_seconds: float = 2.0) -> None:
        self.engine = engine
        self.table_name = table_name
        self.builder = builder
        self.state = state
        self.run_id = run_id
        self.advance_cursor = advance_cursor
        self.commit_rows, self.commit_seconds = commit_rows, commit_seconds
        self.counts: Counter[str] = Counter()
        self.invalid_sample: list[dict] = []
        self.cleaned_sample: list[dict] = []
        self.max_modified: dt.datetime | None = None
        self.table, self.columns_added = ensure_object_table(engine, table_name, builder.column_types)
        # PageRows types a page a column at a time; RowBuilder (the reference it falls back to per
        # malformed record) a record at a time. Kept as two paths: `sfxero bench extract` (10k per
        # object, quiet machine) loads 1.46x as fast with PageRows on SQLite, the default staging, and
        # 1.13x on PostgreSQL, than with RowBuilder for every record; typing a 2,000-record page alone
        # is 13x (SQLite) and 5x (PostgreSQL) as fast.
        self.rows = PageRows(builder, self.table, engine.dialect)
        self._sources = {spec.column: spec.source for spec in builder.fields}
        created = set(self.columns_added) == set(self.table.columns.keys())  # every column added: created now
        self._bulk = _BulkUpsert(engine.dialect, self.table, copy_into_table=created)
        self._conn: sa.Connection | None = None
        self._txn: sa.RootTransaction | None = None
        self._pending = 0
        self._since = 0.0
        self._cursor_moved = False
        self._wrote = False  # rows written since the last close

    # -- CPU only ---------------------------------------------------------------------------------------
    def prepare(self, records: Iterable[dict], raws: list[str] | None = None) -> BuiltPage:
        records = records if isinstance(records, list) else list(records)
        return self.rows.build(records, dt.datetime.now(dt.timezone.utc), raws)

    # -- database ---------------------------------------------------------------------------------------
    def load(self, pages: Iterable[T], prepare: Callable[[T], BuiltPage]) -> None:
        """Prepare and write every page, fetching ahead, then commit (or roll back and re-raise).

        PostgreSQL does its part of a write in its own process, so page k+1 is typed in a second
        thread meanwhile (`pipeline`). SQLite works in this process and gives up the interpreter lock
        for every row it inserts; a busy typing thread would then hold each row up, so pages are
        typed here, between writes, while the next one is fetched."""
        stream = pipeline(pages, prepare, prepare_ahead=self._bulk.copy)
        try:
            with _collector_paused():
                for page in stream:
                    self.write(page)
        except BaseException:
            self.abort()
            raise
        finally:
            stream.close()
        self.close()

    def write(self, page: BuiltPage) -> int:
        """Upsert a prepared page in the open transaction and move the cursor to its last record."""
        if not len(page):
            return 0
        if self._conn is None:
            self._conn = self.engine.connect()
            self._bulk.setup(self._conn)
        if self._txn is None:
            self._txn, self._since = self._conn.begin(), time.monotonic()
        self._advance(page.modified[-1], page.ids[-1])  # a held record is recorded, not lost
        self._wrote = True
        try:
            try:
                self._bulk.execute(self._conn, page.params, page.columns)
            except Exception as exc:
                if not _row_level(exc):
                    raise
                page = self._write_apart(page)
        except BaseException:
            self.abort()
            raise
        self._count(page)
        self._pending += len(page)
        if self._pending >= self.commit_rows or time.monotonic() - self._since >= self.commit_seconds:
            self.flush()
            self._bulk.committed()
        return len(page)

    def flush(self) -> None:
        """Commit the pages written so far, with the cursor the last of them reached."""
        if self._txn is not None:
            txn, self._txn, self._pending = self._txn, None, 0
            try:
                if self._cursor_moved:
                    save_state(self._conn, self.state, self.run_id)
                    self._cursor_moved = False
                txn.commit()
            except BaseException:
                self.abort()
                raise

    def close(self) -> None:
        """Release the holds of records staged since they were held, commit, and give the
        connection back."""
        if self._wrote and self._conn is not None:
            self._wrote = False
            if self._txn is None:
                self._txn, self._since = self._conn.begin(), time.monotonic()
            try:
                # A record held because the database refused it, staged since: released.
                holds.release_restaged(self._conn, self.table)
            except BaseException:
                self.abort()
                raise
        self.flush()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                self._bulk.teardown(conn)
            finally:
                conn.close()

    def abort(self) -> None:
        """Roll back the uncommitted pages and give the connection back."""
        txn, conn, self._txn, self._conn, self._pending = self._txn, self._conn, None, None, 0
        self._cursor_moved = self._wrote = False
        try:
            if txn is not None and txn.is_active:
                txn.rollback()
        finally:
            if conn is not None:
                try:
                    self._bulk.teardown(conn)
                finally:
                    conn.close()

    def write_page(self, records: Iterable[dict]) -> int:
        """Prepare, write and commit one page."""
        written = self.write(self.prepare(records))
        self.close()
        return written

    def _advance(self, modified_at: dt.datetime | None, record_id: str) -> None:
        """Move the cursor to the page's last record (source order), if incremental. It is saved
        when the pages are committed, in their transaction (`flush`): a save per page cost a round
        trip each, and only the last one before a commit ever counted."""
        if self.advance_cursor and modified_at is not None:
            self.state.cursor_modified_at, self.state.cursor_id = modified_at, record_id
            self._cursor_moved = True

    def _write_apart(self, page: BuiltPage) -> BuiltPage:
        """Write a refused page row by row (see the module docstring); the page as staged, with
        the reasons of the rows the database refused."""
        conn, bulk, columns, params = self._conn, self._bulk, page.columns, list(page.params)
        if "invalid_reason" not in columns:  # SQLite leaves out a column null in every row of the page
            columns, params = (*columns, "invalid_reason"), [(*row, None) for row in params]
        bulk.begin_apart(conn)
        reason_at = columns.index("invalid_reason")
        # A read's constants (the tenant) are never the refused value: kept on the row staged bare.
        typed = [j for j, name in enumerate(columns) if name not in SYSTEM_COLUMNS and name not in self.builder.constants]
        staged = [True] * len(page)
        reasons = dict(page.invalid)
        held: list[tuple[str, str]] = []
        for i, row in enumerate(list(params)):
            refused = bulk.attempt(conn, row, columns, keep=True)
            if refused is None:
                continue
            bare = list(row)
            for j in typed:
                bare[j] = None
            if (problem := bulk.attempt(conn, tuple(bare), columns, keep=False)) is not None:
                staged[i] = False
                held.append((page.ids[i], f"the database refused the record: {problem}"))
                continue
            bad = {}
            for j in typed:
                if row[j] is not None:
                    probe = list(bare)
                    probe[j] = row[j]
                    if (problem := bulk.attempt(conn, tuple(probe), columns, keep=False)) is not None:
                        bad[j] = problem
            if bad:  # stage the rest of its values, the refused ones null
                fixed = [None if j in bad else v for j, v in enumerate(row)]
                note = "; ".join(f"{self._sources.get(columns[j], columns[j])}: the database refused "
                                 f"{_short(row[j])}: {problem}" for j, problem in bad.items())
            else:
                fixed, note = list(bare), f"the database refused the record's values together: {refused}"
            reason = "; ".join(filter(None, (row[reason_at], note)))
            fixed[reason_at] = bare[reason_at] = reason
            # Values accepted one by one may still be refused together: then none of them is kept.
            for candidate in (fixed, bare):
                if (problem := bulk.attempt(conn, tuple(candidate), columns, keep=True)) is None:
                    params[i], reasons[page.ids[i]] = tuple(candidate), reason
                    break
            else:
                staged[i] = False
                held.append((page.ids[i], f"the database refused the record: {problem}"))
        if held:
            self._hold(held)
        keep = [i for i in range(len(page)) if staged[i]]
        ids = [page.ids[i] for i in keep]
        return BuiltPage([params[i] for i in keep], columns, ids, [page.modified[i] for i in keep],
                         deleted=page.deleted, invalid=[(r, reasons[r]) for r in ids if r in reasons],
                         cleaned=page.cleaned, held=held)

    def _hold(self, held: list[tuple[str, str]]) -> None:
        """Hold records the database refused outright, once each (a rerun updates the open hold)."""
        # held_record.record_id is 64 wide, as the object tables' id: the whole id is in the detail.
        holds.hold(self._conn, [{"table_name": self.table_name, "record_id": record_id[:64], "reason": reason,
                                 "detail": {"id": record_id}} for record_id, reason in held],
                   run_id=self.run_id, stage=holds.EXTRACT_STAGE)

    def _count(self, page: BuiltPage) -> None:
        self.counts["rows"] += len(page)
        if page.deleted:
            self.counts["deleted"] += page.deleted
        stamps = [m for m in page.modified if m is not None]
        if stamps:
            newest = max(stamps)
            if self.max_modified is None or newest > self.max_modified:
                self.max_modified = newest
        for record_id, reason in [*page.invalid, *page.held]:
            self.counts["invalid"] += 1
            if len(self.invalid_sample) < 10:
                self.invalid_sample.append({"id": record_id, "reason": reason})
        if page.held:
            self.counts["held"] += len(page.held)
        for record_id, fields in page.cleaned:
            self.counts["cleaned"] += 1
            if len(self.cleaned_sample) < 10:
                self.cleaned_sample.append({"id": record_id, "fields": fields})

    def staged_total(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()


def _row_level(exc: BaseException) -> bool:
    """Whether the database refused a write for what is in a row (a data exception: a value out of
    range, a character the encoding refuses...; or a constraint), not for the connection or the
    statement. SQLAlchemy wraps the driver's error; sqlite3 raises OverflowError for an integer
    beyond 64 bits."""
    error = getattr(exc, "orig", None) or exc
    return isinstance(error, (psycopg.DataError, psycopg.IntegrityError, sqlite3.DataError, sqlite3.IntegrityError,
                              OverflowError))


def _db_message(exc: BaseException) -> str:
    """The database's one-line message for a refused write."""
    error = getattr(exc, "orig", None) or exc
    diag = getattr(error, "diag", None)
    text = (diag.message_primary if diag is not None else None) or str(error)
    return text.splitlines()[0] if text else type(error).__name__


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_collector_lock = threading.Lock()
_collector_pauses = 0
_collector_was_enabled = False


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while pages load (loads in other threads included).

    Every page allocates tens of thousands of containers (a dict per record, nested ones for Xero)
    that live until the page is written, so the collector kept starting and walking them: ~60
    collections per 10,000 Salesforce records, a measurable share of the load (`sfxero bench extract`),
    even with the rest of the heap frozen. A page's records hold no cycles and are freed by reference counting; the little
    cyclic garbage a load makes (a response object per page) waits for the first collection after."""
    global _collector_pauses, _collector_was_enabled
    with _collector_lock:
        if _collector_pauses == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _collector_pauses += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_pauses -= 1
            if _collector_pauses == 0 and _collector_was_enabled:
                gc.enable()


# PostgreSQL types of the reference's bound parameters (psycopg: str, bool, int, float, Decimal, date,
# aware datetime), by column type; the binary COPY writes exactly these, INSERT ... SELECT then applies
# the same assignment casts to the table's columns as the parameters get. raw is text, cast to json.
# They are also the types of the columns `object_table` creates (json's binary form is its text), so
# a table created with these columns can take the same COPY.
def _pg_param_type(type_: sa.types.TypeEngine) -> str | None:
    if isinstance(type_, sa.JSON):
        return "text"
    if isinstance(type_, sa.Boolean):
        return "bool"
    if isinstance(type_, sa.Integer):
        return "int8"
    if isinstance(type_, sa.Float):
        return "float8"
    if isinstance(type_, sa.Numeric):  # money: bound as Decimal (staging.tables._pg_numeric)
        return "numeric"
    if isinstance(type_, sa.DateTime):
        return "timestamptz"
    if isinstance(type_, sa.Date):
        return "date"
    if isinstance(type_, sa.String):
        return "text"
    return None  # a column no spec fills any more: always NULL, kept at the table's own type


_SQLITE_CACHE_KIB = 64 * 1024


class _WalCheckpointer:
    """Checkpoints a SQLite database's WAL from a thread (and connection) of its own while a load
    writes on.

    With the default automatic checkpoint, the commit that crosses the WAL's threshold copies every
    frame into the database file and syncs both, and the load waits: most of what each 20k-row
    commit of a 200k load took (`sfxero bench extract --size 200000`). A PASSIVE checkpoint runs beside a writer (WAL mode
    allows one of each) and takes no lock a writer needs. One failing is no loss: the frames stay in
    the WAL, which the next checkpoint (this one's or the threshold's) copies."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._cond = threading.Condition()
        self._requested = False
        self._closing = False
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        with self._cond:
            self._requested = True
            self._cond.notify()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sfxero-checkpoint", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Wait for the checkpoint under way or asked for."""
        if self._thread is None:
            return
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        db = sqlite3.connect(self._path, timeout=30)
        try:
            while True:
                with self._cond:
                    while not self._requested and not self._closing:
                        self._cond.wait()
                    if not self._requested:
                        return
                    self._requested = False
                db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            log.warning("Staging WAL checkpoint failed; the next commit past the WAL's threshold takes it: %s", exc)
        finally:
            db.close()


def _created_as_copied(type_: sa.types.TypeEngine) -> bool:
    """Whether `object_table` creates a column of this type as the PostgreSQL type `_pg_param_type`
    copies (a binary COPY carries no casts: int4, or timestamp without time zone, would not do)."""
    if isinstance(type_, sa.Integer):
        return isinstance(type_, sa.BigInteger)
    if isinstance(type_, sa.DateTime):
        return bool(type_.timezone)
    return _pg_param_type(type_) is not None


class _BulkUpsert:
    """The page upsert for one table (see the module docstring)."""

    _SAVEPOINT = "sfxero_page"

    def __init__(self, dialect: sa.Dialect, table: sa.Table, *, copy_into_table: bool = False) -> None:
        quote = dialect.identifier_preparer.quote
        self.names = [c.name for c in table.columns]
        name = quote(table.name)
        cols = ", ".join(quote(c) for c in self.names)
        updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in self.names if c != "id")
        # Modified-timestamp guard: an older copy of a record (a rerun of an earlier partition after
        # a later one) never overwrites a newer one.
        guard = (f"{name}.modified_at IS NULL OR excluded.modified_at IS NULL "
                 f"OR excluded.modified_at >= {name}.modified_at")
        conflict = f"ON CONFLICT (id) DO UPDATE SET {updates} WHERE {guard}"
        self.copy = dialect.name == "postgresql" and dialect.driver == "psycopg"
        self.sqlite = dialect.name == "sqlite"
        self._cache_size: int | None = None
        self._autocheckpoint = 0
        self._checkpointer: _WalCheckpointer | None = None
        # The straight COPY skips the temp table and INSERT ... SELECT: a third less of the
        # server's work per page, which is what a PostgreSQL load waits for.
        self.into_table = self.copy and copy_into_table and all(_created_as_copied(c.type) for c in table.columns)
        if self.copy:
            types = [(c, _pg_param_type(c.type)) for c in table.columns]
            temp_cols = ", ".join(f"{quote(c.name)} {t or c.type.compile(dialect=dialect)}" for c, t in types)
            digest = hashlib.sha256(temp_cols.encode()).hexdigest()[:16]
            self.temp = f"sfxero_page_{digest}"
            self.create_temp = f"CREATE TEMP TABLE IF NOT EXISTS {self.temp} ({temp_cols})"
            self.copy_types = [t or "text" for _, t in types]  # an always-NULL column's type is never used
            self.copy_sql = f"COPY {self.temp} ({cols}) FROM STDIN (FORMAT BINARY)"
            self.copy_into_sql = f"COPY {name} ({cols}) FROM STDIN (FORMAT BINARY)"
            self.clear_temp = f"TRUNCATE {self.temp}"
            select = ", ".join(f"CAST({quote(c.name)} AS json)" if isinstance(c.type, sa.JSON) else quote(c.name)
                               for c in table.columns)
            self.sql = f"INSERT INTO {name} ({cols}) SELECT {select} FROM {self.temp} {conflict}"
        else:
            marker = "?" if dialect.paramstyle == "qmark" else "%s"
            if dialect.paramstyle not in ("qmark", "format", "pyformat"):
                raise NotImplementedError(f"staging on a {dialect.paramstyle} driver")

            # A column a page leaves out (null in all its rows) is null in the INSERT, and in
            # `excluded` for the update (the tables have no column defaults).
            def insert(columns: tuple[str, ...]) -> str:
                listed = ", ".join(quote(c) for c in columns)
                return f"INSERT INTO {name} ({listed}) VALUES ({', '.join(marker for _ in columns)}) {conflict}"

            self._insert = functools.lru_cache(maxsize=64)(insert)

    def setup(self, conn: sa.Connection) -> None:
        """Before a load's first page, on its connection, outside the page transactions.

        PostgreSQL: the session's temp table for the COPY (committed here, so a rolled-back page
        transaction cannot take it away), unless pages go straight into the table. SQLite: a page
        cache that holds the primary-key index of a large table (2 MB by default: at 200k rows most
        index pages were read again from the file for every page; -12% of the write's CPU), and, in
        WAL mode, checkpoints taken by a thread of their own (`_WalCheckpointer`) instead of by
        the commit that crosses the WAL's threshold; `teardown` gives the pool back its own settings."""
        if self.copy and not self.into_table:
            conn.exec_driver_sql(self.create_temp)
            conn.commit()
        elif self.sqlite:
            dbapi = conn.connection.driver_connection
            self._cache_size = dbapi.execute("PRAGMA cache_size").fetchone()[0]
            dbapi.execute(f"PRAGMA cache_size = {-_SQLITE_CACHE_KIB}")
            path = dbapi.execute("PRAGMA database_list").fetchone()[2]
            if path and dbapi.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                self._autocheckpoint = dbapi.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
                dbapi.execute("PRAGMA wal_autocheckpoint = 0")
                self._checkpointer = _WalCheckpointer(path)

    def committed(self) -> None:
        """After a commit in the middle of a load."""
        if self._checkpointer is not None:
            self._checkpointer.request()

    def teardown(self, conn: sa.Connection) -> None:
        if self._checkpointer is not None:
            checkpointer, self._checkpointer = self._checkpointer, None
            checkpointer.close()
            # The load's last commit is left to the WAL's threshold, as any other commit is.
            conn.connection.driver_connection.execute(f"PRAGMA wal_autocheckpoint = {int(self._autocheckpoint)}")
        if self.sqlite and self._cache_size is not None:
            conn.connection.driver_connection.execute(f"PRAGMA cache_size = {int(self._cache_size)}")
            self._cache_size = None

    def execute(self, conn: sa.Connection, params: list[tuple], columns: tuple[str, ...]) -> None:
        """Upsert rows of `columns` (all the table's columns on PostgreSQL, see `PageRows`). On
        PostgreSQL the page is written under a savepoint, rolled back to when the page fails: the
        pages before it in the transaction stay, and the page can be written again row by row."""
        if not self.copy:
            conn.exec_driver_sql(self._insert(columns), params)
            return
        with conn.connection.driver_connection.cursor() as cur:
            cur.execute(f"SAVEPOINT {self._SAVEPOINT}")
            try:
                if self.into_table and self._copy_into_table(cur, params):
                    return
                self._copy(cur, self.copy_sql, params)
                # Alone, so psycopg prepares it after a few pages (planning a ~50-column upsert
                # again for every page cost more than the round trip saved by sending it with the next).
                cur.execute(self.sql)
                cur.execute(f"{self.clear_temp}; RELEASE SAVEPOINT {self._SAVEPOINT}")
            except Exception as exc:
                if _row_level(exc):
                    cur.execute(f"ROLLBACK TO SAVEPOINT {self._SAVEPOINT}")
                    cur.execute(f"RELEASE SAVEPOINT {self._SAVEPOINT}")
                raise

    def _copy_into_table(self, cur, params: list[tuple]) -> bool:
        """COPY the page straight into the table, under the page's savepoint; False (the page
        undone, and the upsert from now on) when one of its ids is already there."""
        try:
            self._copy(cur, self.copy_into_sql, params)
        except psycopg.errors.UniqueViolation:
            cur.execute(f"ROLLBACK TO SAVEPOINT {self._SAVEPOINT}")
            self.into_table = False
            cur.execute(self.create_temp)  # in the page's transaction: a rollback ends the load anyway
            return False
        cur.execute(f"RELEASE SAVEPOINT {self._SAVEPOINT}")
        return True

    def begin_apart(self, conn: sa.Connection) -> None:
        """Before rows of a refused page are written one at a time (`attempt`)."""
        if self.copy:
            conn.exec_driver_sql(self.create_temp)  # a page copied straight into the table made none
        elif self.sqlite and not conn.connection.driver_connection.in_transaction:
            conn.exec_driver_sql("BEGIN")  # so a savepoint's release does not commit

    def attempt(self, conn: sa.Connection, row: tuple, columns: tuple[str, ...], *, keep: bool) -> str | None:
        """Upsert one row under a savepoint, kept or always undone (a probe); the database's message
        when it refuses the row for a row-level reason (then nothing of it stays), else None."""
        name = "sfxero_row"
        if self.copy:
            with conn.connection.driver_connection.cursor() as cur:
                cur.execute(f"SAVEPOINT {name}")
                try:
                    self._copy(cur, self.copy_sql, [row])
                    cur.execute(self.sql)
                except Exception as exc:
                    if not _row_level(exc):
                        raise
                    cur.execute(f"ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}")
                    return _db_message(exc)
                cur.execute(f"{self.clear_temp}; RELEASE SAVEPOINT {name}" if keep
                            else f"ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}")
                return None
        conn.exec_driver_sql(f"SAVEPOINT {name}")
        try:
            conn.exec_driver_sql(self._insert(columns), [row])
        except Exception as exc:
            if not _row_level(exc):
                raise
            conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")
            conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
            return _db_message(exc)
        if not keep:
            conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")
        conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
        return None

    def _copy(self, cur, sql: str, params: list[tuple]) -> None:
        with cur.copy(sql) as copy:
            copy.set_types(self.copy_types)
            write = copy.write_row
            for row in params:
                write(row)
