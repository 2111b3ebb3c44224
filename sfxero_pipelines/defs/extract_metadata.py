"""Materialization metadata every extract asset reports, the same keys for both systems."""

from __future__ import annotations

import dagster as dg


def extract_metadata(*, table: str, total_rows: int, report, api_calls: dict, budget: dict) -> dict:
    window = report.window
    meta = {
        "dagster/row_count": total_rows,
        "dagster/table_name": table,
        "rows_staged": report.rows,
        "deleted_rows": report.deleted,
        "invalid_rows": report.invalid,
        "window": window.describe(),
        "window_start": window.start.isoformat() if window.start else "beginning",
        "window_end": window.end.isoformat() if window.end else "now",
        "incremental": window.incremental,
        "api_calls": dg.MetadataValue.json(dict(api_calls)),
        "api_calls_total": sum(api_calls.values()),
        "api_budget": dg.MetadataValue.json(budget),
    }
    if report.columns_added:
        meta["columns_added"] = dg.MetadataValue.json(report.columns_added)
    if getattr(report, "schema_drift", None):
        meta["schema_drift"] = dg.MetadataValue.json(report.schema_drift)
    if report.invalid_sample:
        meta["invalid_sample"] = dg.MetadataValue.json(report.invalid_sample)
    return meta
