"""How the Salesforce client gets a session: the OAuth grants, and the stored web-server connection.

Contract:
- OAuth is done here, not by simple-salesforce: its login builds `https://{domain}.salesforce.com` URLs
  that cannot reach a My Domain given as a URL or the loopback sandbox. `grant_for` picks the grant
  from the settings: a stored connection (SALESFORCE_AUTH=connection) -> refresh-token grant; private key
  + username -> JWT bearer; username + password -> password grant; else client credentials (HTTP Basic).
- `open_session` POSTs the grant to `<login_url>/services/oauth2/token` through the client's transport
  (transient failures retried there) and returns Salesforce's answer (`access_token`, `instance_url`).
  A refusal raises one-line `AuthError` naming the settings to check; for the refresh-token grant,
  `invalid_grant` (revoked, expired) also marks the stored connection revoked (committed) and the line
  names `sfxero connect salesforce`.
- `StoredConnection` reads the one Salesforce row of `oauth_token` (written by `sfxero connect
  salesforce`, encrypted with the key of `clients/secret_key.py`); a second process reads the same row.
  Salesforce does not rotate refresh tokens (unless the Connected App opts in, which we do not ask for),
  so each client opens its own session with it and nothing needs a lock.
- The web-server flow's calls, as `sfxero connect/disconnect salesforce` make them: `authorize_url` (the
  consent page with an S256 PKCE challenge), `exchange_code` (code + verifier -> access and refresh
  token; a refusal is one `AuthError` line with Salesforce's error code) and `revoke` (the refresh token
  and every session it opened). They use the client's transport (trust store, timeouts) but never
  retry: an authorization code is single use.
No secret (client secret, password, key, refresh or access token) reaches an exception or a log line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import urlencode
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jwt
import sqlalchemy as sa
from cryptography.fernet import Fernet
from simple_salesforce.exceptions import SalesforceGeneralError

from ...errors import AuthError, redact
from ...staging.state import tokens
from .transport import SYSTEM, Transport, log

if TYPE_CHECKING:
    from .client import Settings

#: `oauth_token.system` of the Salesforce web-server connection (one per sfxero: one Salesforce org).
CONNECTION_SYSTEM = "salesforce"
DEFAULT_SCOPES = "api refresh_token"
AUTHORIZE_PATH = "/services/oauth2/authorize"
CONNECT_COMMAND = "sfxero connect salesforce"
RECONNECT = f"run `{CONNECT_COMMAND}` to connect it again"
#: The settings each OAuth grant reads: what a refused grant tells the user to check.
GRANT_VARIABLES = {
    "JWT bearer": ("SALESFORCE_CLIENT_ID", "SALESFORCE_USERNAME", "SALESFORCE_PRIVATE_KEY_FILE"),
    "username-password": ("SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET", "SALESFORCE_USERNAME",
                          "SALESFORCE_PASSWORD"),
    "client-credentials": ("SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET"),
    "refresh-token": ("SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET"),
}


@dataclass(frozen=True)
class Grant:
    name: str
    data: dict = field(repr=False)
    basic: tuple[str, str] | None = field(default=None, repr=False)


class StoredConnection:
    """The Salesforce connection `sfxero connect salesforce` stored (table `oauth_token`)."""

    def __init__(self, staging_url: str, cipher_factory: Callable[[], Fernet]) -> None:
        self._staging_url, self._cipher_factory = staging_url, cipher_factory
        self.refresh_token: str | None = None  # once read; kept out of repr and redacted from messages
        self.tenant_id: str | None = None

    def __repr__(self) -> str:
        return f"StoredConnection(system={CONNECTION_SYSTEM!r}, tenant_id={self.tenant_id!r})"

    def _engine(self):
        from ...settings import engine_for

        return engine_for(self._staging_url)

    def read(self, conn: sa.Connection | None = None) -> str:
        """The stored refresh token; AuthError naming `sfxero connect salesforce` when there is none usable.
        `conn`: a transaction of the same database to read and write in (the session cache's lock: on
        SQLite a second connection would wait for that lock's own transaction)."""
        if conn is not None:
            row = self._read(conn)
        else:
            engine = self._engine()
            try:
                with engine.connect() as own:
                    row = self._read(own)
                    own.commit()
            finally:
                engine.dispose()
        if row is None:
            raise AuthError(SYSTEM, f"no Salesforce connection is stored (SALESFORCE_AUTH=connection); "
                            f"run `{CONNECT_COMMAND}`")
        if row.state != tokens.ACTIVE:
            raise AuthError(SYSTEM, f"the stored connection is {row.state} ({row.state_reason}); {RECONNECT}")
        self.tenant_id, self.refresh_token = row.tenant_id, row.refresh_token
        return row.refresh_token or ""

    def _read(self, conn: sa.Connection) -> tokens.StoredConnection | None:
        stored = tokens.list_connections(conn, CONNECTION_SYSTEM)
        row = tokens.load(conn, self._cipher_factory(), CONNECTION_SYSTEM, stored[0].tenant_id) if stored else None
        if row is not None and row.state == tokens.ACTIVE:
            tokens.touch(conn, CONNECTION_SYSTEM, row.tenant_id)
        return row

    def refused(self, reason: str, conn: sa.Connection | None = None) -> None:
        """Salesforce refused the refresh token: the connection is revoked until connected again (in `conn`,
        committed by its owner, when given)."""
        if conn is not None:
            tokens.mark(conn, CONNECTION_SYSTEM, self.tenant_id or "", tokens.REVOKED, reason)
            return
        engine = self._engine()
        try:
            with engine.begin() as conn:
                tokens.mark(conn, CONNECTION_SYSTEM, self.tenant_id or "", tokens.REVOKED, reason)
        finally:
            engine.dispose()


def grant_name(cfg: Settings, connection: StoredConnection | None) -> str:
    """Which grant `grant_for` builds for these settings (a key of GRANT_VARIABLES), without building it."""
    if connection is not None:
        return "refresh-token"
    if cfg.private_key_file and cfg.username:
        return "JWT bearer"
    return "username-password" if cfg.username and cfg.password else "client-credentials"


def grant_for(cfg: Settings, connection: StoredConnection | None, conn: sa.Connection | None = None) -> Grant:
    if connection is not None:
        data = {"grant_type": "refresh_token", "refresh_token": connection.read(conn), "client_id": cfg.client_id}
        if cfg.client_secret:
            data["client_secret"] = cfg.client_secret
        return Grant("refresh-token", data)
    if cfg.private_key_file and cfg.username:
        try:
            key = Path(cfg.private_key_file).read_bytes()
        except OSError as exc:
            raise AuthError(SYSTEM, f"cannot read SALESFORCE_PRIVATE_KEY_FILE ({exc.strerror})") from None
        login = cfg.login_url.rstrip("/")
        aud = login if not re.search(r"//(login|test)\.salesforce\.com", login) else login
        claims = {"iss": cfg.client_id, "sub": cfg.username, "aud": aud, "exp": int(time.time()) + 180}
        try:
            assertion = jwt.encode(claims, key, algorithm="RS256")
        except (ValueError, TypeError) as exc:
            raise AuthError(SYSTEM, f"the private key file is not a usable RSA key ({type(exc).__name__})") from None
        return Grant("JWT bearer", {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})
    if cfg.username and cfg.password:
        return Grant("username-password", {"grant_type": "password", "client_id": cfg.client_id,
                                           "client_secret": cfg.client_secret or "", "username": cfg.username,
                                           "password": cfg.password})
    return Grant("client-credentials", {"grant_type": "client_credentials"}, (cfg.client_id, cfg.client_secret or ""))


def open_session(transport: Transport, cfg: Settings, connection: StoredConnection | None,
                 secrets: Callable[[], list[str | None]], conn: sa.Connection | None = None) -> dict:
    """Salesforce's token answer for the configured grant (`access_token`, `instance_url`, ...). `conn`: the
    staging transaction the stored connection is read and marked in (see `StoredConnection.read`)."""
    grant = grant_for(cfg, connection, conn)
    url = cfg.login_url.rstrip("/") + "/services/oauth2/token"
    response = None
    for attempt in transport.retrying():
        with attempt:
            response = transport.session.post(url, data=grant.data, auth=grant.basic)
            if response.status_code >= 500:
                raise SalesforceGeneralError(url, response.status_code, "token", response.text[:200])
    assert response is not None
    if response.status_code != 200:
        code = ""
        try:
            body = response.json()
            code = str(body.get("error", "error"))
            detail = f"{code}: {body.get('error_description', '')}"
        except ValueError:
            detail = f"HTTP {response.status_code}"
        if grant.name == "refresh-token" and connection is not None and code == "invalid_grant":
            connection.refused(f"Salesforce refused the refresh token ({detail})", conn)
            raise AuthError(SYSTEM, redact(f"the stored connection was refused ({detail}); {RECONNECT}", secrets()))
        who = f" for user {cfg.username}" if cfg.username and grant.name in ("JWT bearer", "username-password") else ""
        raise AuthError(SYSTEM, redact(f"{grant.name} grant{who} refused ({detail})", secrets()),
                        GRANT_VARIABLES[grant.name])
    body = response.json()
    log.info("Salesforce session opened (%s grant) on %s", grant.name, body["instance_url"])
    return body


# -- sessions shared in one process -------------------------------------------------------------------


# -- the web-server flow (authorization code with PKCE) ------------------------------------------------
def authorize_url(login_url: str, *, client_id: str, redirect_uri: str, scopes: str, state: str,
                  challenge: str) -> str:
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scopes,
             "state": state, "code_challenge": challenge, "code_challenge_method": "S256"}
    return f"{login_url.rstrip('/')}{AUTHORIZE_PATH}?{urlencode(query)}"


