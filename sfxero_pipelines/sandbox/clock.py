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
        self._frozen_at: float | None = None
        self._lock = threading.Lock()

    def time(self) -> float:
        """Seconds since the epoch, including any advance (or the frozen instant)."""
        if self._frozen_at is not None:
            return self._frozen_at + self._offset
        return time.time() + self._offset

    def freeze(self, frozen: bool = True) -> None:
        """Stop (or restart) the clock, e.g. to make several writes land in the same second."""
        with self._lock:
            if frozen and self._frozen_at is None:
                self._frozen_at = time.time()
            elif not frozen and self._frozen_at is not None:
                self._offset += self._frozen_at - time.time()
                self._frozen_at = None

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time(), tz=dt.timezone.utc)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds
