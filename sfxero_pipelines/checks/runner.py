"""Validate a staged table against its suite with great-expectations 1.x and say what follows.

`run_suite(conn, name, cfg)` → `SuiteOutcome`:
- `record_failures`: record id → the expectations it failed, each with the failing value; these
  records are held (`holds.sync_holds`) and the rest of the table proceeds;
- `table_failures`: why the whole table must block: a `meta.level == "table"` expectation failed (a
  key constraint is broken), an expectation could not be evaluated, or the share of bad rows is
  above `checks.max_bad_share`;
- per-expectation stats and samples for the Dagster UI.

The expectations are evaluated on the frame directly (`expectations.py`, great-expectations'
semantics for the six types the suites use): building a GE validation graph per suite cost more than
the checks' own work. `evaluator` lets the tests run the same suite through great-expectations
itself (`sfxero_tests/checks/ge_reference.py`), the reference the native evaluation is held to.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..config import ChecksConfig
from . import frames
from .expectations import CannotEvaluate, evaluate
from .suites import load_suite, parameters_of

@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    level: str
    why: str
    success: bool
    unexpected_count: int = 0
    sample: list[dict] = field(default_factory=list)
    error: str | None = None
    skipped: str | None = None

    def summary(self) -> dict:
        out = {"expectation": self.expectation, "column": self.column, "level": self.level,
               "success": self.success, "unexpected_count": self.unexpected_count}
        if self.sample:
            out["sample"] = self.sample
        if self.error:
            out["error"] = self.error
        if self.skipped:
            out["skipped"] = self.skipped
        return out


@dataclass
class SuiteOutcome:
    suite: str
    table: str
    hold_table: str
    staged: bool = True
    rows: int = 0
    record_failures: dict[str, list[dict]] = field(default_factory=dict)
    table_failures: list[str] = field(default_factory=list)
    expectations: list[ExpectationOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def bad_rows(self) -> int:
        return len(self.record_failures)

    @property
    def bad_share(self) -> float:
        return self.bad_rows / self.rows if self.rows else 0.0

    @property
    def blocking(self) -> bool:
        return bool(self.table_failures)


def _json_value(value):
    """A failing value as JSON (numpy scalars, timestamps and NaN made plain)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        value = float(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (dt.date, dt.datetime)) or hasattr(value, "isoformat"):
        return value.isoformat()[:10] if getattr(value, "hour", 0) == 0 and getattr(value, "minute", 0) == 0 else value.isoformat()
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


@dataclass
class Found:
    """What evaluating one expectation found: success, unexpected rows (`{"id", column: value}`, frame
    order) and their count; or the one line saying why it could not be evaluated."""

    success: bool
    unexpected_count: int = 0
    unexpected: list[dict] = field(default_factory=list)
    error: str | None = None


def evaluate_natively(runnable: list[dict], frame, params: dict, cfg: ChecksConfig) -> list[Found]:
    """The expectations evaluated on the frame directly (`expectations.py`): what the checks use."""
    found = []
    for exp in runnable:
        try:
            e = evaluate(exp, frame, params)
        except CannotEvaluate as exc:
            found.append(Found(False, error=str(exc).splitlines()[0] if str(exc) else "could not evaluate"))
            continue
        found.append(Found(e.success, e.unexpected_count, e.unexpected))
    return found


def run_suite(conn: sa.Connection, name: str, cfg: ChecksConfig, *, now: dt.datetime | None = None,
              evaluator=evaluate_natively, foreign_ids: frozenset[str] = frozenset()) -> SuiteOutcome:
    import time

    started = time.perf_counter()
    now = now or dt.datetime.now(dt.timezone.utc)
    suite = load_suite(name)
    table, hold_table = suite["meta"]["table"], suite["meta"]["hold_table"]
    outcome = SuiteOutcome(name, table, hold_table)

    staged = frames.staged_columns(conn, table)
    if staged is None:
        outcome.staged = False
        return outcome
    builder = frames.ACCOUNTING_FRAMES.get(name)
    frame = builder(conn, cfg) if builder else frames.table_frame(conn, suite, staged)
    if frame is None:
        outcome.staged = False
        return outcome
    frame = frames.other_organisations_refs_cleared(frames.prepare(frame, suite), suite, foreign_ids)
    params = frames.parameters(conn, parameters_of(suite), cfg, now)
    outcome.rows = len(frame)

    runnable, by_position = [], []
    for exp in suite["expectations"]:
        kwargs, meta = exp["kwargs"], exp.get("meta", {})
        result = ExpectationOutcome(exp["type"], kwargs.get("column"), meta.get("level", "record"), meta.get("why", ""), True)
        missing = [v["$PARAMETER"] for v in kwargs.values()
                   if isinstance(v, dict) and "$PARAMETER" in v and params.get(v["$PARAMETER"]) is None]
        if result.column is not None and result.column not in frame:
            result.skipped = f"column {result.column} is not staged"
        elif missing:
            result.skipped = f"{', '.join(missing)} not available (source table not staged)"
        else:
            runnable.append(exp)
            by_position.append(result)
        outcome.expectations.append(result)
    if not runnable or frame.empty:
        outcome.seconds = time.perf_counter() - started
        return outcome

    for result, found in zip(by_position, evaluator(runnable, frame, params, cfg)):
        if found.error is not None:
            result.success, result.error = False, found.error
            outcome.table_failures.append(f"{result.expectation}({result.column}) could not be evaluated: {result.error}")
            continue
        result.success = found.success
        failing = found.unexpected
        result.unexpected_count = found.unexpected_count
        result.sample = [{"id": f.get("id"), "value": _json_value(f.get(result.column))} for f in failing[: cfg.sample_size]]
        if result.success:
            continue
        if result.level == "table":
            outcome.table_failures.append(
                f"{result.expectation}({result.column}): {result.unexpected_count} rows break a key constraint")
            continue
        for failure in failing:
            outcome.record_failures.setdefault(str(failure.get("id")), []).append({
                "expectation": result.expectation, "column": result.column,
                "value": _json_value(failure.get(result.column)), "why": result.why})
    if outcome.rows and outcome.bad_share > cfg.max_bad_share:
        outcome.table_failures.append(
            f"{outcome.bad_rows} of {outcome.rows} rows ({outcome.bad_share:.1%}) fail record-level expectations, "
            f"above checks.max_bad_share {cfg.max_bad_share:.1%}")
    outcome.seconds = time.perf_counter() - started
    return outcome
