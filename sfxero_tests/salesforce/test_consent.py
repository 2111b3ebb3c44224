"""The sandbox's Salesforce web-server flow over real HTTPS: `/services/oauth2/authorize` (consent form,
auto-consent), the `authorization_code` grant with PKCE (a wrong verifier refused with Salesforce's
error shape), single-use codes, the refresh-token grant feeding the real simple-salesforce, and
`/services/oauth2/revoke` ending the refresh token and the sessions it opened."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession

from sfxero_pipelines.clients.xero_oauth import pkce_pair  # RFC 7636 S256, the same for every system

REDIRECT = "http://127.0.0.1:8766/callback"
SCOPE = "api refresh_token"


def _http(server) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = server.env["SFXERO_CA_BUNDLE"]
    return s


def _authorize_params(server, challenge: str, **extra) -> dict:
    return {"response_type": "code", "client_id": server.env["SALESFORCE_CLIENT_ID"], "redirect_uri": REDIRECT,
            "scope": SCOPE, "state": "st-9", "code_challenge": challenge, "code_challenge_method": "S256", **extra}


def _consent(server, challenge: str, decision: str = "allow") -> dict:
    """Open the consent page as a browser would and submit its form; returns the redirect's query."""
    base, http = server.env["SALESFORCE_LOGIN_URL"], _http(server)
    page = http.get(base + "/services/oauth2/authorize", params=_authorize_params(server, challenge), timeout=30)
    assert page.status_code == 200 and "<form" in page.text and "api" in page.text
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    fields = {k: unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text)}
    answer = http.post(base + action, data={**fields, "decision": decision}, allow_redirects=False, timeout=30)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _auto_consent_code(server, challenge: str) -> str:
    """The code an auto-consenting sandbox redirects with at once."""
    location = _http(server).get(server.env["SALESFORCE_LOGIN_URL"] + "/services/oauth2/authorize",
                                 params=_authorize_params(server, challenge), allow_redirects=False,
                                 timeout=30).headers["location"]
    return parse_qs(urlsplit(location).query)["code"][0]


def _token(server, **data) -> requests.Response:
    env = server.env
    return _http(server).post(env["SALESFORCE_LOGIN_URL"] + "/services/oauth2/token", timeout=30,
                              data={"client_id": env["SALESFORCE_CLIENT_ID"],
                                    "client_secret": env["SALESFORCE_CLIENT_SECRET"], **data})


def _exchange(server, code: str, verifier: str) -> requests.Response:
    return _token(server, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier)


def _revoke(server, token: str) -> requests.Response:
    return _http(server).post(server.env["SALESFORCE_LOGIN_URL"] + "/services/oauth2/revoke", data={"token": token},
                              timeout=30)


