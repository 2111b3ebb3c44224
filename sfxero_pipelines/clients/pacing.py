"""`Pacer`: a client-side limiter for one Xero budget (a tenant's, or the app's), kept in this
process's memory or in Redis so that every process and machine calling through the same key shares it.

What it keeps, per key: ≤ `cap` calls started in any `window_s` interval (so any fixed server window of
the same length sees ≤ cap), ≤ `concurrent` calls in flight, and a hold-off until a time (set when the
server says the budget is spent, or answers 429 with Retry-After).

Backends (`pace_store(url)`):
- memory (no URL, the default): one process's clients share it. Right for the single-process set-up
  (`sfxero sync`, `dagster dev`), wrong as soon as two processes call one tenant: each would allow the
  whole budget.
- Redis (`redis://host:6379/0`, `SFXERO_PACING_URL`): the call log, the in-flight set and the hold live
  in Redis under `<namespace><key>:...`; one Lua script decides atomically on Redis's own clock, so
  processes on machines with skewed clocks agree. An in-flight entry is a lease of `lease_s` (the
  request timeout and a margin): a process killed mid-call gives its slot back when the lease ends.

Who chooses the key (the tenant id, or an app-level key) is the caller's business; the Pacer only
paces what shares a key.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from typing import Protocol

from ..errors import ConfigError

DEFAULT_NAMESPACE = "sfxero:pace:"


def cap_for(per_window: int) -> int:
    # Headroom: retries and calls outside sfxero share Xero's minute budget.
    return max(1, per_window - max(1, per_window // 12))


class PaceStore(Protocol):
    def try_take(self, key: str, *, cap: int, window_s: float, concurrent: int, token: str,
                 lease_s: float) -> float:
        """Takes a call slot for `token` (returns 0), or says how long to wait before asking again."""

    def give_back(self, key: str, token: str) -> None:
        """The call of `token` has ended: its in-flight slot is free (its place in the window stays)."""

    def hold(self, key: str, seconds: float) -> None:
        """No call through `key` starts for `seconds` from now."""


class MemoryStore:
    """One process's pacing state (the default)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._in_flight: dict[str, set[str]] = collections.defaultdict(set)
        self._hold_until: dict[str, float] = collections.defaultdict(float)

    def try_take(self, key: str, *, cap: int, window_s: float, concurrent: int, token: str,
                 lease_s: float) -> float:
        with self._lock:
            now, sent = time.monotonic(), self._sent[key]
            while sent and now - sent[0] >= window_s:
                sent.popleft()
            if (wait := self._hold_until[key] - now) > 0:
                return wait
            if len(self._in_flight[key]) >= concurrent:
                return 0.005
            if len(sent) >= cap:
                return sent[0] + window_s - now
            sent.append(now)
            self._in_flight[key].add(token)
            return 0.0

    def give_back(self, key: str, token: str) -> None:
        with self._lock:
            self._in_flight[key].discard(token)

    def hold(self, key: str, seconds: float) -> None:
        with self._lock:
            self._hold_until[key] = max(self._hold_until[key], time.monotonic() + seconds)


# KEYS: sent (zset token → start time), in-flight (zset token → lease end), hold (string: until).
# ARGV: window_s, cap, concurrent, token, lease_s. Returns "0" when taken, else seconds to wait.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window, cap, conc, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local hold = tonumber(redis.call('GET', KEYS[3]) or '0')
if hold > now then return tostring(hold - now) end
if redis.call('ZCARD', KEYS[2]) >= conc then return '0.01' end
if redis.call('ZCARD', KEYS[1]) >= cap then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(math.max(0.001, tonumber(first[2]) + window - now))
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('ZADD', KEYS[2], now + lease, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil((window + 1) * 1000))
redis.call('PEXPIRE', KEYS[2], math.ceil((lease + 1) * 1000))
return '0'
"""
_HOLD = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
local hold = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > hold then redis.call('SET', KEYS[1], tostring(until_), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000) end
return 1
"""


class RedisStore:
    """Pacing state in Redis, shared by every process and machine using the same URL and namespace."""

    def __init__(self, url: str, namespace: str = DEFAULT_NAMESPACE) -> None:
        import redis

        self.namespace = namespace
        self._redis = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
        self._take = self._redis.register_script(_TAKE)
        self._hold = self._redis.register_script(_HOLD)

    def _keys(self, key: str) -> list[str]:
        base = f"{self.namespace}{key}"
        return [f"{base}:sent", f"{base}:in_flight", f"{base}:hold"]

    def try_take(self, key: str, *, cap: int, window_s: float, concurrent: int, token: str,
                 lease_s: float) -> float:
        return float(self._take(keys=self._keys(key), args=[window_s, cap, concurrent, token, lease_s]))

    def give_back(self, key: str, token: str) -> None:
        self._redis.zrem(self._keys(key)[1], token)

    def hold(self, key: str, seconds: float) -> None:
        self._hold(keys=self._keys(key)[2:], args=[seconds])


_MEMORY = MemoryStore()
_stores: dict[tuple[str, str], RedisStore] = {}
_stores_lock = threading.Lock()


def pace_store(url: str | None, namespace: str | None = None) -> PaceStore:
    """The store for `url`: this process's memory when None or empty, Redis for `redis://`/`rediss://`
    (one connection pool per URL and namespace in a process)."""
    if not url:
        return _MEMORY
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("SFXERO_PACING_URL", "must be a redis:// URL (or unset: pacing in this process's memory)")
    with _stores_lock:
        ident = (url, namespace or DEFAULT_NAMESPACE)
        if ident not in _stores:
            _stores[ident] = RedisStore(url, ident[1])
        return _stores[ident]


class Pacer:
    """Paces calls through one budget `key` in `store` (see the module doc); `waited_s` sums the time
    this Pacer spent waiting. Each Pacer instance owns its in-flight tokens."""

    def __init__(self, per_window: int, window_s: float, concurrent: int, *, key: str = "default",
                 store: PaceStore | None = None, lease_s: float = 120.0) -> None:
        self.cap = cap_for(per_window)
        self.window_s = window_s
        self.concurrent = max(1, concurrent)
        self.key = key
        self.store = store or MemoryStore()
        self.lease_s = lease_s
        self.waited_s = 0.0
        self._mine = threading.local()

    def acquire(self) -> None:
        token = uuid.uuid4().hex
        while (wait := self.store.try_take(self.key, cap=self.cap, window_s=self.window_s,
                                           concurrent=self.concurrent, token=token, lease_s=self.lease_s)) > 0:
            self.waited_s += wait
            time.sleep(max(0.005, wait))
        self._mine.token = token

    def release(self) -> None:
        token = getattr(self._mine, "token", None)
        if token is not None:
            self._mine.token = None
            self.store.give_back(self.key, token)

    def hold(self, seconds: float) -> None:
        self.store.hold(self.key, seconds)
