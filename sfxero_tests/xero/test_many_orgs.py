"""`sfxero sandbox --xero-orgs N`: one consent grants N organisations, each its own seeded data and its own
rate limits behind the `xero-tenant-id` header, plus the app-wide minute shared by all; `sfxero connect xero`
stores each as a connection, `connections` lists them and `disconnect xero TENANT` cuts one while the others
keep working (real HTTPS, the real xero-python SDK and the real CLI)."""

from __future__ import annotations

import json
import os

import pytest
import requests
from cryptography.fernet import Fernet
from xero_python.exceptions import RateLimitException

from sfxero_pipelines.sandbox.xero.tenancy import tenant_id
from sfxero_tests.conftest import sandbox_call
from sfxero_tests.tokens.consent_cli import REPO, cli, connect
from sfxero_tests.xero.conftest import resource_for
from sfxero_tests.xero.sdk import accounting, sdk_client


def _auth_code_token(server) -> dict:
    """A token pair the way a consent gives one (the emulator's test hook), for the bare SDK."""
    refresh = server.xero.issue_refresh_token()
    env = server.env
    pair = requests.post(env["XERO_IDENTITY_URL"] + "/connect/token", verify=env["SFXERO_CA_BUNDLE"], timeout=30,
                         data={"grant_type": "refresh_token", "refresh_token": refresh},
                         auth=(env["XERO_CLIENT_ID"], env["XERO_CLIENT_SECRET"])).json()
    return {**pair, "token_type": "Bearer"}


def test_one_org_by_default_is_the_org_it_always_was(make_sandbox):
    server = make_sandbox(size=8)
    assert [t.tenant_id for t in server.xero.tenants.values()] == [server.env["XERO_TENANT_ID"]]
    assert server.xero.org.organisation["Name"] == "Sandbox Trading Co"


def test_each_org_its_own_data_and_limits_and_the_app_minute_shared(xero_sandbox):
    server = xero_sandbox(size=8, xero_orgs=3, xero_limits={"per_minute": 3, "app_per_minute": 7})
    first = server.env["XERO_TENANT_ID"]
    tenants = [t.tenant_id for t in server.xero.tenants.values()]
    assert tenants == [tenant_id(first, k) for k in range(3)] and len(set(tenants)) == 3
    token = _auth_code_token(server)
    client, _ = sdk_client(server, token)
    api = accounting(server, client)

    names = [api.get_organisations(t).organisations[0].name for t in tenants]
    assert names == ["Sandbox Trading Co", "Sandbox Trading UK Ltd", "Sandbox Trading GmbH"]
    # Each organisation's own customers: no contact name shared between two of them.
    contacts = [{c["Name"] for c in sandbox_call(server, "xero", "GET", f"/__sandbox/tenants/{t}/records/Contacts")}
                for t in tenants]
    assert all(contacts) and not (contacts[0] & contacts[1]) and not (contacts[1] & contacts[2])
    # Deterministic from the seed: a second sandbox of the same seed seeds the same organisations.
    again = xero_sandbox(size=8, xero_orgs=3)
    assert {c["Name"] for c in sandbox_call(again, "xero", "GET",
                                            f"/__sandbox/tenants/{tenants[2]}/records/Contacts")} == contacts[2]

    # Tenant 0 has spent 1 of its 3 a minute; 2 more, then its 4th is refused while tenant 1 still answers.
    api.get_currencies(tenants[0])
    api.get_currencies(tenants[0])
    with pytest.raises(RateLimitException) as exc:
        api.get_currencies(tenants[0])
    assert exc.value.rate_limit == "minute"
    # The app has spent 5 of its 7 (3 + 1 + 1; the refused call is not counted): tenant 2's 2nd call is the 6th,
    # tenant 1's 2nd the 7th, and tenant 2's 3rd crosses the app-wide minute though its own budget has room.
    _data, _status, headers = api.get_currencies(tenants[2], _return_http_data_only=False)
    assert headers["X-AppMinLimit-Remaining"] == "1" and headers["X-MinLimit-Remaining"] == "1"
    api.get_currencies(tenants[1])
    with pytest.raises(RateLimitException) as exc:
        api.get_currencies(tenants[2])
    assert exc.value.rate_limit == "appminute"
    # An unknown tenant id is refused as Xero refuses it.
    sandbox_call(server, "xero", "POST", "/__sandbox/clock", {"advance_s": 61})
    bad = requests.get(server.env["XERO_API_URL"] + "/Currencies", verify=server.env["SFXERO_CA_BUNDLE"], timeout=30,
                       headers={"Authorization": f"Bearer {token['access_token']}",
                                "xero-tenant-id": tenant_id(first, 9), "Accept": "application/json"})
    assert bad.status_code == 403


