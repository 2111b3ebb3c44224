"""The daily partitions every extract asset shares, on the source's modified timestamp."""

from __future__ import annotations

import re
from functools import lru_cache

import dagster as dg

from ..config import load_config


@lru_cache(maxsize=1)
def daily_partitions() -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's (still open) partition exists; materializing it is the incremental sync.
    return dg.DailyPartitionsDefinition(start_date=load_config().extract.start_date.isoformat(), end_offset=1)


def snake(name: str) -> str:
    """`OpportunityLineItem` → `opportunity_line_item`; custom `Invoice_Run__c` → `invoice_run__c`."""
    if name.endswith("__c"):
        return name.lower()
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
