"""Single-flight refresh of a stored Xero connection, over real HTTPS to the sandbox, on SQLite and
the real PostgreSQL, with real separate processes: one rotation however many need a token, survival
of a kill -9 between Xero's answer and the commit, and invalid_grant as one line naming the fix."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

from sfxero_pipelines import errors
from sfxero_pipelines.clients.xero_tokens import StoredTokenProvider
from sfxero_pipelines.staging.state import tokens
from sfxero_tests.conftest import sandbox_call
from sfxero_tests.xero.conftest import resource_for

from .stored import store_connection

REPO = Path(__file__).resolve().parents[2]


def _env(server, staging, key: bytes, **extra) -> dict[str, str]:
    return {**os.environ, **server.env, "SFXERO_STAGING_URL": staging.url, "SFXERO_SECRET_KEY": key.decode(),
            "PYTHONPATH": str(REPO), **extra}


def _token_requests(server) -> int:
    return sandbox_call(server, "xero", "GET", "/__sandbox/stats")["requests"].get("POST /connect/token", 0)


def _provider(server, staging, key: bytes) -> StoredTokenProvider:
    env = server.env
    return StoredTokenProvider(engine=staging.engine, cipher=Fernet(key), identity_url=env["XERO_IDENTITY_URL"],
                               client_id=env["XERO_CLIENT_ID"], client_secret=env["XERO_CLIENT_SECRET"],
                               tenant_id=env["XERO_TENANT_ID"], verify=env["SFXERO_CA_BUNDLE"])


def test_refresh_rotates_encrypted_and_another_process_reuses_it(staging, make_sandbox, monkeypatch):
    server = make_sandbox()
    key = Fernet.generate_key()
    monkeypatch.setenv("SFXERO_SECRET_KEY", key.decode())
    first_refresh = store_connection(staging, server, key)
    resource = resource_for(server, tenant_id=None, staging_url=staging.url, per_minute_limit=1_000_000)
    with resource.get_client() as client:
        assert client.get_all("Currencies")
        assert client.api_calls["token"] == 1 and client.tenant_id == server.env["XERO_TENANT_ID"]
    with staging.begin() as conn:
        row = tokens.load(conn, Fernet(key), "xero", server.env["XERO_TENANT_ID"])
        raw = repr(conn.execute(sa.text("SELECT * FROM oauth_token")).all())
    assert row.rotations == 1 and row.refresh_token != first_refresh
    for secret in (row.refresh_token, row.access_token, first_refresh, key.decode(), server.env["XERO_CLIENT_SECRET"]):
        assert secret not in raw
    # Another process (another run's asset) uses the stored token: no token request at all.
    out = subprocess.run([sys.executable, "-m", "sfxero_tests.tokens.worker", "token"], capture_output=True, text=True,
                         timeout=120, env=_env(server, staging, key, WORKER_GO=__file__), check=True)
    assert '"token_calls": 0' in out.stdout
    assert hashlib.sha256(row.access_token.encode()).hexdigest() in out.stdout
    # Xero says the token expired (its clock ran ahead): the 401 makes exactly one rotation, then it works.
    sandbox_call(server, "xero", "POST", "/__sandbox/clock", {"advance_s": 1900})
    with resource.get_client() as client:
        assert client.get_all("Currencies")
        assert client.api_calls["token"] == 1
    with staging.begin() as conn:
        assert tokens.load(conn, Fernet(key), "xero", server.env["XERO_TENANT_ID"]).rotations == 2


def test_eight_processes_needing_a_token_cause_one_rotation(staging, make_sandbox, tmp_path):
    server = make_sandbox()
    key = Fernet.generate_key()
    store_connection(staging, server, key)
    go = tmp_path / "go"
    env = _env(server, staging, key, WORKER_GO=str(go))
    workers = [subprocess.Popen([sys.executable, "-m", "sfxero_tests.tokens.worker", "token"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)]
    time.sleep(3)  # let all eight import and wait on the start line
    go.touch()
    outputs = [w.communicate(timeout=120) for w in workers]
    assert all(w.returncode == 0 for w in workers), [e[-500:] for _, e in outputs]
    digests = {line.split('"digest": ')[1] for out, _ in outputs for line in out.splitlines()}
    calls = sum(int(out.split('"token_calls": ')[1].split(",")[0]) for out, _ in outputs)
    assert len(digests) == 1 and calls == 1 and _token_requests(server) == 1
    with staging.begin() as conn:
        assert tokens.load(conn, Fernet(key), "xero", server.env["XERO_TENANT_ID"]).rotations == 1


def test_kill_9_between_token_answer_and_commit_is_survived(staging, make_sandbox, tmp_path):
    server = make_sandbox()
    key = Fernet.generate_key()
    stored_refresh = store_connection(staging, server, key)
    mark = tmp_path / "answered"
    proc = subprocess.Popen([sys.executable, "-m", "sfxero_tests.tokens.worker", "crash"],
                            env=_env(server, staging, key, WORKER_MARK=str(mark)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not mark.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-1000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and _token_requests(server) == 1
    with staging.begin() as conn:  # the rotation Xero made was never committed
        row = tokens.load(conn, Fernet(key), "xero", server.env["XERO_TENANT_ID"])
    assert row.refresh_token == stored_refresh and row.access_token is None
    # The next process refreshes with the stored (now previous) token inside Xero's grace, and works.
    provider = _provider(server, staging, key)
    access, left, _scopes = provider.access_token()
    assert left > 0 and provider.rotations == 1 and _token_requests(server) == 2
    answer = requests.get(server.env["XERO_API_URL"] + "/Currencies", verify=server.env["SFXERO_CA_BUNDLE"],
                          headers={"Authorization": f"Bearer {access}", "xero-tenant-id": server.env["XERO_TENANT_ID"],
                                   "Accept": "application/json"}, timeout=30)
    assert answer.status_code == 200


def test_invalid_grant_marks_the_connection_and_fails_once_in_one_line(staging, make_sandbox):
    server = make_sandbox()
    key = Fernet.generate_key()
    stored = store_connection(staging, server, key)
    env = server.env
    # Someone else spent the stored token twice: it is now two generations old, i.e. dead.
    for _ in range(2):
        answer = requests.post(env["XERO_IDENTITY_URL"] + "/connect/token", verify=env["SFXERO_CA_BUNDLE"],
                               data={"grant_type": "refresh_token", "refresh_token": stored},
                               auth=(env["XERO_CLIENT_ID"], env["XERO_CLIENT_SECRET"]), timeout=30)
        stored = answer.json()["refresh_token"]
    before = _token_requests(server)
    provider = _provider(server, staging, key)
    with pytest.raises(errors.AuthError) as err:
        provider.access_token()
    message = str(err.value)
    assert "sfxero connect xero" in message and "\n" not in message and "revoked" in message
    assert env["XERO_CLIENT_SECRET"] not in message and key.decode() not in message
    assert _token_requests(server) == before + 1
    # Marked: the next caller fails at once, without spending another token request.
    with pytest.raises(errors.AuthError, match="sfxero connect xero"):
        _provider(server, staging, key).access_token()
    assert _token_requests(server) == before + 1
    with staging.begin() as conn:
        row = tokens.list_connections(conn, "xero")[0]
    assert row.state == tokens.REVOKED and row.refreshed_at <= dt.datetime.now(dt.timezone.utc)


def test_xero_refresh_token_seeds_the_store_once_then_the_rotated_one_is_used(staging, make_sandbox, monkeypatch):
    server = make_sandbox()
    key = Fernet.generate_key()
    monkeypatch.setenv("SFXERO_SECRET_KEY", key.decode())
    seed = server.xero.issue_refresh_token()
    resource = resource_for(server, refresh_token=seed, staging_url=staging.url, per_minute_limit=1_000_000)
    with resource.get_client() as client:
        assert client.get_all("Currencies") and client.api_calls["token"] == 1
    with staging.begin() as conn:
        row = tokens.load(conn, Fernet(key), "xero", server.env["XERO_TENANT_ID"])
    assert row.rotations == 1 and row.refresh_token != seed
    # The same (now rotated-away) variable again: the store wins, its fresh access token is reused.
    with resource.get_client() as client:
        assert client.get_all("Currencies") and client.api_calls["token"] == 0
