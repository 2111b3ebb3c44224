"""The OAuth 2.0 token endpoint and session bookkeeping (as the real API documents it).

Grants: client_credentials (HTTP Basic or body), JWT bearer (RS256 assertion, iss = client id,
sub = username; the signature is verified when `jwt_public_key` is set), username-password
(`password` may carry a security token suffix) and refresh_token. Success returns the documented
shape with no `expires_in`; sessions expire after `faults.token_ttl_s` clock-seconds and are then
refused with 401 INVALID_SESSION_ID (a JSON array). Failures are 400 `{"error", "error_description"}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import parse_qs

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse

ORG_ID = "00D5g00000sfxeroEAA"


def _fail(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


class Sessions:
    def __init__(self, emulator) -> None:
        self.emu = emulator
        self.tokens: dict[str, float] = {}
        self.jwt_public_key: bytes | str | None = None
        # A refresh token as a web-server flow would have issued it; derived so tests can use it.
        secret = emulator.credentials.sf_client_secret.encode()
        self.refresh_token = "5Aep861" + hmac.new(secret, b"refresh", hashlib.sha256).hexdigest()[:40]

    def valid(self, token: str | None) -> bool:
        issued = self.tokens.get(token or "")
        if issued is None:
            return False
        ttl = self.emu.faults.token_ttl_s
        return not ttl or self.emu.clock.time() - issued < ttl

    def revoke_all(self) -> None:
        self.tokens.clear()

    def _issue(self, request: Request) -> JSONResponse:
        token = f"{ORG_ID[:15]}!" + secrets.token_urlsafe(60)
        now = self.emu.clock.time()
        self.tokens[token] = now
        if len(self.tokens) > 10_000:  # bound memory on long benchmark runs
            for old in list(self.tokens)[:5_000]:
                del self.tokens[old]
        host = request.headers.get("host") or request.url.netloc
        instance_url = f"https://{host}"
        issued_at = str(int(now * 1000))
        sig = base64.b64encode(hmac.new(self.emu.credentials.sf_client_secret.encode(),
                                        (instance_url + issued_at).encode(), hashlib.sha256).digest()).decode()
        return JSONResponse({
            "access_token": token, "instance_url": instance_url,
            "id": f"https://{host}/id/{ORG_ID}/{self.emu.org.user_id}", "token_type": "Bearer",
            "issued_at": issued_at, "signature": sig, "scope": "api",
        })

    async def token(self, request: Request) -> JSONResponse:
        creds = self.emu.credentials
        ctype = request.headers.get("content-type", "")
        raw = (await request.body()).decode("utf-8", "replace")
        if "json" in ctype:
            return _fail("invalid_request", "unsupported content type: use application/x-www-form-urlencoded")
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        form.update({k: v for k, v in request.query_params.items() if k not in form})
        grant = form.get("grant_type", "")
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return _fail("invalid_client", "invalid client credentials")

        def client_ok(require_secret: bool = True) -> bool:
            if not hmac.compare_digest(client_id or "", creds.sf_client_id):
                return False
            return not require_secret or hmac.compare_digest(client_secret or "", creds.sf_client_secret)

        if grant == "password":
            if not client_ok():
                return _fail("invalid_client", "invalid client credentials")
            if form.get("username") != creds.sf_username or not (form.get("password") or "").startswith(
                    creds.sf_password):
                return _fail("invalid_grant", "authentication failure")
            return self._issue(request)
        if grant == "client_credentials":
            if not client_ok():
                return _fail("invalid_client", "invalid client credentials")
            return self._issue(request)
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            assertion = form.get("assertion") or ""
            try:
                header = jwt.get_unverified_header(assertion)
                if header.get("alg") != "RS256":
                    return _fail("invalid_grant", "invalid assertion: alg must be RS256")
                if self.jwt_public_key is not None:
                    claims = jwt.decode(assertion, self.jwt_public_key, algorithms=["RS256"],
                                        options={"verify_aud": False, "verify_exp": False})
                else:
                    claims = jwt.decode(assertion, options={"verify_signature": False})
            except jwt.PyJWTError:
                return _fail("invalid_grant", "invalid assertion")
            if claims.get("iss") != creds.sf_client_id:
                return _fail("invalid_client_id", "client identifier invalid")
            if claims.get("sub") != creds.sf_username:
                return _fail("invalid_grant", "user hasn't approved this consumer")
            if not claims.get("aud"):
                return _fail("invalid_grant", "audience is invalid")
            if float(claims.get("exp", 0)) < self.emu.clock.time():
                return _fail("invalid_grant", "expired authorization code")
            return self._issue(request)
        if grant == "refresh_token":
            if not client_ok(require_secret=bool(client_secret)):
                return _fail("invalid_client", "invalid client credentials")
            if form.get("refresh_token") != self.refresh_token:
                return _fail("invalid_grant", "expired access/refresh token")
            return self._issue(request)
        return _fail("unsupported_grant_type", "grant type not supported")
