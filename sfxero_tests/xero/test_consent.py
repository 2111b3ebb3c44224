"""The sandbox's Xero consent flow over real HTTPS: consent page form, authorization code with PKCE
(S256; a wrong verifier refused), single-use codes, auto-consent, revocation and the 60-day expiry."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from html import unescape
from urllib.parse import parse_qs, urlsplit

import requests

from sfxero_tests.conftest import sandbox_call

REDIRECT = "http://127.0.0.1:8765/callback"
SCOPE = "offline_access accounting.transactions accounting.contacts accounting.settings.read"


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize_params(server, challenge: str, **extra) -> dict:
    return {"response_type": "code", "client_id": server.env["XERO_CLIENT_ID"], "redirect_uri": REDIRECT,
            "scope": SCOPE, "state": "st-123", "code_challenge": challenge, "code_challenge_method": "S256", **extra}


def _consent(server, challenge: str, decision: str = "allow") -> dict:
    """Open the consent page as a browser would and submit its form; returns the redirect's query."""
    env = server.env
    page = requests.get(env["XERO_IDENTITY_URL"] + "/identity/connect/authorize",
                        params=_authorize_params(server, challenge), verify=env["SFXERO_CA_BUNDLE"], timeout=30)
    assert page.status_code == 200 and "<form" in page.text and "Sandbox Trading Co" in page.text
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    fields = {k: unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)}
    answer = requests.post(env["XERO_IDENTITY_URL"] + action, data={**fields, "decision": decision},
                           verify=env["SFXERO_CA_BUNDLE"], allow_redirects=False, timeout=30)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _exchange(server, code: str, verifier: str) -> requests.Response:
    env = server.env
    return requests.post(env["XERO_IDENTITY_URL"] + "/connect/token", verify=env["SFXERO_CA_BUNDLE"], timeout=30,
                         data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                               "code_verifier": verifier}, auth=(env["XERO_CLIENT_ID"], env["XERO_CLIENT_SECRET"]))


def _refresh(server, refresh_token: str) -> requests.Response:
    env = server.env
    return requests.post(env["XERO_IDENTITY_URL"] + "/connect/token", verify=env["SFXERO_CA_BUNDLE"], timeout=30,
                         data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                         auth=(env["XERO_CLIENT_ID"], env["XERO_CLIENT_SECRET"]))


def _connections(server, access: str) -> requests.Response:
    return requests.get(server.env["XERO_IDENTITY_URL"] + "/connections", verify=server.env["SFXERO_CA_BUNDLE"],
                        headers={"Authorization": f"Bearer {access}"}, timeout=30)


def test_consent_form_then_code_exchange_with_pkce(xero_sandbox):
    server = xero_sandbox()
    verifier, challenge = _pkce()
    query = _consent(server, challenge)
    assert query["state"] == "st-123" and query["code"]
    wrong = _exchange(server, query["code"], _pkce()[0])
    assert wrong.status_code == 400 and wrong.json() == {"error": "invalid_grant"}
    # The refused code is spent: consent again, then the right verifier gets the pair.
    query = _consent(server, challenge)
    good = _exchange(server, query["code"], verifier)
    assert good.status_code == 200
    pair = good.json()
    assert pair["scope"] == SCOPE and pair["refresh_token"] and pair["expires_in"] == 1800
    assert [c["tenantName"] for c in _connections(server, pair["access_token"]).json()] == ["Sandbox Trading Co"]
    assert _exchange(server, query["code"], verifier).json() == {"error": "invalid_grant"}  # single use
    assert _refresh(server, pair["refresh_token"]).json()["scope"] == SCOPE


def test_deny_and_bad_requests(xero_sandbox):
    server = xero_sandbox()
    _verifier, challenge = _pkce()
    assert _consent(server, challenge, decision="deny") == {"error": "access_denied", "state": "st-123"}
    env = server.env
    for bad in ({"redirect_uri": "http://evil.example/callback"}, {"client_id": "someone-else"},
                {"code_challenge_method": "plain"}):
        page = requests.get(env["XERO_IDENTITY_URL"] + "/identity/connect/authorize",
                            params=_authorize_params(server, challenge, **bad), verify=env["SFXERO_CA_BUNDLE"],
                            allow_redirects=False, timeout=30)
        assert page.status_code == 400 and "<form" not in page.text


def test_auto_consent_revocation_and_sixty_day_expiry(xero_sandbox):
    server = xero_sandbox(auto_consent=True)
    env = server.env
    verifier, challenge = _pkce()

    def connect() -> dict:
        answer = requests.get(env["XERO_IDENTITY_URL"] + "/identity/connect/authorize",
                              params=_authorize_params(server, challenge), verify=env["SFXERO_CA_BUNDLE"],
                              allow_redirects=False, timeout=30)
        assert answer.status_code == 302
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
        return _exchange(server, code, verifier).json()

    pair = connect()
    revoked = requests.post(env["XERO_IDENTITY_URL"] + "/connect/revocation", data={"token": pair["refresh_token"]},
                            auth=(env["XERO_CLIENT_ID"], env["XERO_CLIENT_SECRET"]), verify=env["SFXERO_CA_BUNDLE"],
                            timeout=30)
    assert revoked.status_code == 200
    assert _refresh(server, pair["refresh_token"]).json() == {"error": "invalid_grant"}
    assert _connections(server, pair["access_token"]).status_code == 401
    pair = connect()
    sandbox_call(server, "xero", "POST", "/__sandbox/clock", {"advance_s": 60 * 86400 + 1})
    assert _refresh(server, pair["refresh_token"]).json() == {"error": "invalid_grant"}
