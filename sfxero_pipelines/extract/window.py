"""Which slice of the source one extract run reads.

A daily partition is a window on the source's modified timestamp. Two cases:
- a past window (a backfill, or rematerializing one failed day) reads exactly [start, end), and
  never moves the incremental cursor;
- a range that reaches the present is the incremental sync: it reads from the saved cursor minus a
  lookback (or from the window start if that is earlier) with no upper bound, and advances the cursor.
  With no cursor yet it is the initial full load: no lower bound at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class ReadWindow:
    start: dt.datetime | None  # None: from the beginning
    end: dt.datetime | None  # None: up to now
    partition_start: dt.datetime
    partition_end: dt.datetime

    @property
    def incremental(self) -> bool:
        return self.end is None

    def describe(self) -> str:
        start = self.start.isoformat() if self.start else "the beginning"
        end = self.end.isoformat() if self.end else "now"
        return f"{start} → {end}"


def read_window(partition_start: dt.datetime, partition_end: dt.datetime, *, now: dt.datetime,
                cursor: dt.datetime | None, lookback: dt.timedelta) -> ReadWindow:
    if partition_end <= now:
        return ReadWindow(partition_start, partition_end, partition_start, partition_end)
    if cursor is None:
        return ReadWindow(None, None, partition_start, partition_end)
    return ReadWindow(min(partition_start, cursor - lookback), None, partition_start, partition_end)
