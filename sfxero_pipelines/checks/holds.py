"""Held records from the checks (`held_record`, stage `check`): which failures hold which records, and why.

- `hold_reason` is the reason a failure is held with: `"<expectation>(<column>): <value>"`.
- `sync_holds` makes the open holds of one suite equal to its current failures (storage and the
  release rules live with the table, in `staging/state/holds.py`).
- `open_holds(conn, table_name)` is the query downstream stages use: ids with any open hold.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from ..staging.state import holds as state_holds

STAGE = state_holds.CHECK_STAGE
open_holds = state_holds.open_hold_ids


def hold_reason(failure: dict) -> str:
    value = failure.get("value")
    return f"{failure['expectation']}({failure['column']}): {json.dumps(value, ensure_ascii=False, default=str)}"


def sync_holds(conn: sa.Connection, *, table_name: str, suite: str, failures: dict[str, list[dict]],
               run_id: str | None, now: dt.datetime | None = None) -> tuple[int, int]:
    """Hold new failures and release passing records for one suite. Returns (held_now, released_now)."""
    current = {(record_id, hold_reason(f)): f for record_id, fs in failures.items() for f in fs}
    return state_holds.sync_check_holds(conn, table_name=table_name, suite=suite, failures=current, run_id=run_id,
                                        now=now)
