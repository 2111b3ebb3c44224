"""Benchmark plumbing: a sandbox in a separate process, peak memory, and the docs/architecture.md §9 JSON line.

The sandbox runs in its own process so its memory is not counted as ours and the loader and the
emulator do not share one interpreter lock (as in production, where they share nothing).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ..settings import load_env_file
from ..tenant_env import environment_applied


def stop_process_group(proc: subprocess.Popen) -> None:
    """SIGTERM to a child started with `start_new_session=True` and everything it started (a daemon's
    code server and run workers); SIGKILL after a minute without exiting."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def sandbox_process(size: int | str, *, seed: int = 42, xero_limits: dict | None = None,
                    startup_timeout_s: float = 900, faults: str = "",
                    auto_consent: bool = False) -> Iterator[dict[str, str]]:
    """Start `python -m sfxero_pipelines.sandbox` and yield its env once both emulators answer."""
    workdir = Path(tempfile.mkdtemp(prefix="sfxero-bench-"))
    env_file = workdir / "sandbox.env"
    cmd = [sys.executable, "-m", "sfxero_pipelines.sandbox", "--size", str(size), "--seed", str(seed),
           "--env-file", str(env_file), "--state-dir", str(workdir / "state")]
    if xero_limits:
        cmd += ["--xero-limits", json.dumps(xero_limits)]
    if faults:
        cmd += ["--faults", faults]
    if auto_consent:
        cmd.append("--auto-consent")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not env_file.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"sandbox exited: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("sandbox did not start in time")
            time.sleep(0.2)
        env = load_env_file(env_file, environ={})
        yield env
    finally:
        proc.terminate()
        try:
            # A graceful stop waits for the clients' idle keep-alive connections (a pooled one may
            # outlive its client until garbage collection); the emulator has nothing to save.
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def bench_database(staging_url: str | None) -> Iterator[str]:
    """A staging database for one bench run, removed afterwards: a temporary SQLite file by default
    (or for a SQLite URL), else a new database on the given PostgreSQL server."""
    if not staging_url or staging_url.startswith("sqlite"):
        workdir = Path(tempfile.mkdtemp(prefix="sfxero-bench-db-"))
        try:
            yield f"sqlite:///{workdir / 'staging.db'}"
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return
    url = make_url(staging_url)
    name = f"sfxero_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


#: Emulator and client Xero limits for benches that measure loading, not pacing.
LIFTED_XERO_LIMITS = {"per_minute": 1_000_000, "app_per_minute": 1_000_000, "per_day": 100_000_000, "concurrent": 50}
TOKEN_PATHS = ("/services/oauth2/token", "/connect/token")


def api_calls(stats: dict) -> int:
    """API requests an emulator counted (`sandbox_stats`), token requests excluded (as in every bench)."""
    return sum(n for key, n in stats.get("requests", {}).items() if not key.endswith(TOKEN_PATHS))


def sandbox_session(env: dict[str, str]) -> requests.Session:
    """A bare `requests` session that trusts the sandbox's CA: what the benches' floors fetch with."""
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override session.verify
    session.verify = env["SFXERO_CA_BUNDLE"]
    return session


def sandbox_stats(env: dict[str, str], system: str, reset: bool = False) -> dict:
    base = env["SALESFORCE_LOGIN_URL"] if system == "sf" else env["XERO_IDENTITY_URL"]
    url = f"{base}/__sandbox/stats"
    response = requests.request("DELETE" if reset else "GET", url, verify=env["SFXERO_CA_BUNDLE"], timeout=30)
    response.raise_for_status()
    return {} if reset else response.json()


#: Variables set for a block (a bench's sandbox and staging settings) and put back afterwards.
environ = environment_applied


def emit(result: dict, as_json: bool) -> None:
    if not as_json:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    # docs/architecture.md §9: one JSON object on the last line.
    print(json.dumps(result, default=str))
