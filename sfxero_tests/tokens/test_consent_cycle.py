"""The default path as `make run` takes it, over real HTTPS to the sandbox (`--auto-consent`): `sfxero
connect xero --headless` goes through the real consent flow (PKCE, loopback redirect) into the token
store, then `sfxero sync --stage all` runs a whole cycle on a real on-disk Dagster instance through the
stored connection.

- A cycle asks Xero's token endpoint at most once per tenant (the stored access token is shared by every
  asset and run), not once per asset. (Salesforce's count is the Salesforce client's: reported by
  `sfxero bench e2e` as `token_calls`, not asserted here.)
- With 5-second access tokens the cycle spans several expiries (the lighter cycle can finish inside 20 s), so the stored pair is rotated; then no
  secret (either client secret, the webhook key, the store key, any access or refresh token the sandbox
  minted: matched by their shape, so rotated-away ones count too) appears in what the commands printed,
  in the Dagster instance's files (run storage, event logs, compute logs), or in the staging database
  (raw SQLite files, or `pg_dump`) other than encrypted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from sfxero_pipelines.sandbox.salesforce.auth import ORG_ID
from sfxero_pipelines.staging.state import tokens
from sfxero_tests.conftest import sandbox_call

REPO = Path(__file__).resolve().parents[2]
TOKEN_PATHS = {"sf": "POST /services/oauth2/token", "xero": "POST /connect/token"}
#: Every token the emulators mint has one of these shapes (sandbox/xero/identity.py, sandbox/salesforce/auth.py).
MINTED = re.compile(r"xsbx_(?:at|rt)_[A-Za-z0-9_-]{16}|" + re.escape(ORG_ID[:15] + "!") + r"[A-Za-z0-9_-]{16}")


def cli(env: dict, cwd: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sfxero_pipelines.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def token_requests(server) -> dict[str, int]:
    return {system: sandbox_call(server, system, "GET", "/__sandbox/stats")["requests"].get(path, 0)
            for system, path in TOKEN_PATHS.items()}


def consent_then_cycle(server, staging_url: str, workdir: Path, key: bytes):
    """`sfxero connect xero --headless`, then `sfxero sync --stage all`, as `make run` runs them. Returns the
    two finished commands and the token requests each emulator saw during the cycle."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XERO_", "SALESFORCE_"))}
    env.update(server.env, SFXERO_STAGING_URL=staging_url, DAGSTER_HOME=str(workdir / "dagster_home"),
               SFXERO_SECRET_KEY=key.decode(), PYTHONPATH=str(REPO))
    connected = cli(env, workdir, "connect", "xero", "--headless", "--port", "0", timeout=180)
    assert connected.returncode == 0, connected.stderr[-2000:]
    assert f"(tenant {server.env['XERO_TENANT_ID']})" in connected.stdout
    before = token_requests(server)
    synced = cli(env, workdir, "sync", "--stage", "all")
    # 1: finished with held records (the seeded world holds a few on purpose); anything else is a failure.
    assert synced.returncode in (0, 1) and "FAILED" not in synced.stdout, (synced.stdout + synced.stderr)[-3000:]
    after = token_requests(server)
    return connected, synced, {s: after[s] - before[s] for s in after}


def stored(staging_url: str, key: bytes, tenant: str) -> tokens.StoredConnection:
    engine = sa.create_engine(staging_url)
    with engine.connect() as conn:
        row = tokens.load(conn, Fernet(key), "xero", tenant)
    engine.dispose()
    return row


def test_a_cycle_asks_xero_for_at_most_one_token_per_tenant(make_sandbox, sqlite_staging, tmp_path):
    server = make_sandbox(size="small", seed=42, auto_consent=True)
    key = Fernet.generate_key()
    _, synced, calls = consent_then_cycle(server, sqlite_staging.url, tmp_path, key)
    assert calls["xero"] <= 1, calls
    row = stored(sqlite_staging.url, key, server.env["XERO_TENANT_ID"])
    assert row.state == tokens.ACTIVE and row.last_used_at is not None  # the cycle went through the store


