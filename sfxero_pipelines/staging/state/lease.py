"""One writer per target system and tenant, whatever Dagster's pool sizes: a lease in the staging database.

Dagster pools pace API calls inside a push; raising one
(`dagster instance concurrency set xero_api/<tenant> 2`) must not let two pushes send the same batches at once (only Xero's Idempotency-Key would then stand
between them and a duplicate, and Salesforce has no such key). So a push holds a writer lease on every
(system, tenant) it writes to, from before it reads the plan and the ledger until its last write:

- PostgreSQL: a session advisory lock on a connection kept for the push; the server drops it with
  the connection, so a killed writer frees it at once. Its `application_name` names the holder.
- SQLite: a row of `writer_lease` (owner host, pid, start time, a token per holder, an expiry)
  taken in `BEGIN IMMEDIATE`, so one process at a time decides; a thread renews the expiry while the
  push writes. A lease whose expiry passed, or whose owner on this host is gone, is free.

A push meeting a live lease waits up to `wait_s` (the holder usually finishes, and the waiter then
finds everything done in the ledger), then fails with `WriterBusy`, one line naming the holder.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import sqlalchemy as sa

from ...errors import SfxeroError
from ...owner import Owner

#: How long a push waits for another writer of the same system to finish before giving up.
WAIT_S = 900.0
POLL_S = 0.5
#: A SQLite lease lapses this long after its last renewal (the owner renews at a third of it).
TTL_S = 60.0


class WriterBusy(SfxeroError):
    def __init__(self, system: str, tenant: str, holder: str, waited_s: float) -> None:
        where = f"{system} (tenant {tenant})" if tenant else system
        super().__init__(f"another push is writing to {where}: {holder}; waited {waited_s:.0f}s, "
                         "not writing alongside it")


@contextmanager
def writer_lease(engine: sa.Engine, targets: list[tuple[str, str]], *, run_id: str | None,
                 wait_s: float = WAIT_S) -> Iterator[None]:
    """Holds the writer lease of each (system, tenant) in `targets` (taken in sorted order, so two
    pushes needing the same pair of systems cannot each hold one and wait for the other)."""
    take = _pg_lease if engine.dialect.name == "postgresql" else _sqlite_lease
    with ExitStack() as stack:
        for system, tenant in sorted(set(targets)):
            stack.enter_context(take(engine, system, tenant or "", run_id, wait_s))
        yield


def _describe(run_id: str | None, owner: Owner) -> str:
    return f"push run {(run_id or '?')[:8]}, {owner}"


# -- PostgreSQL: an advisory lock that dies with its connection -----------------------------------------

def _pg_key(system: str, tenant: str) -> int:
    digest = hashlib.blake2b(f"sfxero writer {system} {tenant}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def _pg_lease(engine: sa.Engine, system: str, tenant: str, run_id: str | None, wait_s: float) -> Iterator[None]:
    key = _pg_key(system, tenant)
    started = time.monotonic()
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT set_config('application_name', :n, false)"),
                     {"n": f"sfxero {_describe(run_id, Owner.me())}"[:63]})
        while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one():
            conn.commit()
            if time.monotonic() - started >= wait_s:
                raise WriterBusy(system, tenant, _pg_holder(conn, key), time.monotonic() - started)
            time.sleep(POLL_S)
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


def _pg_holder(conn: sa.Connection, key: int) -> str:
    # A bigint advisory key shows in pg_locks as classid (high 32 bits) and objid (low 32 bits).
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    name = conn.execute(sa.text(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = :hi AND l.objid::bigint = :lo "
        "AND l.objsubid = 1"), {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF}).scalar()
    conn.commit()
    return name or "a session holding the lock"


# -- SQLite: a lease row with an owner and an expiry -----------------------------------------------------

@contextmanager
def _immediate(engine: sa.Engine) -> Iterator:
    """A DBAPI connection inside BEGIN IMMEDIATE: the file's write lock is ours until COMMIT."""
    raw = engine.raw_connection()
    db = raw.driver_connection
    saved = db.isolation_level
    db.isolation_level = None  # we issue BEGIN ourselves; pysqlite's implicit BEGIN is DEFERRED
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        db.isolation_level = saved
        raw.close()


def _try_take(engine: sa.Engine, system: str, tenant: str, run_id: str | None, token: str) -> str | None:
    """Takes the lease when free; else describes its live holder."""
    me, now = Owner.me(), time.time()
    with _immediate(engine) as db:
        row = db.execute("SELECT owner_host, owner_pid, owner_started, run_id, expires_at FROM writer_lease "
                         "WHERE system = ? AND tenant = ?", (system, tenant)).fetchone()
        if row is not None:
            owner = Owner(row[0], int(row[1]), row[2])
            if row[4] > now and owner.alive():
                return _describe(row[3], owner)
        db.execute("INSERT OR REPLACE INTO writer_lease (system, tenant, owner_host, owner_pid, owner_started, "
                   "owner_token, run_id, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (system, tenant, me.host, me.pid, me.started, token, run_id, now, now + TTL_S))
    return None


@contextmanager
def _sqlite_lease(engine: sa.Engine, system: str, tenant: str, run_id: str | None, wait_s: float) -> Iterator[None]:
    token, started = uuid.uuid4().hex, time.monotonic()
    while (holder := _try_take(engine, system, tenant, run_id, token)) is not None:
        if time.monotonic() - started >= wait_s:
            raise WriterBusy(system, tenant, holder, time.monotonic() - started)
        time.sleep(POLL_S)
    done = threading.Event()

    def renew() -> None:
        while not done.wait(TTL_S / 3):
            with _immediate(engine) as db:
                db.execute("UPDATE writer_lease SET expires_at = ? WHERE system = ? AND tenant = ? AND owner_token = ?",
                           (time.time() + TTL_S, system, tenant, token))

    renewer = threading.Thread(target=renew, name=f"sfxero-lease-{system}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()
        with _immediate(engine) as db:
            db.execute("DELETE FROM writer_lease WHERE system = ? AND tenant = ? AND owner_token = ?",
                       (system, tenant, token))
