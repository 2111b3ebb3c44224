"""`oauth_token`: stored OAuth connections, one row per (system, tenant), tokens encrypted.

Contract:
- Tokens go in and come out as plain text here and are Fernet ciphertext in the table; the cipher is
  passed in by the caller (the key never reaches the database). A row whose ciphertext the key cannot
  open raises `ConfigError` naming `SFXERO_SECRET_KEY`, never the token.
- Rows of one consent share a grant (`grant_id`, Xero's authEventId) and so one token pair: a rotation
  updates every row of the grant, and the lock is taken per grant.
- `locked(engine, system, grant)` is the single-flight section: a transaction holding an exclusive lock
  on that grant (PostgreSQL `pg_advisory_xact_lock`, SQLite `BEGIN IMMEDIATE`), in which the caller
  re-reads the row, refreshes if still needed and records the rotation; the commit at its end is what
  makes the new pair usable by anyone.
- `state`: active | revoked | expired. Only `save_connection` (a new consent) makes a row active again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from ...errors import ConfigError
from ..locks import exclusive
from ..schema import oauth_token
from ..timestamps import aware

ACTIVE, REVOKED, EXPIRED = "active", "revoked", "expired"
SYSTEM_XERO = "xero"


@dataclass(frozen=True)
class StoredConnection:
    system: str
    tenant_id: str
    tenant_name: str | None
    grant_id: str | None
    connection_id: str | None
    scopes: str
    state: str
    state_reason: str | None
    created_at: dt.datetime
    refreshed_at: dt.datetime
    last_used_at: dt.datetime | None
    access_expires_at: dt.datetime | None
    rotations: int
    refresh_token: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)


def _enc(cipher: Fernet, text: str | None) -> str | None:
    return None if text is None else cipher.encrypt(text.encode("utf-8")).decode("ascii")


def _dec(cipher: Fernet, text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return cipher.decrypt(text.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise ConfigError("SFXERO_SECRET_KEY", "cannot decrypt the stored connection: the key changed since it "
                          "was stored (restore the old key, or run `sfxero connect xero` again)") from None


def _row(row, cipher: Fernet | None) -> StoredConnection:
    return StoredConnection(
        system=row.system, tenant_id=row.tenant_id, tenant_name=row.tenant_name, grant_id=row.grant_id,
        connection_id=row.connection_id, scopes=row.scopes,
        state=row.state, state_reason=row.state_reason, created_at=aware(row.created_at),
        refreshed_at=aware(row.refreshed_at), last_used_at=aware(row.last_used_at),
        access_expires_at=aware(row.access_expires_at), rotations=row.rotations or 0,
        refresh_token=_dec(cipher, row.refresh_token_enc) if cipher else None,
        access_token=_dec(cipher, row.access_token_enc) if cipher else None)


def save_connection(conn: sa.Connection, cipher: Fernet, *, system: str, tenant_id: str, tenant_name: str | None,
                    scopes: str, refresh_token: str | None, access_token: str | None,
                    access_expires_at: dt.datetime | None, grant_id: str | None = None,
                    connection_id: str | None = None) -> None:
    """A new consent for (system, tenant): replaces whatever was stored, active again."""
    now = dt.datetime.now(dt.timezone.utc)
    key = (oauth_token.c.system == system) & (oauth_token.c.tenant_id == tenant_id)
    created = conn.execute(sa.select(oauth_token.c.created_at).where(key)).scalar()
    conn.execute(oauth_token.delete().where(key))
    conn.execute(oauth_token.insert().values(
        system=system, tenant_id=tenant_id, tenant_name=tenant_name, grant_id=grant_id,
        connection_id=connection_id, scopes=scopes, refresh_token_enc=_enc(cipher, refresh_token), access_token_enc=_enc(cipher, access_token),
        access_expires_at=access_expires_at, state=ACTIVE, state_reason=None, created_at=created or now,
        refreshed_at=now, last_used_at=None, rotations=0))


def load(conn: sa.Connection, cipher: Fernet, system: str, tenant_id: str) -> StoredConnection | None:
    row = conn.execute(sa.select(oauth_token).where(oauth_token.c.system == system,
                                                    oauth_token.c.tenant_id == tenant_id)).first()
    return _row(row, cipher) if row else None


def list_connections(conn: sa.Connection, system: str | None = None) -> list[StoredConnection]:
    """Every stored connection without its tokens (nothing is decrypted)."""
    if not sa.inspect(conn).has_table(oauth_token.name):
        return []
    query = sa.select(oauth_token).order_by(oauth_token.c.system, oauth_token.c.tenant_name, oauth_token.c.tenant_id)
    if system:
        query = query.where(oauth_token.c.system == system)
    return [_row(row, None) for row in conn.execute(query)]


def serving_tenant(conn: sa.Connection, environ: Mapping[str, str]) -> str:
    """The one Xero organisation a single-organisation sync serves, as its client addresses it:
    XERO_TENANT_ID when set, else the one active stored connection, else '' (a custom connection's
    one organisation, which needs no tenant id). Rows written for it carry this value."""
    named = (environ.get("XERO_TENANT_ID") or "").strip()
    if named:
        return named
    active = [c.tenant_id for c in list_connections(conn, SYSTEM_XERO) if c.state == ACTIVE]
    return active[0] if len(active) == 1 else ""


def grant_key(row: StoredConnection) -> str:
    """What refreshes of this row lock on: its grant, or the tenant for a row without one."""
    return f"grant:{row.grant_id}" if row.grant_id else f"tenant:{row.tenant_id}"


def _same_grant(system: str, tenant_id: str, grant_id: str | None):
    if grant_id:
        return (oauth_token.c.system == system) & (oauth_token.c.grant_id == grant_id)
    return (oauth_token.c.system == system) & (oauth_token.c.tenant_id == tenant_id)


def record_rotation(conn: sa.Connection, cipher: Fernet, *, system: str, tenant_id: str, grant_id: str | None,
                    refresh_token: str | None, access_token: str, access_expires_at: dt.datetime,
                    scopes: str | None) -> None:
    """The new pair, for every row of the grant (they share it), still active ones only."""
    now = dt.datetime.now(dt.timezone.utc)
    values: dict = {"access_token_enc": _enc(cipher, access_token), "access_expires_at": access_expires_at,
                    "last_used_at": now, "rotations": oauth_token.c.rotations + 1}
    if refresh_token:
        values.update(refresh_token_enc=_enc(cipher, refresh_token), refreshed_at=now)
    if scopes:
        values["scopes"] = scopes
    conn.execute(oauth_token.update().where(_same_grant(system, tenant_id, grant_id),
                                            oauth_token.c.state == ACTIVE).values(**values))


def mark(conn: sa.Connection, system: str, tenant_id: str, state: str, reason: str, grant_id: str | None = None) -> None:
    """Record that the grant can no longer be used (revoked / expired): every row of it; tokens dropped."""
    conn.execute(oauth_token.update().where(_same_grant(system, tenant_id, grant_id))
                 .values(state=state, state_reason=reason, access_token_enc=None, access_expires_at=None))


def touch(conn: sa.Connection, system: str, tenant_id: str) -> None:
    conn.execute(oauth_token.update().where(oauth_token.c.system == system, oauth_token.c.tenant_id == tenant_id)
                 .values(last_used_at=dt.datetime.now(dt.timezone.utc)))


def forget(conn: sa.Connection, system: str, tenant_id: str) -> bool:
    result = conn.execute(oauth_token.delete().where(oauth_token.c.system == system,
                                                     oauth_token.c.tenant_id == tenant_id))
    return result.rowcount > 0


def _lock_key(system: str, key: str) -> int:
    digest = hashlib.blake2b(f"oauth_token:{system}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def locked(engine: sa.Engine, system: str, key: str) -> Iterator[sa.Connection]:
    """A transaction holding the exclusive lock of a grant (`grant_key`); committed on success, rolled
    back on error. Every process refreshing it queues here, so exactly one rotates and the rest re-read."""
    with exclusive(engine, _lock_key(system, key)) as conn:
        yield conn