def test_no_secret_reaches_logs_runs_staging_or_output_across_a_rotation(make_sandbox, staging, tmp_path):
    server = make_sandbox(size="small", seed=42, auto_consent=True, faults="token_ttl_s=5")
    key = Fernet.generate_key()
    connected, synced, calls = consent_then_cycle(server, staging.url, tmp_path, key)
    row = stored(staging.url, key, server.env["XERO_TENANT_ID"])
    assert row.rotations >= 1 and calls["xero"] >= 1, (row.rotations, calls)  # the cycle did rotate

    env = server.env
    sf_token = requests.post(env["SALESFORCE_LOGIN_URL"] + "/services/oauth2/token", verify=env["SFXERO_CA_BUNDLE"],
                             data={"grant_type": "client_credentials", "client_id": env["SALESFORCE_CLIENT_ID"],
                                   "client_secret": env["SALESFORCE_CLIENT_SECRET"]}, timeout=30).json()
    # The shapes searched for are the shapes minted (else the search below could find nothing by construction).
    assert all(MINTED.match(t) for t in (row.refresh_token, row.access_token, sf_token["access_token"]))
    literal = [env["XERO_CLIENT_SECRET"], env["SALESFORCE_CLIENT_SECRET"], key.decode(), row.refresh_token,
               row.access_token, *([env["XERO_WEBHOOK_KEY"]] if env.get("XERO_WEBHOOK_KEY") else [])]
    places: dict[str, bytes] = {
        "connect output": (connected.stdout + connected.stderr).encode(),
        "sync output": (synced.stdout + synced.stderr).encode(),
    }
    home = tmp_path / "dagster_home"
    files = [p for p in home.rglob("*") if p.is_file()]
    names = {p.relative_to(home).as_posix() for p in files}
    # The run storage and the per-run event logs are there to be searched (and the compute logs, if any).
    assert "history/runs.db" in names and any(n.startswith("history/runs/") for n in names), sorted(names)[:20]
    places.update({f"dagster_home/{p.relative_to(home)}": p.read_bytes() for p in files})
    url = make_url(staging.url)
    if url.drivername.startswith("sqlite"):
        db = Path(url.database)
        places.update({f"staging {p.name}": p.read_bytes() for p in db.parent.glob(db.name + "*")})
        assert b"oauth_token" in places[f"staging {db.name}"]
    else:
        dump = subprocess.run(["pg_dump", url.set(drivername="postgresql").render_as_string(hide_password=False)],
                              capture_output=True, timeout=300, check=True)
        places["staging pg_dump"] = dump.stdout
        assert b"COPY public.oauth_token" in dump.stdout
    leaks = []
    for where, data in places.items():
        text = data.decode("utf-8", "replace")
        leaks += [f"{where}: secret #{i}" for i, s in enumerate(literal) if s and s in text]
        leaks += [f"{where}: minted token {m.group(0)[:12]}…" for m in MINTED.finditer(text)]
    assert not leaks, leaks[:20]


@pytest.fixture(autouse=True)
def _no_sandbox_env_file(tmp_path, monkeypatch):
    # The commands run in tmp_path: a `.sfxero/` there (key file, sandbox.env) belongs to this test alone.
    monkeypatch.chdir(tmp_path)


def test_headless_consent_refuses_a_page_that_needs_a_person(sandbox, tmp_path):
    """A consent page that shows its form (no --auto-consent, or the real login.xero.com) is one line, not a hang."""
    env = {**os.environ, **sandbox.env, "SFXERO_STAGING_URL": f"sqlite:///{tmp_path / 's.db'}",
           "SFXERO_SECRET_KEY": Fernet.generate_key().decode(), "PYTHONPATH": str(REPO)}
    out = cli(env, tmp_path, "connect", "xero", "--headless", "--port", "0", timeout=120)
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr[-2000:]
    assert "needs a person (run without --headless)" in out.stderr and "--auto-consent" in out.stderr
    assert sandbox.env["XERO_CLIENT_SECRET"] not in out.stdout + out.stderr
