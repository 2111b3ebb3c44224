"""Soft signals on a staged table. They never hold records or block a step: they warn a person.

- freshness: the newest `extracted_at` is older than `checks.freshness_hours`;
- row-count drop: the table's row count fell by more than `checks.row_count_drop` between the two
  latest extract materializations (`dagster/row_count`), or since the latest one (rows vanished);
- schema drift: the Salesforce extract recorded a describe change (field added, removed or retyped)
  within `checks.schema_drift_hours` (`extract_state.columns["last_drift"]`), or the latest
  materialization reported `schema_drift`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..config import ChecksConfig
from ..staging.timestamps import aware
from .frames import staged_columns


@dataclass
class Signal:
    name: str
    ok: bool
    message: str
    metadata: dict = field(default_factory=dict)


def freshness(conn: sa.Connection, table: str, cfg: ChecksConfig, now: dt.datetime) -> Signal:
    if staged_columns(conn, table) is None:
        return Signal("freshness", False, f"{table} has not been staged yet")
    newest = aware(conn.execute(sa.text(f'SELECT max(extracted_at) FROM "{table}"')).scalar())
    if newest is None:
        return Signal("freshness", False, f"{table} is empty")
    age_h = (now - newest).total_seconds() / 3600
    ok = age_h <= cfg.freshness_hours
    return Signal("freshness", ok, f"newest extract {age_h:.1f} h old (limit {cfg.freshness_hours:g} h)",
                  {"last_extracted_at": newest.isoformat(), "age_hours": round(age_h, 2)})


def staged_count(conn: sa.Connection, table: str) -> int | None:
    if staged_columns(conn, table) is None:
        return None
    return conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one()


def row_count_drop(current: int | None, latest: int | None, previous: int | None, cfg: ChecksConfig) -> Signal:
    """`latest`/`previous`: `dagster/row_count` of the two latest materializations (None if unknown)."""
    meta = {"staged_rows": current, "latest_run_rows": latest, "previous_run_rows": previous}
    drops = []
    for before, after, what in ((previous, latest, "between the last two extract runs"),
                                (latest, current, "since the last extract run")):
        if before and after is not None and (before - after) / before > cfg.row_count_drop:
            drops.append(f"{before} → {after} rows {what} (−{(before - after) / before:.0%})")
    if current is None:
        return Signal("row_count", False, "table not staged yet", meta)
    if drops:
        return Signal("row_count", False, "; ".join(drops) + f", above checks.row_count_drop {cfg.row_count_drop:.0%}", meta)
    return Signal("row_count", True, f"{current} rows staged", meta)


def schema_drift(conn: sa.Connection, table: str, cfg: ChecksConfig, now: dt.datetime,
                 materialization_drift: dict | None = None) -> Signal:
    row = conn.execute(sa.text("SELECT columns FROM extract_state WHERE table_name = :t"), {"t": table}).first()
    columns = row[0] if row else None
    if isinstance(columns, str):
        columns = json.loads(columns)
    drift = (columns or {}).get("last_drift")
    recent = drift and (now - aware(drift["at"])).total_seconds() / 3600 <= cfg.schema_drift_hours
    found = materialization_drift or (drift if recent else None)
    if not found:
        return Signal("schema_drift", True, "no describe change recorded recently")
    parts = [f"{k}: {', '.join(v)}" for k, v in found.items() if k in ("added", "removed", "type_changed") and v]
    return Signal("schema_drift", False, "describe changed — " + "; ".join(parts), {"drift": found})
