"""A settable clock shared by an emulator's timestamps, token expiry and rate-limit windows.

Tests advance it (POST /__sandbox/clock) instead of sleeping, e.g. to expire a token or roll a
rate-limit minute.
"""

from __future__ import annotations

import datetime as dt
import threading
import time


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        """Seconds since the epoch, including any advance."""
        return time.time() + self._offset

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time(), tz=dt.timezone.utc)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds
