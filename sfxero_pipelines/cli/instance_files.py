"""Keep the default (SQLite) Dagster instance's event-log files open while a CLI run executes.

Dagster's SQLite event log opens a connection per event and closes it at once. Closing the last
connection to a WAL database checkpoints it and deletes the WAL, two more disk syncs per event; a
cycle stores about 1,500 events, so on a slow disk those syncs were most of a cycle's time. One idle
connection per file held for the run's duration (the cross-run index and the run's own shard) keeps
every per-event close from being the last: each event then costs one WAL commit, as SQLite intends.
The idle connection holds no lock and starts no transaction; the WAL is still checkpointed when it
grows (SQLite's automatic checkpoint) and when the run ends.

While a run executes, the instance's SQLite connections under its storage directory also run with
`synchronous=NORMAL`, as the staging database does (settings.engine_for): under WAL a commit then
waits for no disk sync, and the database stays consistent after a crash (a power cut may lose the
last events, never corrupt the file; the push ledger lives in the staging database, not here).

Only the sharded SQLite event log (the embedded default, `dagster.yaml` without `storage:`) has
per-run files; any other storage (PostgreSQL in production) is left alone.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

INDEX_SHARD = "index"

#: Directories whose SQLite files get `synchronous=NORMAL` on connect (those of the runs executing),
#: as resolved path strings ending in the separator.
_RELAXED: dict[str, int] = {}


@functools.lru_cache(maxsize=4096)
def _resolved(path: str) -> str:
    # Dagster opens a new engine, so a new connection, per event: resolving the path on every one of
    # them (a realpath walk) cost a third of a millisecond each, about 2 s of a 40-account cycle.
    return str(Path(path).resolve())


def _relax_sync(dbapi_conn, _record) -> None:
    if not _RELAXED or not isinstance(dbapi_conn, sqlite3.Connection):
        return
    files = [_resolved(row[2]) for row in dbapi_conn.execute("PRAGMA database_list") if row[2]]
    if any(f.startswith(base) for f in files for base in _RELAXED):
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")


sa.event.listen(sa.engine.Engine, "connect", _relax_sync)


@contextmanager
def _sync_relaxed(directory: Path) -> Iterator[None]:
    base = str(directory.resolve()).rstrip(os.sep) + os.sep
    _RELAXED[base] = _RELAXED.get(base, 0) + 1
    try:
        yield
    finally:
        _RELAXED[base] -= 1
        if not _RELAXED[base]:
            del _RELAXED[base]


def _shard_paths(instance, run_id: str) -> list[Path]:
    storage = instance.event_log_storage
    path_for_shard = getattr(storage, "path_for_shard", None)
    if path_for_shard is None:  # not the sharded SQLite event log
        return []
    return [Path(path_for_shard(INDEX_SHARD)), Path(path_for_shard(run_id))]


def _is_empty(path: Path) -> bool:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    except sqlite3.Error:
        return False
    finally:
        conn.close()


@contextmanager
def event_log_files_held(instance, run_id: str) -> Iterator[list[Path]]:
    """Holds an idle connection to the run's event-log shard and the index while the block runs.

    The run's shard does not exist yet: it is created here, empty and in WAL mode, and Dagster creates
    its tables on first use. If the run never started (nothing was written), the empty file is removed
    so that it does not look like a run to Dagster."""
    paths = _shard_paths(instance, run_id)
    if not paths:
        yield []
        return
    held: list[tuple[Path, sqlite3.Connection, bool]] = []
    for path in paths:
        if not path.parent.is_dir():
            continue
        created = not path.exists()
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # A connection joins the WAL (and so keeps it from being checkpointed on others' close) at its
        # first read, not when it opens. Each statement is finished and closed, so that no read
        # transaction stays open to pin the WAL.
        for statement in ("PRAGMA journal_mode=WAL", "SELECT count(*) FROM sqlite_master"):
            conn.execute(statement).close()
        held.append((path, conn, created))
    try:
        # The event log's shards and the run storage's runs.db share the instance's history directory.
        with _sync_relaxed(paths[0].parent.parent.resolve()):
            yield [path for path, _, _ in held]
    finally:
        for path, conn, created in held:
            conn.close()
            if created and _is_empty(path):
                path.unlink(missing_ok=True)
