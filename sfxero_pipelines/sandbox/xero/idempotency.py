"""`Idempotency-Key` replay as Xero documents it: for POST/PUT, the response to a key is kept for
6 minutes; the same key with the same request returns that response again (errors included)
without doing the work twice; the same key with a different request is a 400.
"""

from __future__ import annotations

import hashlib
import threading

TTL_S = 360
MAX_KEY_LEN = 128


class IdempotencyStore:
    def __init__(self, clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, str, int, bytes, str]] = {}
        self.replays = 0

    @staticmethod
    def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
        return hashlib.sha256(b"\n".join([method.encode(), path.lower().encode(), query.encode(), body])).hexdigest()

    def lookup(self, key: str, fingerprint: str):
        """None (new key), ("replay", status, body, media_type) or ("mismatch",)."""
        with self._lock:
            now = self.clock.time()
            for k in [k for k, v in self._entries.items() if v[0] < now]:
                del self._entries[k]
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] != fingerprint:
                return ("mismatch",)
            self.replays += 1
            return ("replay", entry[2], entry[3], entry[4])

    def store(self, key: str, fingerprint: str, status: int, body: bytes, media_type: str) -> None:
        with self._lock:
            self._entries[key] = (self.clock.time() + TTL_S, fingerprint, status, body, media_type)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
