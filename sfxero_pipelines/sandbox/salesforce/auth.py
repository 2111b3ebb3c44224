"""The OAuth 2.0 endpoints and session bookkeeping (as the real API documents it).

Grants: client_credentials (HTTP Basic or body), JWT bearer (RS256 assertion, iss = client id,
sub = username; the signature is verified when `jwt_public_key` is set), username-password
(`password` may carry a security token suffix), authorization_code (the web-server flow: a code from
`/services/oauth2/authorize`, see consent.py, with its redirect URI and PKCE verifier; it returns a
refresh token when the scopes include `refresh_token`) and refresh_token (a consent's, or the derived
`refresh_token` tests use; Salesforce does not rotate it). Success returns the documented shape with
no `expires_in`; sessions expire after `faults.token_ttl_s` clock-seconds and are then refused with 401
INVALID_SESSION_ID (a JSON array). Failures are 400 `{"error", "error_description"}`.
`/services/oauth2/revoke` (`token=`, form or query): a refresh token ends with every session it opened,
an access token alone; 200 with an empty body, 400 `unsupported_token_type` for an unknown token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import html
from urllib.parse import parse_qs, parse_qsl

import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from . import consent

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
        self.codes: dict[str, consent.IssuedCode] = {}
        self.consented: set[str] = set()  # refresh tokens of consents, until revoked
        self.opened_by: dict[str, str] = {}  # access token -> the refresh token that opened it
        self.auto_consent = False  # `sfxero sandbox --auto-consent`: the consent page approves at once

    def valid(self, token: str | None) -> bool:
        issued = self.tokens.get(token or "")
        if issued is None:
            return False
        ttl = self.emu.faults.token_ttl_s
        return not ttl or self.emu.clock.time() - issued < ttl

    def revoke_all(self) -> None:
        self.tokens.clear()

    def _issue(self, request: Request, *, refresh_token: str | None = None, opened_by: str | None = None,
               scope: str = "api") -> JSONResponse:
        token = f"{ORG_ID[:15]}!" + secrets.token_urlsafe(60)
        now = self.emu.clock.time()
        self.tokens[token] = now
        if opened_by or refresh_token:
            self.opened_by[token] = opened_by or refresh_token or ""
        if len(self.tokens) > 10_000:  # bound memory on long benchmark runs
            for old in list(self.tokens)[:5_000]:
                del self.tokens[old]
                self.opened_by.pop(old, None)
        host = request.headers.get("host") or request.url.netloc
        instance_url = f"https://{host}"
        issued_at = str(int(now * 1000))
        sig = base64.b64encode(hmac.new(self.emu.credentials.sf_client_secret.encode(),
                                        (instance_url + issued_at).encode(), hashlib.sha256).digest()).decode()
        return JSONResponse({
            "access_token": token, "instance_url": instance_url,
            "id": f"https://{host}/id/{ORG_ID}/{self.emu.org.user_id}", "token_type": "Bearer",
            "issued_at": issued_at, "signature": sig, "scope": scope,
            **({"refresh_token": refresh_token} if refresh_token else {}),
        })

    # -- the web-server flow ------------------------------------------------------------------------
    async def authorize(self, request: Request) -> Response:
        if request.method == "POST":
            params = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        else:
            params = dict(request.query_params)
        try:
            auth = consent.parse_request(params, self.emu.credentials.sf_client_id)
        except consent.ConsentError as exc:
            return HTMLResponse(f"<!doctype html><html><body><h1>error</h1><p>{html.escape(str(exc))}</p>"
                                "</body></html>", 400)
        if request.method == "GET" and not self.auto_consent:
            return HTMLResponse(consent.consent_page(auth, self.emu.credentials.sf_username))
        if request.method == "POST" and params.get("decision") != "allow":
            return RedirectResponse(consent.redirect_to(auth, error="access_denied"), 302)
        code = consent.new_code()
        self.codes[code] = consent.IssuedCode(auth, self.emu.clock.time() + consent.CODE_TTL_S)
        return RedirectResponse(consent.redirect_to(auth, code=code), 302)

    def _exchange_code(self, request: Request, form: dict[str, str]) -> JSONResponse:
        issued = self.codes.get(form.get("code") or "")
        if issued is None or issued.expires_at < self.emu.clock.time():
            self.codes.pop(form.get("code") or "", None)
            return _fail("invalid_grant", "invalid authorization code")
        if form.get("redirect_uri") != issued.request.redirect_uri:
            return _fail("redirect_uri_mismatch", "redirect_uri must match configuration")
        if not consent.verify_pkce(issued.request.code_challenge, form.get("code_verifier")):
            return _fail("invalid_grant", "invalid code verifier")
        del self.codes[form["code"]]
        scopes = issued.request.scope.split()
        refresh = None
        if "refresh_token" in scopes or "offline_access" in scopes:
            refresh = "5Aep861" + secrets.token_urlsafe(64)
            self.consented.add(refresh)
        return self._issue(request, refresh_token=refresh, scope=" ".join(scopes))

    async def revoke(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        token = form.get("token") or request.query_params.get("token") or ""
        if token in self.consented:
            self.consented.discard(token)
            for access in [a for a, by in self.opened_by.items() if by == token]:
                self.tokens.pop(access, None)
                del self.opened_by[access]
        elif token in self.tokens:
            del self.tokens[token]
            self.opened_by.pop(token, None)
        else:
            return _fail("unsupported_token_type", "this token type is not supported")
        return Response(status_code=200)

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
        if grant == "authorization_code":
            if not client_ok(require_secret=bool(client_secret)):
                return _fail("invalid_client", "invalid client credentials")
            return self._exchange_code(request, form)
        if grant == "refresh_token":
            if not client_ok(require_secret=bool(client_secret)):
                return _fail("invalid_client", "invalid client credentials")
            refresh = form.get("refresh_token") or ""
            if refresh in self.consented:
                return self._issue(request, opened_by=refresh, scope="api refresh_token")
            if refresh != self.refresh_token:
                return _fail("invalid_grant", "expired access/refresh token")
            return self._issue(request)
        return _fail("unsupported_grant_type", "grant type not supported")
