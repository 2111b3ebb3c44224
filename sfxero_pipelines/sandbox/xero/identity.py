"""Xero identity: consent codes, `/connect/token`, `/connect/revocation` and `/connections`, with Xero's token rules.

- Client authentication by `client_secret_basic` (Authorization: Basic) or `client_secret_post`
  (form fields), as the SDK sends the latter on refresh.
- `client_credentials` (custom connection): access token only, no refresh token.
- `authorization_code`: a code from the consent page (`consent.py`), single use, 5 minutes, same
  redirect URI; with a PKCE challenge the S256 `code_verifier` must match (else 400 `invalid_grant`),
  and a client holding no secret may then authenticate by `client_id` alone (Xero's PKCE apps).
  Returns access + refresh tokens (a refresh token only with `offline_access`).
- `/connect/revocation` (`token=<refresh token>`): the whole token family and its access tokens die.
- Refresh tokens unused for 60 days (emulator clock) are refused with `invalid_grant`.
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

from .consent import CODE_TTL_S, AuthorizationRequest, IssuedCode, new_code, verify_pkce

ACCESS_TTL_S = 1800
REFRESH_GRACE_S = 1800
REFRESH_TTL_S = 60 * 86400
SCOPES = ("offline_access accounting.transactions accounting.contacts accounting.settings "
          "accounting.transactions.read accounting.contacts.read accounting.settings.read")


@dataclass
class AccessToken:
    expires_at: float
    custom_connection: bool
    family: "RefreshFamily | None" = None


@dataclass
class RefreshFamily:
    current: str
    previous: str | None
    previous_valid_until: float
    expires_at: float
    scope: str = SCOPES


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
        self._codes: dict[str, IssuedCode] = {}

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

    def _mint_access(self, custom: bool, family: RefreshFamily | None = None) -> tuple[str, int]:
        ttl = int(self._ttl_s())
        token = "xsbx_at_" + secrets.token_urlsafe(32)
        self._access[token] = AccessToken(self.clock.time() + ttl, custom, family)
        return token, ttl

    def _new_family(self, scope: str = SCOPES) -> tuple[str, RefreshFamily]:
        token = "xsbx_rt_" + secrets.token_urlsafe(32)
        family = RefreshFamily(token, None, 0.0, self.clock.time() + REFRESH_TTL_S, scope)
        self._refresh[token] = family
        return token, family

    def issue_code(self, request: AuthorizationRequest) -> str:
        """The code the consent page redirects with (the user allowed access)."""
        with self._lock:
            code = new_code()
            self._codes[code] = IssuedCode(request, self.clock.time() + CODE_TTL_S)
            return code

    def _exchange_code(self, headers, form: dict) -> dict:
        issued = self._codes.pop(form.get("code", ""), None)  # single use, even when refused below
        if issued is None or self.clock.time() > issued.expires_at:
            raise TokenError(400, "invalid_grant")
        request = issued.request
        public = bool(request.code_challenge) and form.get("client_id") == self.client_id \
            and not form.get("client_secret") and "authorization" not in headers
        if not (public or self._client_ok(headers, form)):
            raise TokenError(400, "invalid_client")
        if form.get("redirect_uri") != request.redirect_uri:
            raise TokenError(400, "invalid_grant")
        if not verify_pkce(request.code_challenge, form.get("code_verifier")):
            raise TokenError(400, "invalid_grant")
        payload: dict = {"token_type": "Bearer", "scope": request.scope}
        family = None
        if "offline_access" in request.scope.split():
            payload["refresh_token"], family = self._new_family(request.scope)
        payload["access_token"], payload["expires_in"] = self._mint_access(custom=False, family=family)
        return payload

    def revoke(self, headers, body: bytes) -> None:
        """`/connect/revocation`: the refresh token's whole family and the access tokens minted from it."""
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        if not self._client_ok(headers, form):
            raise TokenError(400, "invalid_client")
        with self._lock:
            family = self._refresh.get(form.get("token", ""))
            if family is None:
                return  # RFC 7009: an unknown token is not an error
            for token in [t for t, f in self._refresh.items() if f is family]:
                del self._refresh[token]
            for token in [t for t, a in self._access.items() if a.family is family]:
                del self._access[token]

    def issue_refresh_token(self) -> str:
        """Test hook standing in for the browser consent flow: a fresh refresh token for the tenant."""
        with self._lock:
            return self._new_family()[0]

    def token(self, headers, body: bytes) -> dict:
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        grant = form.get("grant_type")
        if grant == "authorization_code":
            with self._lock:
                return self._exchange_code(headers, form)
        if not self._client_ok(headers, form):
            raise TokenError(400, "invalid_client")
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
                access, ttl = self._mint_access(custom=False, family=family)
                return {"access_token": access, "expires_in": ttl, "token_type": "Bearer", "scope": family.scope,
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