def test_connect_grants_every_org_and_disconnect_cuts_one(staging, make_sandbox, tmp_path, monkeypatch):
    server = make_sandbox(size=8, xero_orgs=3, auto_consent=True)
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("SFXERO_SECRET_KEY", key)
    env = {**os.environ, **server.env, "SFXERO_STAGING_URL": staging.url, "SFXERO_SECRET_KEY": key,
           "PYTHONPATH": str(REPO)}
    _url, output = connect(env, tmp_path, "xero", server.env["SFXERO_CA_BUNDLE"])
    tenants = {t.tenant_id: t.name for t in server.xero.tenants.values()}
    for tid, name in tenants.items():
        assert f"Connected Xero organisation '{name}' (tenant {tid})" in output

    listed = json.loads(cli(env, tmp_path, "connections", "--json").stdout)
    assert sorted((r["organisation"], r["tenant_id"], r["state"]) for r in listed) == sorted(
        (name, tid, "active") for tid, name in tenants.items())
    assert all("accounting.contacts" in r["scopes"] and r["token_age_days"] >= 0 and r["last_refresh"] for r in listed)

    # Each stored connection reaches its own organisation (one consent: one token pair for all).
    seen = {}
    for tid in tenants:
        with resource_for(server, tenant_id=tid, staging_url=staging.url).get_client() as c:
            seen[tid] = c.get_all("Organisation")[0]["Name"]
    assert seen == tenants

    cut, *kept = list(tenants)
    gone = cli(env, tmp_path, "disconnect", "xero", cut)
    assert f"Disconnected Xero organisation '{tenants[cut]}' (tenant {cut})." in gone.stdout
    assert sorted(r["tenant_id"] for r in json.loads(cli(env, tmp_path, "connections", "--json").stdout)) == sorted(kept)
    state = {t["tenant_id"]: t["connected"] for t in sandbox_call(server, "xero", "GET", "/__sandbox/tenants")}
    assert state == {cut: False, **{k: True for k in kept}}  # cut at Xero, the others still granted
    for tid in kept:
        with resource_for(server, tenant_id=tid, staging_url=staging.url).get_client() as c:
            assert c.get_all("Organisation")[0]["Name"] == tenants[tid]


def test_one_pacer_per_tenant_and_the_app_pacer_shared(xero_sandbox):
    """Clients of one tenant share its pacer; another tenant has its own; all share the app's, so when
    Xero reports the app's minute spent every tenant waits the window out instead of collecting 429s."""
    server = xero_sandbox(size=8, xero_orgs=2, xero_limits={"per_minute": 1000, "app_per_minute": 3, "window_s": 2.0})
    first, second = (t.tenant_id for t in server.xero.tenants.values())

    def client(tenant):
        return resource_for(server, tenant_id=tenant, per_minute_limit=1000, limit_window_s=2.0).get_client()

    with client(first) as a1, client(first) as a2, client(second) as b:
        assert a1.pacer is a2.pacer and a1.pacer is not b.pacer
        assert a1.app_pacer is b.app_pacer
        for c in (a1, a2, a1):
            c.get_all("Currencies")  # the app's 3rd call of the window: X-AppMinLimit-Remaining 0
        assert a1.limits["app_min_remaining"] == 0
        waited = b.app_pacer.waited_s
        assert b.get_all("Currencies")
        # Tenant b had spent none of its own budget, yet it waited for the app's window; no call was refused.
        assert b.app_pacer.waited_s - waited >= 1.0
        assert sum(n for label, n in b.api_calls.items() if label != "token") == 1
