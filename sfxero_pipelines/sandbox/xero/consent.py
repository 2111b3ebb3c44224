"""Xero's consent screen (`/identity/connect/authorize`, at login.xero.com on the real service) and the
authorization codes it hands out, as the authorization-code flow with PKCE expects them.

- GET with `response_type=code`, `client_id`, `redirect_uri`, `scope`, `state` and optionally
  `code_challenge` + `code_challenge_method=S256` shows an HTML consent page whose form POSTs back
  `decision=allow|deny`; with auto-consent the GET answers at once as if allowed.
- Allow: 302 to `redirect_uri?code=…&state=…&scope=…`; deny: `?error=access_denied&state=…`.
  A request that cannot be redirected safely (unknown client, redirect URI that is not https or a
  loopback http address) is answered with a 400 page instead, as Xero does.
- Codes are single use, expire after 5 minutes (emulator clock) and are bound to the client, the
  redirect URI, the scopes and the PKCE challenge; `verify_pkce` checks S256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

CODE_TTL_S = 300
PATH = "/identity/connect/authorize"
_LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


class ConsentError(Exception):
    """A request the consent page refuses without redirecting."""


@dataclass(frozen=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    scope: str
    state: str
    code_challenge: str | None

    def hidden_fields(self) -> str:
        fields = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                  "scope": self.scope, "state": self.state}
        if self.code_challenge:
            fields.update(code_challenge=self.code_challenge, code_challenge_method="S256")
        return "".join(f'<input type="hidden" name="{k}" value="{html.escape(v, quote=True)}">'
                       for k, v in fields.items())


@dataclass
class IssuedCode:
    request: AuthorizationRequest
    expires_at: float


def parse_request(params: dict[str, str], client_id: str) -> AuthorizationRequest:
    if params.get("response_type") != "code":
        raise ConsentError("unsupported_response_type: only response_type=code is supported")
    if not params.get("client_id") or not hmac.compare_digest(params["client_id"], client_id):
        raise ConsentError("unauthorized_client: unknown client_id")
    redirect = params.get("redirect_uri") or ""
    parts = urlsplit(redirect)
    if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)) or parts.fragment:
        raise ConsentError("invalid_request: redirect_uri must be https, or http on a loopback address")
    scope = " ".join((params.get("scope") or "").split())
    if not scope:
        raise ConsentError("invalid_scope: no scope requested")
    challenge = params.get("code_challenge")
    if challenge and params.get("code_challenge_method", "plain") != "S256":
        raise ConsentError("invalid_request: code_challenge_method must be S256")
    return AuthorizationRequest(client_id=params["client_id"], redirect_uri=redirect, scope=scope,
                                state=params.get("state", ""), code_challenge=challenge)


def redirect_to(request: AuthorizationRequest, **query: str) -> str:
    separator = "&" if urlsplit(request.redirect_uri).query else "?"
    return request.redirect_uri + separator + urlencode({**query, "state": request.state})


def form_page(request: AuthorizationRequest, *, path: str, title: str, heading: str, lead: str,
              allow: str, deny: str) -> str:
    """A consent page: the scopes asked for and a form POSTing `decision=allow|deny` back to `path`.
    Text arguments are plain text (escaped here)."""
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in request.scope.split())
    return (f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>"
            f"<h1>{html.escape(heading)}</h1><p>{html.escape(lead)}</p><ul>{scopes}</ul>"
            f'<form method="post" action="{path}">{request.hidden_fields()}'
            f'<button type="submit" name="decision" value="allow">{html.escape(allow)}</button> '
            f'<button type="submit" name="decision" value="deny">{html.escape(deny)}</button></form></body></html>')


def consent_page(request: AuthorizationRequest, tenant_name: str) -> str:
    return form_page(request, path=PATH, title="Xero sandbox: allow access", heading=f"Allow access to {tenant_name}?",
                     lead="The app asks for:", allow="Allow access", deny="Cancel")


def new_code() -> str:
    return "xsbx_code_" + secrets.token_urlsafe(24)


def verify_pkce(challenge: str | None, verifier: str | None) -> bool:
    """S256: BASE64URL(SHA256(verifier)) without padding equals the challenge. No challenge: nothing to check."""
    if not challenge:
        return True
    if not verifier:
        return False
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest()).rstrip(b"=")
    return hmac.compare_digest(digest.decode("ascii"), challenge)
