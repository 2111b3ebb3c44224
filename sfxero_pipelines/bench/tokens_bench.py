"""`sfxero bench tokens`: 8 processes share one stored Xero connection whose access token lives 2 s.

Each process makes 50 authenticated calls (GET Currencies) through `XeroResource`, as assets in
parallel runs would. The connection is made first by the real consent flow (sandbox auto-consent,
PKCE). Reported beside docs/architecture.md §9's keys: `processes`, `token_calls` (token endpoint requests seen by
the sandbox), `rotations` (recorded in `oauth_token`), `expiries` (access-token lifetimes the run
spans: the rotations single-flight refresh allows, against `processes` x that without it),
`invalid_grant` (must be 0), `failed_calls` (must be 0).
The floor: the same calls from 8 threads with bare `requests`, each renewing a client-credentials token
when the sandbox answers 401 (no store, no lock, nothing shared).
`--size` is not used: the shape is fixed by what it measures.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography.fernet import Fernet

from ..clients import xero_oauth
from ..settings import display_url, engine_for
from ..staging.migrations import migrate
from ..staging.state import tokens
from .harness import LIFTED_XERO_LIMITS, api_calls, bench_database, peak_rss_mb, sandbox_process, sandbox_session, \
    sandbox_stats

PROCESSES = 8
CALLS_PER_PROCESS = 50
TOKEN_TTL_S = 2
# Each call takes at least this long, so 50 calls span several token lifetimes (the point of the bench).
LATENCY_MS = 30


def run_tokens_bench(size: int, staging_url: str | None) -> dict:
    faults = f"token_ttl_s={TOKEN_TTL_S},latency_ms={LATENCY_MS}"
    with sandbox_process("small", xero_limits=LIFTED_XERO_LIMITS, faults=faults, auto_consent=True) as env, bench_database(staging_url) as url:
        return _run(env, url)


def connect_by_consent(env: dict[str, str], staging_url: str, key: bytes) -> str:
    """The consent flow as `sfxero connect xero` runs it (auto-consent stands in for the click)."""
    session = sandbox_session(env)
    verifier, challenge = xero_oauth.pkce_pair()
    redirect = "http://127.0.0.1:9/callback"  # never fetched: the code is read from the redirect itself
    url = xero_oauth.authorize_url(env["XERO_LOGIN_URL"], client_id=env["XERO_CLIENT_ID"], redirect_uri=redirect,
                                   scopes=xero_oauth.DEFAULT_SCOPES, state="bench", challenge=challenge)
    answer = session.get(url, allow_redirects=False, timeout=30)
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    pair = xero_oauth.exchange_code(env["XERO_IDENTITY_URL"], client_id=env["XERO_CLIENT_ID"],
                                    client_secret=env["XERO_CLIENT_SECRET"], code=code, redirect_uri=redirect,
                                    verifier=verifier, verify=env["SFXERO_CA_BUNDLE"])
    tenant = xero_oauth.granted_connections(env["XERO_IDENTITY_URL"] + "/connections", pair["access_token"],
                                            verify=env["SFXERO_CA_BUNDLE"])[0]
    engine = engine_for(staging_url)
    migrate(engine)
    with engine.begin() as conn:
        tokens.save_connection(conn, Fernet(key), system="xero", tenant_id=tenant["tenantId"],
                               tenant_name=tenant["tenantName"], scopes=pair["scope"],
                               refresh_token=pair["refresh_token"], access_token=pair["access_token"],
                               access_expires_at=dt.datetime.now(dt.timezone.utc)
                               + dt.timedelta(seconds=pair["expires_in"]), grant_id=tenant.get("authEventId"),
                               connection_id=tenant.get("id"))
    engine.dispose()
    return tenant["tenantId"]


def _workers(env: dict[str, str], staging_url: str, key: bytes) -> tuple[float, list[dict]]:
    workdir = Path(tempfile.mkdtemp(prefix="sfxero-bench-tokens-"))
    go = workdir / "go"
    child_env = {**os.environ, **env, "SFXERO_STAGING_URL": staging_url, "SFXERO_SECRET_KEY": key.decode(),
                 "BENCH_GO": str(go), "BENCH_CALLS": str(CALLS_PER_PROCESS)}
    child_env.pop("XERO_TENANT_ID", None)  # the stored connection names the organisation
    procs = [subprocess.Popen([sys.executable, "-m", "sfxero_pipelines.bench.tokens_worker"], env=child_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(PROCESSES)]
    deadline = time.monotonic() + 300
    while len(list(workdir.glob("ready.*"))) < PROCESSES:  # imports done, all waiting on the start file
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    started = time.time()
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        lines = out.strip().splitlines()
        results.append(json.loads(lines[-1]) if proc.returncode == 0 and lines else
                       {"ok": 0, "failed": CALLS_PER_PROCESS, "invalid_grant": 0, "token_calls": 0,
                        "errors": [err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"]})
    seconds = max(r.get("finished_at", time.time()) for r in results) - started
    shutil.rmtree(workdir, ignore_errors=True)
    return seconds, results


def _floor(env: dict[str, str]) -> float:
    """Bare requests, 8 threads x 50 calls, each renewing its own client-credentials token on 401."""
    def work() -> None:
        session = sandbox_session(env)
        token = None
        done = 0
        while done < CALLS_PER_PROCESS:
            if token is None:
                token = session.post(f"{env['XERO_IDENTITY_URL']}/connect/token", timeout=30,
                                     data={"grant_type": "client_credentials"},
                                     auth=(env["XERO_CLIENT_ID"], env["XERO_CLIENT_SECRET"])).json()["access_token"]
            answer = session.get(f"{env['XERO_API_URL']}/Currencies", timeout=30,
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                                          "xero-tenant-id": env["XERO_TENANT_ID"]})
            if answer.status_code == 401:
                token = None
                continue
            answer.raise_for_status()
            done += 1
        session.close()

    threads = [threading.Thread(target=work) for _ in range(PROCESSES)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def _run(env: dict[str, str], staging_url: str) -> dict:
    key = Fernet.generate_key()
    tenant_id = connect_by_consent(env, staging_url, key)
    sandbox_stats(env, "xero", reset=True)
    seconds, results = _workers(env, staging_url, key)
    stats = sandbox_stats(env, "xero")
    engine = engine_for(staging_url)
    with engine.connect() as conn:
        row = tokens.load(conn, Fernet(key), "xero", tenant_id)
    engine.dispose()
    floor = _floor(env)
    # A token is handed out until a quarter of its life is left (xero_tokens.usable_seconds); the one
    # stored at connect time is stale when the workers start, so the run needs one token per usable
    # lifetime it spans, the first included.
    expiries = math.floor(seconds / (TOKEN_TTL_S * 0.75)) + 1
    children_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "bench": "tokens",
        "records": sum(r["ok"] for r in results),
        "seconds": round(seconds, 3),
        "api_calls": {"salesforce": 0, "xero": api_calls(stats)},
        "floor_seconds": round(floor, 3),
        "ratio_to_floor": round(seconds / floor, 2) if floor else None,
        "peak_rss_mb": round(max(peak_rss_mb(), children_rss), 1),
        "staging": display_url(staging_url).split("://")[0],
        "processes": PROCESSES,
        "calls_per_process": CALLS_PER_PROCESS,
        "token_ttl_s": TOKEN_TTL_S,
        "token_calls": stats.get("requests", {}).get("POST /connect/token", 0),
        "rotations": row.rotations if row else None,
        "expiries": expiries,
        "invalid_grant": sum(r["invalid_grant"] for r in results),
        "failed_calls": sum(r["failed"] for r in results),
        "errors": [e for r in results for e in r["errors"]][:3],
        "worker_seconds": [r.get("seconds") for r in results],
    }
