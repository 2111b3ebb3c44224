"""`sfxero connect salesforce`, `connections`, `disconnect salesforce` as a person runs them, against the
sandbox with --auto-consent, on SQLite and the real PostgreSQL: the printed consent address (PKCE) is
fetched as a browser would, the refresh token is stored encrypted, a second process syncs through it
with the real simple-salesforce (SALESFORCE_AUTH=connection), a revoked connection fails with one line
naming `sfxero connect salesforce`, and disconnect revokes at Salesforce and forgets."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

from sfxero_pipelines.staging.state import tokens
from sfxero_tests.tokens.consent_cli import REPO, cli, connect

ORG_ID = "00D5g00000sfxeroEAA"  # the sandbox org
# A second process reading Accounts through the stored connection: the count and its token calls.
USE_CONNECTION = """
import sys
from sfxero_pipelines.defs.salesforce.resources import salesforce_resource_from_env
from sfxero_pipelines.errors import SfxeroError
try:
    with salesforce_resource_from_env().get_client() as client:
        print(client.count("SELECT COUNT() FROM Account"), client.api_calls["token"])
except SfxeroError as exc:
    print(exc, file=sys.stderr)
    sys.exit(1)
"""


def _connect(env, cwd, server) -> str:
    url, output = connect(env, cwd, "salesforce", server.env["SFXERO_CA_BUNDLE"])
    assert "/services/oauth2/authorize?" in url and "scope=api+refresh_token" in url
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in url
    return output


def _use(env, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", USE_CONNECTION], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=180)


def test_connect_store_use_revoke_and_disconnect(staging, make_sandbox, tmp_path):
    server = make_sandbox(auto_consent=True)
    key = Fernet.generate_key().decode()
    env = {**os.environ, **server.env, "SFXERO_STAGING_URL": staging.url, "SFXERO_SECRET_KEY": key,
           "PYTHONPATH": str(REPO)}
    output = _connect(env, tmp_path, server)
    host = server.salesforce_url.removeprefix("https://")
    assert f"Connected Salesforce org {ORG_ID} ({host})" in output and "SALESFORCE_AUTH=connection" in output

    listed = json.loads(cli(env, tmp_path, "connections", "--json").stdout)
    assert [(r["system"], r["organisation"], r["tenant_id"], r["scopes"], r["state"]) for r in listed] == [
        ("salesforce", host, ORG_ID, "api refresh_token", "active")]
    human = cli(env, tmp_path, "connections").stdout
    assert "salesforce" in human and ORG_ID in human

    # Stored encrypted: the raw table holds no token text.
    with staging.begin() as conn:
        stored = tokens.load(conn, Fernet(key.encode()), "salesforce", ORG_ID)
        raw = repr(conn.execute(sa.text("SELECT * FROM oauth_token")).all())
    assert stored.refresh_token and stored.access_token
    secrets_ = [stored.refresh_token, stored.access_token, server.env["SALESFORCE_CLIENT_SECRET"], key]
    for secret in secrets_:
        assert secret not in raw and secret not in output and secret not in human

    # A second process, with neither password nor key configured, syncs through the stored connection.
    sync_env = {k: v for k, v in env.items() if k not in ("SALESFORCE_USERNAME", "SALESFORCE_PASSWORD")}
    sync_env["SALESFORCE_AUTH"] = "connection"
    used = _use(sync_env, tmp_path)
    assert used.returncode == 0, used.stderr
    count, token_calls = used.stdout.split()
    assert int(count) == len(server.salesforce.records("Account")) and token_calls == "1"
    form = {"grant_type": "refresh_token", "refresh_token": stored.refresh_token,
            "client_id": server.env["SALESFORCE_CLIENT_ID"]}
    http = requests.Session()
    http.trust_env = False
    http.verify = server.env["SFXERO_CA_BUNDLE"]
    assert http.post(server.salesforce_url + "/services/oauth2/token", data=form, timeout=30).status_code == 200

    # The org's admin revokes the app's access (Setup > Connected Apps OAuth Usage): one line, naming the fix.
    assert http.post(server.salesforce_url + "/services/oauth2/revoke", data={"token": stored.refresh_token},
                     timeout=30).status_code == 200
    refused = _use(sync_env, tmp_path)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "sfxero connect salesforce" in refused.stderr and "invalid_grant" in refused.stderr
    assert all(s not in refused.stdout + refused.stderr for s in secrets_)
    state = json.loads(cli(env, tmp_path, "connections", "--json").stdout)[0]
    assert state["state"] == "revoked"
    again = _use(sync_env, tmp_path)  # known revoked: refused at once, without asking Salesforce
    assert again.returncode == 1 and "is revoked" in again.stderr and "sfxero connect salesforce" in again.stderr

    # Connecting again replaces it; disconnect revokes at Salesforce and forgets.
    _connect(env, tmp_path, server)
    with staging.begin() as conn:
        fresh = tokens.load(conn, Fernet(key.encode()), "salesforce", ORG_ID)
    assert fresh.state == tokens.ACTIVE and fresh.refresh_token != stored.refresh_token
    assert _use(sync_env, tmp_path).returncode == 0
    gone = cli(env, tmp_path, "disconnect", "salesforce")
    assert f"Disconnected Salesforce org {ORG_ID} ({host})." in gone.stdout
    assert all(s not in gone.stdout + gone.stderr for s in secrets_ + [fresh.refresh_token])
    form["refresh_token"] = fresh.refresh_token
    assert http.post(server.salesforce_url + "/services/oauth2/token", data=form, timeout=30).json()["error"] == \
        "invalid_grant"
    assert json.loads(cli(env, tmp_path, "connections", "--json").stdout) == []
    missing = _use(sync_env, tmp_path)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "sfxero connect salesforce" in missing.stderr
    unknown = cli(env, tmp_path, "disconnect", "salesforce", check=False)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "sfxero connections" in unknown.stderr

