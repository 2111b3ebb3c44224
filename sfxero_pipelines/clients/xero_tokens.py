"""Access tokens for a stored Xero connection (auth-code + PKCE), shared by every asset, run and process.

Contract (docs/architecture.md, "Connections and tokens"):
- `access_token()` returns the stored access token while it has more than `min(2 min, a quarter of its
  lifetime)` left; one stored token serves every client of the tenant, not one token per asset.
- Otherwise it refreshes inside `tokens.locked(...)`: the row is re-read under the lock (another process
  may have rotated already), the refresh token is spent, and the new pair is committed before it is
  returned. N processes needing a token at once cause exactly one rotation.
- A crash after Xero answered but before the commit leaves the previous refresh token stored; Xero
  keeps it valid for 30 minutes after rotation, so the next process refreshes with it and carries on.
- `invalid_grant` (refresh token expired, revoked or two rotations stale) marks the connection
  expired/revoked, committed, and raises one `AuthError` line naming `sfxero connect xero`; nothing
  retries it. A token endpoint that is down raises `TokenEndpointUnavailable` (the client retries it).
No token, client secret or key appears in an exception or log line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from .. import errors
from ..settings import engine_for
from ..staging.migrations import migrate
from ..staging.state import tokens

SYSTEM = "xero"
REFRESH_AHEAD_S = 120.0
REFRESH_TOKEN_TTL = dt.timedelta(days=60)
#: A connection whose refresh token has not been renewed for this long is rotated by the daily keep-alive:
#: far enough from Xero's 60 days that a keep-alive stopped for weeks still leaves time to notice.
KEEPALIVE_AFTER = dt.timedelta(days=7)
RECONNECT = "run `sfxero connect xero` to connect it again"


class TokenEndpointUnavailable(Exception):
    """The identity server did not answer usefully (5xx, connection error): worth retrying."""

    def __init__(self, status: int | None, detail: str) -> None:
        self.status, self.detail = status, detail
        super().__init__(f"token endpoint: {status} {detail}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def idle_connections(stored: list[tokens.StoredConnection], now: dt.datetime,
                     idle_after: dt.timedelta = KEEPALIVE_AFTER) -> list[tokens.StoredConnection]:
    """The active Xero connections whose refresh token was last renewed `idle_after` ago or more."""
    return [c for c in stored if c.system == SYSTEM and c.state == tokens.ACTIVE and now - c.refreshed_at >= idle_after]


def usable_seconds(row: tokens.StoredConnection, now: dt.datetime) -> float:
    """Seconds the stored access token may still be handed out (0 = refresh now)."""
    if not row.access_token or row.access_expires_at is None:
        return 0.0
    lifetime = (row.access_expires_at - row.refreshed_at).total_seconds()
    # Two minutes ahead for Xero's 30-minute tokens; proportionally less for short test lifetimes.
    ahead = min(REFRESH_AHEAD_S, max(0.0, lifetime) / 4)
    return max(0.0, (row.access_expires_at - now).total_seconds() - ahead)


class StoredTokenProvider:
    """Hands out the access token of one stored (xero, tenant) connection, refreshing it single-flight."""

    def __init__(self, *, engine: sa.Engine, cipher: Fernet, identity_url: str, client_id: str, client_secret: str,
                 tenant_id: str, verify: bool | str = True, timeout_s: float = 30.0,
                 after_token_answer: Callable[[], None] | None = None, owns_engine: bool = False) -> None:
        self.engine, self.cipher = engine, cipher
        self.identity_url = identity_url.rstrip("/")
        self.tenant_id = tenant_id
        self._client_id, self._client_secret = client_id, client_secret
        self._verify, self.timeout_s = verify, timeout_s
        # Test seam: runs after Xero answered a refresh and before the new pair is committed.
        self._after_token_answer = after_token_answer
        self._owns_engine = owns_engine
        self._http = requests.Session()
        self.token_calls = 0
        self.rotations = 0

    def __repr__(self) -> str:
        return f"StoredTokenProvider(system={SYSTEM!r}, tenant_id={self.tenant_id!r})"

    def close(self) -> None:
        self._http.close()
        if self._owns_engine:
            self.engine.dispose()

    def _usable_row(self, conn: sa.Connection) -> tokens.StoredConnection:
        row = tokens.load(conn, self.cipher, SYSTEM, self.tenant_id)
        if row is None:
            raise errors.AuthError(SYSTEM, f"no stored connection for organisation {self.tenant_id}; {RECONNECT}")
        if row.state != tokens.ACTIVE:
            raise errors.AuthError(SYSTEM, f"the connection to {row.tenant_name or self.tenant_id} is {row.state} "
                                   f"({row.state_reason}); {RECONNECT}")
        return row

    def access_token(self, rejected: str | None = None) -> tuple[str, float, str]:
        """(access token, seconds it may be used for, scopes). `rejected`: a token the API just refused,
        which is never handed out again (refresh unless someone already replaced it)."""
        with self.engine.connect() as conn:
            row = self._usable_row(conn)
            left = usable_seconds(row, _now())
            if left > 0 and row.access_token != rejected:
                if row.last_used_at is None or (_now() - row.last_used_at).total_seconds() > 60:
                    tokens.touch(conn, SYSTEM, self.tenant_id)
                    conn.commit()
                return row.access_token, left, row.scopes
            lock_key = tokens.grant_key(row)
        with tokens.locked(self.engine, SYSTEM, lock_key) as conn:
            row = self._usable_row(conn)
            left = usable_seconds(row, _now())
            if left > 0 and row.access_token != rejected:
                return row.access_token, left, row.scopes
            dead = self._rotate(conn, row)
        if dead is not None:
            raise dead
        with self.engine.connect() as conn:
            row = self._usable_row(conn)
        return row.access_token, usable_seconds(row, _now()), row.scopes

    def refresh_if_idle(self, idle_after: dt.timedelta) -> bool:
        """Rotate the stored pair when its refresh token was last renewed `idle_after` ago or more (Xero
        drops one unused for 60 days); False when it is fresher (another process may just have rotated
        it: the check is repeated under the lock). Raises the one-line `AuthError` when Xero refuses it."""
        with self.engine.connect() as conn:
            lock_key = tokens.grant_key(self._usable_row(conn))
        with tokens.locked(self.engine, SYSTEM, lock_key) as conn:
            row = self._usable_row(conn)
            if _now() - row.refreshed_at < idle_after:
                return False
            dead = self._rotate(conn, row)
        if dead is not None:
            raise dead
        return True

    def _rotate(self, conn: sa.Connection, row: tokens.StoredConnection) -> errors.AuthError | None:
        """Spend the stored refresh token inside the caller's lock: record the new pair, or mark the
        connection dead and return the error to raise once the lock's transaction has committed."""
        answer = self._refresh(row.refresh_token or "")
        if answer is None:
            aged = _now() - row.refreshed_at >= REFRESH_TOKEN_TTL
            state = tokens.EXPIRED if aged else tokens.REVOKED
            reason = ("refresh token unused for 60 days" if aged
                      else "Xero refused the refresh token (invalid_grant): revoked, or rotated elsewhere")
            tokens.mark(conn, SYSTEM, self.tenant_id, state, reason, grant_id=row.grant_id)
            return errors.AuthError(SYSTEM, f"the connection to {row.tenant_name or self.tenant_id} is "
                                    f"{state}: {reason}; {RECONNECT}")
        if self._after_token_answer is not None:
            self._after_token_answer()
        expires_in = float(answer.get("expires_in") or 1800)
        tokens.record_rotation(conn, self.cipher, system=SYSTEM, tenant_id=self.tenant_id,
                               grant_id=row.grant_id, refresh_token=answer.get("refresh_token"),
                               access_token=answer["access_token"],
                               access_expires_at=_now() + dt.timedelta(seconds=expires_in),
                               scopes=answer.get("scope"))
        self.rotations += 1
        return None

    def _refresh(self, refresh_token: str) -> dict | None:
        """The token endpoint's answer, or None for invalid_grant."""
        self.token_calls += 1
        try:
            resp = self._http.post(f"{self.identity_url}/connect/token",
                                   data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                                   auth=(self._client_id, self._client_secret), verify=self._verify,
                                   timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise TokenEndpointUnavailable(None, type(exc).__name__) from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise TokenEndpointUnavailable(resp.status_code, "identity server unavailable")
        code = ""
        if resp.status_code != 200:
            try:
                code = str(resp.json().get("error", ""))
            except ValueError:
                code = ""
            if code == "invalid_grant":
                return None
            raise errors.AuthError(SYSTEM, f"token endpoint answered {resp.status_code} {code}".strip()
                                   + (" (check XERO_CLIENT_ID / XERO_CLIENT_SECRET)" if code == "invalid_client" else ""))
        return resp.json()


def _staging_exists(url: str) -> bool:
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return bool(parsed.database) and Path(parsed.database).exists()
    return True


def stored_provider(*, staging_url: str | None, tenant_id: str | None, cipher_factory: Callable[[], Fernet],
                    identity_url: str, client_id: str, client_secret: str, verify: bool | str,
                    timeout_s: float, seed_refresh_token: str | None = None,
                    staging_named: bool = True) -> StoredTokenProvider | None:
    """The provider for the stored Xero connection to use, or None when nothing is stored (then the
    client keeps to client credentials, the custom-connection way). Without `tenant_id`, the one stored
    organisation; several stored and none chosen is a ConfigError naming XERO_TENANT_ID.

    `seed_refresh_token` (XERO_REFRESH_TOKEN, from another tool's consent) is stored for `tenant_id` when
    that tenant has no active connection yet; from then on the stored, rotated token is the one used
    (the variable's value dies 30 minutes after its first rotation). `staging_named`: the URL was
    configured, not the default (a default database is only used once it exists)."""
    seeding = bool(seed_refresh_token and tenant_id)
    # Looking for a connection never creates a database; storing a seeded token creates a named one.
    if not staging_url or not ((seeding and staging_named) or _staging_exists(staging_url)):
        return None
    engine = engine_for(staging_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            stored = [c for c in tokens.list_connections(conn, SYSTEM)
                      if tenant_id is None or c.tenant_id == tenant_id]
            if seeding and not any(c.state == tokens.ACTIVE for c in stored):
                tokens.save_connection(conn, cipher_factory(), system=SYSTEM, tenant_id=tenant_id, tenant_name=None,
                                       scopes="", refresh_token=seed_refresh_token, access_token=None,
                                       access_expires_at=None)
                stored = tokens.list_connections(conn, SYSTEM)
                stored = [c for c in stored if c.tenant_id == tenant_id]
    except BaseException:
        engine.dispose()
        raise
    if not stored:
        engine.dispose()
        return None
    if len(stored) > 1:
        engine.dispose()
        names = ", ".join(f"{c.tenant_name} ({c.tenant_id})" for c in stored)
        raise errors.ConfigError("XERO_TENANT_ID", f"several Xero organisations are connected ({names}): set it to one")
    return StoredTokenProvider(engine=engine, cipher=cipher_factory(), identity_url=identity_url, client_id=client_id,
                               client_secret=client_secret, tenant_id=stored[0].tenant_id, verify=verify,
                               timeout_s=timeout_s, owns_engine=True)
