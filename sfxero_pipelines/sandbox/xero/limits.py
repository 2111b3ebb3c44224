"""Xero's rate limits per tenant: concurrent calls, calls per minute, calls per day, and the app-wide
per-minute limit (one `AppWindow` shared by every tenant's `Limits`). Fixed windows on the emulator clock (Xero's windows are fixed, not sliding).

Settings (the `limits` dict): `per_minute` (60), `per_day` (sandbox default 1,000,000 so benchmarks
fit; tests set Xero's 5000 or less), `concurrent` (5), `app_per_minute` (10,000) and `window_s` (60:
the length of a "minute", shortened in tests so pacing can be checked in seconds).
"""

from __future__ import annotations

import math
import threading

DEFAULTS = {"per_minute": 60, "per_day": 1_000_000, "concurrent": 5, "app_per_minute": 10_000, "window_s": 60.0}


def validated(settings: dict | None) -> dict:
    unknown = set(settings or {}) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown Xero limit setting(s): {', '.join(sorted(unknown))}")
    return {**DEFAULTS, **(settings or {})}


class AppWindow:
    """The app-wide per-minute count, shared by the `Limits` of every tenant the app reaches."""

    def __init__(self, cfg: dict) -> None:
        self.cfg = cfg
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.start: float | None = None
        self.used = 0

    def roll(self, now: float) -> None:
        if self.start is None or now - self.start >= float(self.cfg["window_s"]):
            self.start, self.used = now, 0


class Limits:
    """One tenant's limits. `app` is the app-wide window it shares with other tenants (its own if None)."""

    def __init__(self, clock, settings: dict | None = None, app: AppWindow | None = None) -> None:
        self.cfg = validated(settings)
        self.clock = clock
        self._lock = threading.Lock()
        self._owns_app = app is None
        self.app = app or AppWindow(self.cfg)
        self.reset()

    @property
    def app_used(self) -> int:
        return self.app.used

    def reset(self) -> None:
        self.in_flight = 0
        self._min_start = self._day_start = None
        self.min_used = self.day_used = 0
        if self._owns_app:  # a shared window is reset by its owner (the emulator), once for all tenants
            self.app.reset()

    def _roll(self, now: float) -> None:
        w = float(self.cfg["window_s"])
        if self._min_start is None or now - self._min_start >= w:
            self._min_start, self.min_used = now, 0
        self.app.roll(now)
        if self._day_start is None or now - self._day_start >= 86400:
            self._day_start, self.day_used = now, 0

    def acquire(self) -> tuple[str | None, int | None]:
        """Count one call. Returns (problem, retry_after_s): problem None when allowed."""
        with self._lock, self.app.lock:
            now = self.clock.time()
            self._roll(now)
            if self.day_used >= self.cfg["per_day"]:
                return "day", max(1, math.ceil(self._day_start + 86400 - now))
            if self.app.used >= self.cfg["app_per_minute"]:
                return "appminute", max(1, math.ceil(self.app.start + self.cfg["window_s"] - now))
            if self.min_used >= self.cfg["per_minute"]:
                return "minute", max(1, math.ceil(self._min_start + self.cfg["window_s"] - now))
            if self.in_flight >= self.cfg["concurrent"]:
                return "concurrent", None
            self.in_flight += 1
            self.min_used += 1
            self.day_used += 1
            self.app.used += 1
            return None, None

    def spend(self, calls: int) -> None:
        """Count `calls` against today's budget at once (another app of the organisation spent them): a
        test reaches the end of the day without making thousands of calls."""
        with self._lock, self.app.lock:
            self._roll(self.clock.time())
            self.day_used = min(int(self.cfg["per_day"]), self.day_used + max(0, int(calls)))

    def release(self) -> None:
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)

    def headers(self) -> dict[str, str]:
        with self._lock:
            return {
                "X-DayLimit-Remaining": str(max(0, self.cfg["per_day"] - self.day_used)),
                "X-MinLimit-Remaining": str(max(0, self.cfg["per_minute"] - self.min_used)),
                "X-AppMinLimit-Remaining": str(max(0, self.cfg["app_per_minute"] - self.app.used)),
            }