def _oauth_error(response) -> str:
    try:
        body = response.json()
        return f"{body.get('error', 'error')}: {body.get('error_description', '')}".rstrip(": ")
    except ValueError:
        return f"HTTP {response.status_code}"


def exchange_code(transport: Transport, login_url: str, *, client_id: str, client_secret: str | None, code: str,
                  redirect_uri: str, verifier: str) -> dict:
    """The consent's tokens (`access_token`, `refresh_token`, `instance_url`, `id`, `scope`)."""
    data = {"grant_type": "authorization_code", "code": code, "client_id": client_id, "redirect_uri": redirect_uri,
            "code_verifier": verifier}
    if client_secret:
        data["client_secret"] = client_secret
    response = transport.session.post(login_url.rstrip("/") + "/services/oauth2/token", data=data)
    if response.status_code != 200:
        raise AuthError(SYSTEM, redact(f"the code exchange was refused ({_oauth_error(response)}); run "
                                       f"`{CONNECT_COMMAND}` again", [client_secret, code, verifier]),
                        ("SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET"))
    return response.json()


def revoke(transport: Transport, login_url: str, token: str) -> None:
    """Revoke a refresh token (with every session it opened) at Salesforce."""
    response = transport.session.post(login_url.rstrip("/") + "/services/oauth2/revoke", data={"token": token})
    if response.status_code != 200:
        raise AuthError(SYSTEM, redact(f"revocation answered {response.status_code} ({_oauth_error(response)})",
                                       [token]))
