"""Xero identity: `/connect/token` and `/connections`, with Xero's token rules.

- Client authentication by `client_secret_basic` (Authorization: Basic) or `client_secret_post`
  (form fields), as the SDK sends the latter on refresh.
- `client_credentials` (custom connection): access token only, no refresh token.
- `refresh_token`: every refresh rotates the refresh token; the previous one stays usable for a
  30-minute grace (a lost response can be retried); anything older → 400 `invalid_grant`.
- Access tokens last 30 minutes on the emulator clock, or `faults.token_ttl_s`.
- Token responses carry only keys xero-python's `OAuth2Token.update_token` accepts.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import parse_qsl

ACCESS_TTL_S = 1800
REFRESH_GRACE_S = 1800
REFRESH_TTL_S = 60 * 86400
SCOPES = ("offline_access accounting.transactions accounting.contacts accounting.settings "
          "accounting.transactions.read accounting.contacts.read accounting.settings.read")


@dataclass
class AccessToken:
    expires_at: float
    custom_connection: bool


@dataclass
class RefreshFamily:
    current: str
    previous: str | None
    previous_valid_until: float
    expires_at: float


class TokenError(Exception):
    def __init__(self, status: int, error: str) -> None:
        self.status, self.error = status, error
        super().__init__(error)


class Identity:
    def __init__(self, *, client_id: str, client_secret: str, clock, ttl_s) -> None:
        self.client_id, self._secret = client_id, client_secret
        self.clock = clock
        self._ttl_s = ttl_s  # callable -> seconds
        self._lock = threading.Lock()
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshFamily] = {}  # any token of the family -> family

    def _client_ok(self, headers, form: dict) -> bool:
        cid, secret = form.get("client_id"), form.get("client_secret")
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
        return bool(cid and secret) and hmac.compare_digest(cid, self.client_id) and \
            hmac.compare_digest(secret, self._secret)

    def _mint_access(self, custom: bool) -> tuple[str, int]:
        ttl = int(self._ttl_s())
        token = "xsbx_at_" + secrets.token_urlsafe(32)
        self._access[token] = AccessToken(self.clock.time() + ttl, custom)
        return token, ttl

    def issue_refresh_token(self) -> str:
        """Test hook standing in for the browser consent flow: a fresh refresh token for the tenant."""
        with self._lock:
            token = "xsbx_rt_" + secrets.token_urlsafe(32)
            self._refresh[token] = RefreshFamily(token, None, 0.0, self.clock.time() + REFRESH_TTL_S)
            return token

    def token(self, headers, body: bytes) -> dict:
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        if not self._client_ok(headers, form):
            raise TokenError(400, "invalid_client")
        grant = form.get("grant_type")
        with self._lock:
            if grant == "client_credentials":
                access, ttl = self._mint_access(custom=True)
                return {"access_token": access, "expires_in": ttl, "token_type": "Bearer",
                        "scope": SCOPES.replace("offline_access ", "")}
            if grant == "refresh_token":
                presented = form.get("refresh_token", "")
                family = self._refresh.get(presented)
                now = self.clock.time()
                if family is None or now > family.expires_at:
                    raise TokenError(400, "invalid_grant")
                if presented != family.current and not (presented == family.previous
                                                        and now <= family.previous_valid_until):
                    raise TokenError(400, "invalid_grant")
                new = "xsbx_rt_" + secrets.token_urlsafe(32)
                # Rotation: the token just used stays valid for the grace period, anything older dies.
                if family.previous and family.previous != presented:
                    self._refresh.pop(family.previous, None)
                if presented == family.current:
                    family.previous, family.previous_valid_until = presented, now + REFRESH_GRACE_S
                else:
                    self._refresh.pop(family.current, None)
                family.current = new
                family.expires_at = now + REFRESH_TTL_S
                self._refresh[new] = family
                access, ttl = self._mint_access(custom=False)
                return {"access_token": access, "expires_in": ttl, "token_type": "Bearer", "scope": SCOPES,
                        "refresh_token": new}
        raise TokenError(400, "unsupported_grant_type")

    def check(self, authorization: str | None) -> tuple[AccessToken | None, str | None]:
        """(token, None) when valid, else (None, problem detail)."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None, "AuthenticationUnsuccessful"
        token = authorization[7:].strip()
        info = self._access.get(token)
        if info is None:
            return None, "AuthenticationUnsuccessful"
        if self.clock.time() >= info.expires_at:
            when = dt.datetime.fromtimestamp(info.expires_at, tz=dt.timezone.utc)
            return None, "TokenExpired: token expired at " + when.strftime("%m/%d/%Y %H:%M:%S")
        return info, None