def test_consent_then_code_exchange_with_pkce_gives_a_refresh_token(make_sandbox):
    server = make_sandbox()
    verifier, challenge = pkce_pair()
    query = _consent(server, challenge)
    assert query["state"] == "st-9" and query["code"]
    answer = _exchange(server, query["code"], verifier)
    assert answer.status_code == 200, answer.text
    pair = answer.json()
    assert {"access_token", "refresh_token", "instance_url", "id", "token_type", "issued_at", "signature"} <= set(pair)
    assert "expires_in" not in pair and set(pair["scope"].split()) == {"api", "refresh_token"}
    # The code is single use.
    again = _exchange(server, query["code"], verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    # The refresh token opens new sessions, which the real simple-salesforce uses.
    refreshed = _token(server, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert refreshed.status_code == 200 and "refresh_token" not in refreshed.json()
    sf = Salesforce(instance_url=refreshed.json()["instance_url"], session_id=refreshed.json()["access_token"],
                    session=_http(server))
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0


def test_wrong_verifier_is_refused_with_salesforce_error_shape(make_sandbox):
    server = make_sandbox()
    verifier, challenge = pkce_pair()
    code = _consent(server, challenge)["code"]
    wrong = _exchange(server, code, pkce_pair()[0])
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_grant", "error_description": "invalid code verifier"}
    missing = _token(server, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_grant"
    other_redirect = _token(server, grant_type="authorization_code", code=code, code_verifier=verifier,
                            redirect_uri="http://127.0.0.1:1/callback")
    assert other_redirect.status_code == 400 and other_redirect.json()["error"] == "redirect_uri_mismatch"
    assert _exchange(server, code, verifier).status_code == 200  # the code survived the refused attempts


def test_deny_and_auto_consent(make_sandbox):
    server = make_sandbox()
    _verifier, challenge = pkce_pair()
    assert _consent(server, challenge, decision="deny") == {"error": "access_denied", "state": "st-9"}
    auto = make_sandbox(auto_consent=True)
    answer = _http(auto).get(auto.env["SALESFORCE_LOGIN_URL"] + "/services/oauth2/authorize",
                             params=_authorize_params(auto, challenge), allow_redirects=False, timeout=30)
    assert answer.status_code == 302 and "code=" in answer.headers["location"]
    bad = _http(auto).get(auto.env["SALESFORCE_LOGIN_URL"] + "/services/oauth2/authorize",
                          params=_authorize_params(auto, challenge, client_id="someone-else"), timeout=30)
    assert bad.status_code == 400 and "<form" not in bad.text


def test_revoke_ends_the_refresh_token_and_its_sessions(make_sandbox):
    server = make_sandbox(auto_consent=True)
    verifier, challenge = pkce_pair()
    pair = _exchange(server, _auto_consent_code(server, challenge), verifier).json()
    session = _token(server, grant_type="refresh_token", refresh_token=pair["refresh_token"]).json()
    assert _revoke(server, pair["refresh_token"]).status_code == 200
    refused = _token(server, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert refused.status_code == 400 and refused.json() == {"error": "invalid_grant",
                                                             "error_description": "expired access/refresh token"}
    sf = Salesforce(instance_url=session["instance_url"], session_id=session["access_token"], session=_http(server))
    with pytest.raises(SalesforceExpiredSession):  # the sessions it opened end with it
        sf.query("SELECT Id FROM Account LIMIT 1")
    unknown = _revoke(server, "not-a-token")
    assert unknown.status_code == 400 and unknown.json()["error"] == "unsupported_token_type"


def test_client_signs_in_with_the_stored_connection_only_when_configured(make_sandbox, sqlite_staging, monkeypatch):
    from cryptography.fernet import Fernet

    from sfxero_pipelines.clients.salesforce import SalesforceClient
    from sfxero_pipelines.errors import AuthError, ConfigError
    from sfxero_pipelines.staging.migrations import migrate
    from sfxero_pipelines.staging.state import tokens

    from .conftest import resource

    server = make_sandbox(auto_consent=True)
    key = Fernet.generate_key()
    monkeypatch.setenv("SFXERO_SECRET_KEY", key.decode())
    verifier, challenge = pkce_pair()
    pair = _exchange(server, _auto_consent_code(server, challenge), verifier).json()
    migrate(sqlite_staging.engine)
    with sqlite_staging.begin() as conn:
        tokens.save_connection(conn, Fernet(key), system="salesforce", tenant_id="00D5g00000sfxeroEAA",
                               tenant_name="sandbox", scopes=pair["scope"], refresh_token=pair["refresh_token"],
                               access_token=None, access_expires_at=None)

    # The Connected App's secret is optional for the web-server flow; the refresh token does the work.
    settings = resource(server, auth="connection", staging_url=sqlite_staging.url, client_secret=None).settings()
    assert pair["refresh_token"] not in repr(settings) and sqlite_staging.url not in repr(settings)
    with SalesforceClient(settings) as client:
        assert client.count("SELECT COUNT() FROM Account") == len(server.salesforce.records("Account"))
        assert pair["refresh_token"] not in repr(client)
    # `auto` (the default) ignores the stored connection: client credentials, exactly as before.
    assert _revoke(server, pair["refresh_token"]).status_code == 200
    with resource(server).get_client() as client:
        assert client.count("SELECT COUNT() FROM Account") > 0 and client.api_calls["token"] == 1
    with pytest.raises(AuthError) as refused, SalesforceClient(settings) as client:
        client.count("SELECT COUNT() FROM Account")
    assert "sfxero connect salesforce" in str(refused.value) and pair["refresh_token"] not in str(refused.value)
    with pytest.raises(ConfigError) as bad:
        resource(server, auth="password-please").settings()
    assert "SALESFORCE_AUTH" in str(bad.value)
    with pytest.raises(ConfigError) as no_secret:  # outside the web-server flow the secret is still required
        resource(server, client_secret=None).settings()
    assert "SALESFORCE_CLIENT_SECRET" in str(no_secret.value)
