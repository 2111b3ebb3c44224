"""One Xero budget shared across processes: three processes calling one tenant through the Redis pacing
store never exceed the per-minute limit as the emulator counts it, and no 429 reaches any of them;
the same three pacing in their own memory do collect 429s (so the first half could fail).

The emulator's "minute" is 2 s here (and the clients' `limit_window_s` with it), with Xero's 60 calls
a window; each process makes 40 calls as fast as its pacer lets it, after all three are ready. The
Redis keys live under a namespace of this test's own (Redis is shared with other users).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from sfxero_pipelines.clients.pacing import Pacer, RedisStore

WINDOW_S, PER_WINDOW, CALLS, PROCESSES = 2.0, 60, 40, 3
REDIS_URL = os.environ.get("SFXERO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, os, sys, time
from pathlib import Path
from sfxero_pipelines.defs.xero.resources import xero_resource_from_env
go, calls, window = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
# "shared" paces through SFXERO_PACING_URL (Redis), "separate" in the process's own memory. Both
# clients get their token first, so that nothing but the races' calls reaches the emulator after.
clients = {race: xero_resource_from_env(per_minute_limit=60, limit_window_s=window, concurrent_limit=5,
                                        backoff_initial_s=0.05, **pacing).get_client()
           for race, pacing in (("shared", {}), ("separate", {"pacing_url": None}))}
for client in clients.values():
    client.get_all("Currencies")
for race, client in clients.items():
    print("ready", flush=True)
    while not go.with_name(go.name + race).exists():
        time.sleep(0.01)
    for _ in range(calls):
        client.get_all("Currencies")
    print(json.dumps({"attempts": client.api_calls["GET Currencies"] - 1}), flush=True)
    client.close()
"""


class Racers:
    """Three processes calling one tenant; `race(name)` starts one race at once in all three and
    returns each one's attempts (a 429 retried counts twice)."""

    def __init__(self, server, tmp_path: Path, namespace: str) -> None:
        self.go = tmp_path / "go-"
        env = {**os.environ, **server.env, "SFXERO_PACING_URL": REDIS_URL, "SFXERO_PACING_NAMESPACE": namespace,
               "PYTHONPATH": str(ROOT), "SFXERO_STAGING_URL": f"sqlite:///{tmp_path / 'staging.db'}"}
        self.procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(self.go), str(CALLS), str(WINDOW_S)],
                                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                      for _ in range(PROCESSES)]

    def _line(self, proc) -> str:
        line = proc.stdout.readline().strip()
        if not line:
            proc.wait(timeout=30)
            raise AssertionError(proc.stderr.read()[-2000:])
        return line

    def race(self, name: str, seen: list) -> list[int]:
        for proc in self.procs:
            assert self._line(proc) == "ready"
        seen.clear()
        self.go.with_name(self.go.name + name).touch()
        return [json.loads(self._line(proc))["attempts"] for proc in self.procs]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def _forget(namespace: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{namespace}*"):
        client.delete(key)
    client.close()


def _busiest_window(times: list[float]) -> int:
    """The most answered calls in any WINDOW_S interval, as the emulator saw them."""
    times = sorted(times)
    best, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= WINDOW_S:
            first += 1
        best = max(best, last - first + 1)
    return best


@pytest.mark.slow
def test_three_processes_share_one_tenant_budget_through_redis(xero_sandbox, tmp_path):
    server = xero_sandbox(xero_limits={"per_minute": PER_WINDOW, "window_s": WINDOW_S, "concurrent": 5})
    seen: list[tuple[float, int]] = []
    server.xero.response_hooks.append(lambda method, path, query, status, *rest: seen.append((time.monotonic(), status))
                                      if path.endswith("/Currencies") else None)
    namespace = f"sfxero-test:{uuid.uuid4().hex}:"
    racers = Racers(server, tmp_path, namespace)
    try:
        shared = racers.race("shared", seen)
        answered = [t for t, status in seen if status == 200]
        assert [s for _, s in seen if s == 429] == [], "a 429 reached a client through the shared pacer"
        assert shared == [CALLS] * PROCESSES  # no call was retried
        assert len(answered) == CALLS * PROCESSES
        assert _busiest_window(answered) <= PER_WINDOW, _busiest_window(answered)
        # 120 calls at ≤ 55 a window take more than two windows: the processes did wait for each other.
        assert max(answered) - min(answered) >= 2 * WINDOW_S * 0.9

        separate = racers.race("separate", seen)
        assert any(s == 429 for _, s in seen) and sum(separate) > CALLS * PROCESSES, (
            "three in-memory pacers should have overrun the shared budget (else the race above proves nothing)")
    finally:
        racers.close()
        _forget(namespace)


def test_redis_pacer_holds_concurrency_and_gives_a_dead_callers_slot_back():
    namespace = f"sfxero-test:{uuid.uuid4().hex}:"
    store = RedisStore(REDIS_URL, namespace)
    first = Pacer(600, 60.0, 1, key="tenant-a", store=store, lease_s=1.0)
    second = Pacer(600, 60.0, 1, key="tenant-a", store=store, lease_s=1.0)
    other = Pacer(600, 60.0, 1, key="tenant-b", store=store, lease_s=1.0)
    try:
        first.acquire()  # never released: its process "died" mid-call
        other.acquire()  # another tenant's budget is its own
        other.release()
        started = time.monotonic()
        second.acquire()  # waits for the lease of the dead call to end
        assert 0.8 <= time.monotonic() - started < 5
        second.release()
        second.hold(0.5)
        started = time.monotonic()
        other.acquire()
        other.release()
        assert time.monotonic() - started < 0.3  # a hold is per key
        second.acquire()
        assert time.monotonic() - started >= 0.4
        second.release()
    finally:
        _forget(namespace)
