"""The monthly partitions every extract asset shares, on the source's modified timestamp.

A partition is a calendar month (UTC) from the month of `extract.start_date`; the open month's
partition is the incremental sync. Months, not days: the first full extract runs as one run over the
whole range, and Dagster records one materialization per (asset, partition) it covered, so the
partitions it covered show as materialized — 36 keys per asset for three years of history where days
would be 1,068 (docs/architecture.md "Extract partitions" gives the measured costs).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import dagster as dg

from ..config import load_config


@lru_cache(maxsize=1)
def extract_partitions() -> dg.MonthlyPartitionsDefinition:
    # The month of start_date, from its first day: a mid-month start_date would otherwise leave the
    # rest of that month in no partition. end_offset=1: the open month's partition exists.
    start = load_config().extract.start_date.replace(day=1)
    return dg.MonthlyPartitionsDefinition(start_date=start.isoformat(), end_offset=1)


def partition_key_of(day: dt.date) -> str:
    """The key of the (monthly) partition containing `day`."""
    return day.replace(day=1).isoformat()
