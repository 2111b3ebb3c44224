"""Identity over real HTTPS with the real SDK: client credentials, refresh rotation, tenancy, expiry."""

from __future__ import annotations

import base64
import time

import pytest
import requests
from xero_python.exceptions import HTTPStatusException

from sfxero_pipelines import errors
from sfxero_tests.conftest import sandbox_call
from sfxero_tests.xero.conftest import resource_for
from sfxero_tests.xero.sdk import accounting, cc_client, identity, sdk_client

SDK_TOKEN_KEYS = {"access_token", "scope", "expires_in", "token_type", "expires_at", "refresh_token", "id_token"}


def _token(server, form, basic=True):
    env = server.env
    auth = (env["XERO_CLIENT_ID"], env["XERO_CLIENT_SECRET"]) if basic else None
    if not basic:
        form = {**form, "client_id": env["XERO_CLIENT_ID"], "client_secret": env["XERO_CLIENT_SECRET"]}
    return requests.post(env["XERO_IDENTITY_URL"] + "/connect/token", data=form, auth=auth,
                         verify=env["SFXERO_CA_BUNDLE"], timeout=10)


def test_client_credentials_with_the_sdk_and_both_client_auth_styles(sandbox, monkeypatch):
    client, holder = cc_client(sandbox, monkeypatch)
    token = holder["token"]
    assert set(token) <= SDK_TOKEN_KEYS and token["expires_in"] == 1800 and "refresh_token" not in token
    orgs = accounting(sandbox, client).get_organisations(sandbox.env["XERO_TENANT_ID"])
    assert orgs.organisations[0].base_currency.value == "USD"
    basic = _token(sandbox, {"grant_type": "client_credentials"}, basic=True)
    post = _token(sandbox, {"grant_type": "client_credentials"}, basic=False)
    assert basic.status_code == post.status_code == 200
    assert set(basic.json()) <= SDK_TOKEN_KEYS
    bad = requests.post(sandbox.env["XERO_IDENTITY_URL"] + "/connect/token",
                        data={"grant_type": "client_credentials"}, auth=(sandbox.env["XERO_CLIENT_ID"], "wrong"),
                        verify=sandbox.env["SFXERO_CA_BUNDLE"], timeout=10)
    assert bad.status_code == 400 and bad.json() == {"error": "invalid_client"}


def test_connections_lists_the_tenant(sandbox, monkeypatch):
    client, _ = cc_client(sandbox, monkeypatch)
    connections = identity(sandbox, client).get_connections()
    assert [c.tenant_id for c in connections] == [sandbox.env["XERO_TENANT_ID"]]
    assert connections[0].tenant_type == "ORGANISATION"


def test_refresh_token_rotation_grace_and_invalid_grant(xero_sandbox, monkeypatch):
    server = xero_sandbox()
    first = server.xero.issue_refresh_token()
    client, holder = sdk_client(server, {"access_token": "none", "refresh_token": first, "expires_in": 1800,
                                         "scope": ["accounting.transactions"], "token_type": "Bearer",
                                         "expires_at": time.time() - 10}, monkeypatch)
    api = accounting(server, client)
    # The SDK sees an expired token, refreshes it (client_secret_post) and saves the rotated pair.
    assert api.get_currencies(server.env["XERO_TENANT_ID"]).currencies
    second = holder["token"]["refresh_token"]
    assert second and second != first and set(holder["token"]) <= SDK_TOKEN_KEYS
    # A lost response: the previous refresh token still works within the 30-minute grace...
    retry = _token(server, {"grant_type": "refresh_token", "refresh_token": first}, basic=True)
    assert retry.status_code == 200
    third = retry.json()["refresh_token"]
    # ...but a token two generations old is dead.
    stale = _token(server, {"grant_type": "refresh_token", "refresh_token": second}, basic=False)
    assert stale.status_code == 400 and stale.json() == {"error": "invalid_grant"}
    fourth = _token(server, {"grant_type": "refresh_token", "refresh_token": third}, basic=False).json()
    sandbox_call(server, "xero", "POST", "/__sandbox/clock", {"advance_s": 1801})
    expired_grace = _token(server, {"grant_type": "refresh_token", "refresh_token": third}, basic=True)
    assert expired_grace.status_code == 400 and expired_grace.json()["error"] == "invalid_grant"
    assert _token(server, {"grant_type": "refresh_token", "refresh_token": fourth["refresh_token"]}).status_code == 200


