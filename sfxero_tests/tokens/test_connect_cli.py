"""`sfxero connect xero`, `connections`, `disconnect xero` as a person runs them, against the sandbox
with --auto-consent, on SQLite and the real PostgreSQL: the printed consent address is fetched (the
browser's part), the organisation is stored encrypted and used by the client, nothing secret is
printed, and disconnect revokes at Xero and forgets."""

from __future__ import annotations

import json
import os

import pytest
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

from sfxero_pipelines.staging.state import tokens
from sfxero_tests.tokens.consent_cli import REPO, cli, connect
from sfxero_tests.xero.conftest import resource_for


def test_connect_list_use_and_disconnect(staging, make_sandbox, tmp_path, monkeypatch):
    server = make_sandbox(auto_consent=True)
    key = Fernet.generate_key()
    monkeypatch.setenv("SFXERO_SECRET_KEY", key.decode())
    env = {**os.environ, **server.env, "SFXERO_STAGING_URL": staging.url, "SFXERO_SECRET_KEY": key.decode(),
           "PYTHONPATH": str(REPO)}
    url, output = connect(env, tmp_path, "xero", server.env["SFXERO_CA_BUNDLE"])
    assert "offline_access" in url
    tenant = server.env["XERO_TENANT_ID"]
    assert f"Connected Xero organisation 'Sandbox Trading Co' (tenant {tenant})" in output

    listed = json.loads(cli(env, tmp_path, "connections", "--json").stdout)
    assert [(r["system"], r["organisation"], r["tenant_id"], r["state"], r["refresh_token_stale"]) for r in listed] == [
        ("xero", "Sandbox Trading Co", tenant, "active", False)]
    assert "accounting.contacts" in listed[0]["scopes"]
    human = cli(env, tmp_path, "connections").stdout
    assert "Sandbox Trading Co" in human and "active" in human

    # The sync's client uses the stored connection (its access token is fresh: no token request).
    with resource_for(server, tenant_id=None, staging_url=staging.url, per_minute_limit=1_000_000).get_client() as c:
        assert c.get_all("Currencies") and c.api_calls["token"] == 0

    with staging.begin() as conn:
        stored = tokens.load(conn, Fernet(key), "xero", tenant)
        raw = repr(conn.execute(sa.text("SELECT * FROM oauth_token")).all())
    secrets_ = [stored.refresh_token, stored.access_token, server.env["XERO_CLIENT_SECRET"], key.decode()]
    for secret in secrets_:
        assert secret not in output and secret not in human and secret not in raw

    gone = cli(env, tmp_path, "disconnect", "xero", tenant)
    assert f"Disconnected Xero organisation 'Sandbox Trading Co' (tenant {tenant})." in gone.stdout
    assert all(s not in gone.stdout + gone.stderr for s in secrets_)
    refused = requests.post(server.env["XERO_IDENTITY_URL"] + "/connect/token", verify=server.env["SFXERO_CA_BUNDLE"],
                            data={"grant_type": "refresh_token", "refresh_token": stored.refresh_token},
                            auth=(server.env["XERO_CLIENT_ID"], server.env["XERO_CLIENT_SECRET"]), timeout=30)
    assert refused.json() == {"error": "invalid_grant"}  # revoked at Xero, not only forgotten here
    assert json.loads(cli(env, tmp_path, "connections", "--json").stdout) == []
    unknown = cli(env, tmp_path, "disconnect", "xero", tenant, check=False)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "sfxero connections" in unknown.stderr


@pytest.mark.parametrize("system, scopes, needed", [("xero", "accounting.contacts", "offline_access"),
                                                    ("salesforce", "api", "refresh_token")])
def test_connect_refuses_scopes_without_a_refresh_token(tmp_path, sandbox, system, scopes, needed):
    env = {**os.environ, **sandbox.env, "SFXERO_STAGING_URL": f"sqlite:///{tmp_path / 's.db'}",
           "PYTHONPATH": str(REPO)}
    out = cli(env, tmp_path, "connect", system, "--no-browser", "--scopes", scopes, check=False)
    assert out.returncode == 2 and needed in out.stderr and out.stderr.count("\n") == 1
