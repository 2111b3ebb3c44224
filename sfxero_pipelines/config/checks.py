"""The `checks:` section of sfxero.yaml: thresholds of the data-quality checks (`sfxero_pipelines/checks`)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from .base import StrictModel

class ChecksConfig(StrictModel):
    """Data-quality checks in front of reconciliation and push (`sfxero_pipelines/checks`)."""

    #: Share of a table's rows failing record-level expectations above which the whole table blocks
    #: (below it, the bad records are held and the rest proceed).
    max_bad_share: float = Field(0.1, ge=0, le=1)
    #: Rounding allowed between an invoice's Total and the sum of its lines (+ tax).
    total_tolerance: float = Field(0.01, ge=0)
    #: Dates before this, or more than `max_future_days` ahead, are out of range.
    min_date: dt.date = Field(dt.date(2000, 1, 1), strict=False)
    max_future_days: int = Field(3650, ge=1)
    #: WARN when a table's newest extract is older than this.
    freshness_hours: float = Field(26, gt=0)
    #: WARN when a table's row count fell by more than this share since the previous extract run.
    row_count_drop: float = Field(0.2, gt=0, le=1)
    #: WARN about Salesforce describe drift recorded within this many hours.
    schema_drift_hours: float = Field(24, gt=0)
    #: Failing ids shown per check result in the Dagster UI.
    sample_size: int = Field(20, ge=1, le=500)
