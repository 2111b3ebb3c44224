"""One Salesforce session shared by every client, run and process: its access token cached, encrypted, in
`oauth_token` (system `sf_session`, one row per identity), like Xero's stored access token.

Contract:
- Whatever the grant (JWT bearer, password, client credentials, the stored connection's refresh token),
  `session(open_session)` returns the cached `{access_token, instance_url}` while it has more than
  `REUSE_MARGIN_S` left; a cycle of 26 assets then costs one token call, not one per asset.
- Salesforce's token answer carries no lifetime: a session lives for the org's session timeout from its
  last use, so the cache counts `session_timeout_s` (Settings; Salesforce's default 2 hours) from when it
  was opened — never longer than Salesforce keeps it, whatever the use in between.
- Opening a new session is single-flight: under `tokens.locked` the row is re-read (another process may
  have opened one meanwhile) and only then the grant is spent; N processes at once cost one token call.
- `rejected`: the token Salesforce just refused (401 INVALID_SESSION_ID): it is never handed out again;
  a newer cached one is, else a new session is opened. The client re-authenticates once per request.
- The row's key (`tenant_id`) is a digest of the login URL, client id, user and grant: a different
  identity never gets this one's session; an entry stored under another encryption key is a miss and is
  replaced (it is a cache: the other process merely opens its own session); `sfxero connect/disconnect salesforce` drop every cached
  session (`forget_sessions`), and `sfxero connections` does not list them. No token is logged or put in
  an exception.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from ...errors import AuthError, ConfigError
from ...staging.state import tokens

CACHE_SYSTEM = "sf_session"  # oauth_token.system is 16 characters at most
#: A cached session is handed out only while it has more than this left (Salesforce's clock may run ahead).
REUSE_MARGIN_S = 120.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def identity_key(login_url: str, client_id: str, username: str | None, grant: str) -> str:
    digest = hashlib.sha256("\n".join((login_url.rstrip("/"), client_id, username or "", grant)).encode()).hexdigest()
    return f"sf:{digest[:32]}"


class SessionCache:
    def __init__(self, engine: sa.Engine, cipher: Fernet, key: str, session_timeout_s: float) -> None:
        self._engine, self._cipher, self._key = engine, cipher, key
        self._lifetime = dt.timedelta(seconds=float(session_timeout_s))

    def __repr__(self) -> str:
        return f"SessionCache(key={self._key!r})"

    def close(self) -> None:
        self._engine.dispose()

    def _fresh(self, conn: sa.Connection, rejected: str | None) -> dict | None:
        try:
            row = tokens.load(conn, self._cipher, CACHE_SYSTEM, self._key)
        except ConfigError:
            # Stored under another key (a process with another SFXERO_SECRET_KEY or key file): a cache
            # entry is disposable, unlike a refresh token, so it is a miss and the new session replaces it.
            return None
        if row is None or row.state != tokens.ACTIVE or not row.access_token or row.access_expires_at is None:
            return None
        if (row.access_expires_at - _now()).total_seconds() <= REUSE_MARGIN_S:
            return None
        session = json.loads(row.access_token)
        return None if session.get("access_token") == rejected else session

    def session(self, open_session: Callable[[sa.Connection], dict], rejected: str | None = None) -> dict:
        """The cached session, or one `open_session(conn)` (Salesforce's token answer) stored for the others.

        `open_session` runs inside the lock's transaction and gets it: what it reads or records in the
        staging database (the stored connection, its refusal) goes through that one connection, and a
        refusal it records is committed before its error is raised."""
        with self._engine.connect() as conn:
            cached = self._fresh(conn, rejected)
        if cached is not None:
            return cached
        refusal = None
        with tokens.locked(self._engine, CACHE_SYSTEM, self._key) as conn:
            cached = self._fresh(conn, rejected)
            if cached is not None:
                return cached
            try:
                body = open_session(conn)
            except AuthError as exc:  # raised after the lock commits what it recorded
                refusal = exc
            else:
                session = {"access_token": body["access_token"], "instance_url": body["instance_url"]}
                tokens.save_connection(conn, self._cipher, system=CACHE_SYSTEM, tenant_id=self._key, tenant_name=None,
                                       scopes=str(body.get("scope") or ""), refresh_token=None,
                                       access_token=json.dumps(session), access_expires_at=_now() + self._lifetime)
        if refusal is not None:
            raise refusal
        return session


def forget_sessions(conn: sa.Connection) -> None:
    """Drop every cached session: a new consent or a disconnect must not be served an old one."""
    for row in tokens.list_connections(conn, CACHE_SYSTEM):
        tokens.forget(conn, CACHE_SYSTEM, row.tenant_id)


def _exists(url: str) -> bool:
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return bool(parsed.database) and Path(parsed.database).exists()
    return True


def session_cache(*, staging_url: str | None, staging_named: bool, key: str, session_timeout_s: float,
                  cipher_factory: Callable[[], Fernet]) -> SessionCache | None:
    """The cache in the staging database, or None (each client opens its own session) when there is none
    yet: a default SQLite database that does not exist is not created for a cache."""
    if not staging_url or not (staging_named or _exists(staging_url)):
        return None
    from ...settings import engine_for
    from ...staging.migrations import migrate

    engine = engine_for(staging_url)
    try:
        migrate(engine)
        return SessionCache(engine, cipher_factory(), key, session_timeout_s)
    except BaseException:
        engine.dispose()
        raise