def test_resource_with_refresh_token_rotates_and_keeps_the_new_one(xero_sandbox):
    server = xero_sandbox()
    token = server.xero.issue_refresh_token()
    with resource_for(server, refresh_token=token, tenant_id=None).get_client() as client:
        with pytest.raises(errors.AuthError):
            # Auth-code tokens need the xero-tenant-id header (403 without it).
            client.get_all("Currencies")
        assert client.refresh_token != token
    with resource_for(server, refresh_token=token).get_client() as client:
        # The original was rotated once, so it is the "previous" token, inside its 30-minute grace.
        assert client.get_all("Currencies")


def test_tenant_header_is_enforced(sandbox, monkeypatch):
    client, _ = cc_client(sandbox, monkeypatch)
    api = accounting(sandbox, client)
    with pytest.raises(HTTPStatusException) as exc:
        api.get_currencies("00000000-0000-0000-0000-000000000001")
    assert exc.value.status == 403 and b"AuthenticationUnsuccessful" in exc.value.body
    # Custom connections reach exactly one organisation: an empty tenant header is accepted.
    assert api.get_currencies("").currencies


def test_missing_or_bad_bearer_is_401(sandbox):
    env = sandbox.env
    resp = requests.get(env["XERO_API_URL"] + "/Invoices", headers={"Authorization": "Bearer nope",
                        "xero-tenant-id": env["XERO_TENANT_ID"]}, verify=env["SFXERO_CA_BUNDLE"], timeout=10)
    assert resp.status_code == 401 and resp.json()["Title"] == "Unauthorized"


def test_token_expiry_is_renewed_by_the_resource(xero_sandbox):
    server = xero_sandbox()
    with resource_for(server).get_client() as client:
        assert client.get_all("Currencies")
        sandbox_call(server, "xero", "POST", "/__sandbox/clock", {"advance_s": 1801})
        # The emulator now answers 401 TokenExpired; the client renews and retries once.
        assert client.get_all("Currencies")
        assert client.api_calls["token"] == 2 and client.api_calls["GET Currencies"] == 3


def test_connections_renews_a_token_that_expired_before_its_use(xero_sandbox):
    server = xero_sandbox()
    with resource_for(server).get_client() as client:
        assert client.get_all("Currencies")
        sandbox_call(server, "xero", "POST", "/__sandbox/clock", {"advance_s": 1801})
        # 401 TokenExpired on GET connections (a loaded machine between the check and the call): renewed once.
        assert [c["tenantId"] for c in client.connections()] == [server.env["XERO_TENANT_ID"]]
        assert client.api_calls["token"] == 2 and client.api_calls["GET connections"] == 2


def test_short_token_ttl_is_renewed_before_expiry(xero_sandbox):
    server = xero_sandbox(faults="xero.token_ttl_s=2")
    with resource_for(server).get_client() as client:
        for i in range(3):
            if i:  # between calls only: a sleep after the last one proves nothing
                time.sleep(1.2)
            assert client.get_all("TaxRates")
        assert client.api_calls["token"] >= 2
        assert client.api_calls["GET TaxRates"] == 3  # renewed ahead of time: no 401 round trips


def test_wrong_secret_names_the_problem_without_leaking_it(sandbox):
    resource = resource_for(sandbox, client_secret="very-secret-value-123")
    with resource.get_client() as client:
        with pytest.raises(errors.AuthError) as exc:
            client.get_all("Currencies")
    assert "invalid_client" in str(exc.value) and "very-secret-value-123" not in str(exc.value)
    assert "very-secret-value-123" not in repr(resource) and "very-secret-value-123" not in repr(client)
    assert base64.b64encode(b"very-secret-value-123").decode() not in str(exc.value)
