"""The daily partitions every extract asset shares, on the source's modified timestamp."""

from __future__ import annotations

from functools import lru_cache

import dagster as dg

from ..config import load_config


@lru_cache(maxsize=1)
def daily_partitions() -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's (still open) partition exists; materializing it is the incremental sync.
    return dg.DailyPartitionsDefinition(start_date=load_config().extract.start_date.isoformat(), end_offset=1)

