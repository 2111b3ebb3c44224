"""`sfxero connect xero`, `connections`, `disconnect xero` as a person runs them, against the sandbox
with --auto-consent, on SQLite and the real PostgreSQL: the printed consent address is fetched (the
browser's part), the organisation is stored encrypted and used by the client, nothing secret is
printed, and disconnect revokes at Xero and forgets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

from sfxero_pipelines.staging.state import tokens
from sfxero_tests.xero.conftest import resource_for

REPO = Path(__file__).resolve().parents[2]


def _cli(env, cwd, *args, check=True):
    out = subprocess.run([sys.executable, "-m", "sfxero_pipelines.cli", *args], capture_output=True, text=True,
                         env=env, cwd=cwd, timeout=180)
    assert not check or out.returncode == 0, out.stderr[-2000:]
    return out


def test_connect_list_use_and_disconnect(staging, make_sandbox, tmp_path, monkeypatch):
    server = make_sandbox(auto_consent=True)
    key = Fernet.generate_key()
    monkeypatch.setenv("SFXERO_SECRET_KEY", key.decode())
    env = {**os.environ, **server.env, "SFXERO_STAGING_URL": staging.url, "SFXERO_SECRET_KEY": key.decode(),
           "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "sfxero_pipelines.cli", "connect", "xero", "--no-browser",
                             "--port", "0"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    printed = []
    for line in proc.stdout:
        printed.append(line)
        if line.startswith("  https://"):
            break
    url = printed[-1].strip()
    assert "code_challenge_method=S256" in url and "offline_access" in url
    browser = requests.Session()
    browser.trust_env = False
    page = browser.get(url, verify=server.env["SFXERO_CA_BUNDLE"], timeout=60)  # follows to the loopback callback
    assert page.status_code == 200 and "connected" in page.text
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    output = "".join(printed) + rest + err
    tenant = server.env["XERO_TENANT_ID"]
    assert f"Connected Xero organisation 'Sandbox Trading Co' (tenant {tenant})" in output

    listed = json.loads(_cli(env, tmp_path, "connections", "--json").stdout)
    assert [(r["system"], r["organisation"], r["tenant_id"], r["state"], r["refresh_token_stale"]) for r in listed] == [
        ("xero", "Sandbox Trading Co", tenant, "active", False)]
    assert "accounting.contacts" in listed[0]["scopes"]
    human = _cli(env, tmp_path, "connections").stdout
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

    gone = _cli(env, tmp_path, "disconnect", "xero", tenant)
    assert f"Disconnected Xero organisation 'Sandbox Trading Co' (tenant {tenant})." in gone.stdout
    assert all(s not in gone.stdout + gone.stderr for s in secrets_)
    refused = requests.post(server.env["XERO_IDENTITY_URL"] + "/connect/token", verify=server.env["SFXERO_CA_BUNDLE"],
                            data={"grant_type": "refresh_token", "refresh_token": stored.refresh_token},
                            auth=(server.env["XERO_CLIENT_ID"], server.env["XERO_CLIENT_SECRET"]), timeout=30)
    assert refused.json() == {"error": "invalid_grant"}  # revoked at Xero, not only forgotten here
    assert json.loads(_cli(env, tmp_path, "connections", "--json").stdout) == []
    unknown = _cli(env, tmp_path, "disconnect", "xero", tenant, check=False)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "sfxero connections" in unknown.stderr


def test_connect_refuses_scopes_without_offline_access(tmp_path, sandbox):
    env = {**os.environ, **sandbox.env, "SFXERO_STAGING_URL": f"sqlite:///{tmp_path / 's.db'}",
           "PYTHONPATH": str(REPO)}
    out = _cli(env, tmp_path, "connect", "xero", "--no-browser", "--scopes", "accounting.contacts", check=False)
    assert out.returncode == 2 and "offline_access" in out.stderr and out.stderr.count("\n") == 1
