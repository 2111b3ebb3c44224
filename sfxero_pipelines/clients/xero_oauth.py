"""Xero's authorization-code flow with PKCE, as the calls `sfxero connect/disconnect xero` make.

- `authorize_url`: the consent page address (login.xero.com, or the sandbox's identity host) with an
  S256 `code_challenge`; `pkce_pair` makes the verifier and its challenge.
- `exchange_code`: the code and verifier for access + refresh tokens (client_secret_basic).
- `granted_connections`: `GET /connections`, the organisations the consent granted.
- `revoke` (the refresh token: every tenant of that consent) and `delete_connection` (one tenant).
Failures raise `AuthError`/`ApiError` with Xero's error code and never a token or the client secret.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode

import requests

from .. import errors

SYSTEM = "xero"
DEFAULT_LOGIN_URL = "https://login.xero.com"
DEFAULT_SCOPES = "offline_access accounting.transactions accounting.contacts accounting.settings.read"
AUTHORIZE_PATH = "/identity/connect/authorize"


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge): 64 url-safe characters, as RFC 7636 allows 43-128."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(login_url: str, *, client_id: str, redirect_uri: str, scopes: str, state: str, challenge: str) -> str:
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scopes,
             "state": state, "code_challenge": challenge, "code_challenge_method": "S256"}
    return f"{login_url.rstrip('/')}{AUTHORIZE_PATH}?{urlencode(query)}"


def _error_code(resp: requests.Response) -> str:
    try:
        return str(resp.json().get("error", ""))
    except (ValueError, AttributeError):
        return ""


def exchange_code(identity_url: str, *, client_id: str, client_secret: str, code: str, redirect_uri: str,
                  verifier: str, verify: bool | str, timeout_s: float = 30) -> dict:
    try:
        resp = requests.post(f"{identity_url.rstrip('/')}/connect/token", auth=(client_id, client_secret),
                             data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                                   "code_verifier": verifier}, verify=verify, timeout=timeout_s)
    except requests.RequestException as exc:
        raise errors.ApiError(SYSTEM, "POST connect/token", None, "unreachable", type(exc).__name__) from None
    if resp.status_code != 200:
        code_ = _error_code(resp)
        hint = {"invalid_client": " (check XERO_CLIENT_ID / XERO_CLIENT_SECRET)",
                "invalid_grant": " (the code expired or was already used: run the command again)"}.get(code_, "")
        raise errors.AuthError(SYSTEM, f"code exchange answered {resp.status_code} {code_}".strip() + hint)
    return resp.json()


def granted_connections(connections_url: str, access_token: str, *, verify: bool | str,
                        timeout_s: float = 30) -> list[dict]:
    resp = requests.get(connections_url, headers={"Authorization": f"Bearer {access_token}",
                                                  "Accept": "application/json"}, verify=verify, timeout=timeout_s)
    if resp.status_code != 200:
        raise errors.ApiError(SYSTEM, "GET connections", resp.status_code, "error", resp.text[:200].replace(
            access_token, "***"))
    return resp.json()


def revoke(identity_url: str, *, client_id: str, client_secret: str, refresh_token: str, verify: bool | str,
           timeout_s: float = 30) -> None:
    resp = requests.post(f"{identity_url.rstrip('/')}/connect/revocation", data={"token": refresh_token},
                         auth=(client_id, client_secret), verify=verify, timeout=timeout_s)
    if resp.status_code != 200:
        raise errors.AuthError(SYSTEM, f"revocation answered {resp.status_code} {_error_code(resp)}".strip())


def delete_connection(connections_url: str, connection_id: str, access_token: str, *, verify: bool | str,
                      timeout_s: float = 30) -> None:
    resp = requests.delete(f"{connections_url.rstrip('/')}/{connection_id}", verify=verify, timeout=timeout_s,
                           headers={"Authorization": f"Bearer {access_token}"})
    if resp.status_code not in (200, 204, 404):
        raise errors.ApiError(SYSTEM, "DELETE connections/{id}", resp.status_code, "error", "disconnect refused")
