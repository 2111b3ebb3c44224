"""The suites' expectations evaluated on a pandas frame directly, with great-expectations' semantics.

The suites (`checks/suites/*.json`, great-expectations 1.x format) stay the readable source of the
rules; this module gives the six expectation types they use the meaning great-expectations' pandas
engine gives them, without building a validation graph per suite (that cost more than the checks'
own work, per suite, per run; and a fast-lane run checks a handful of rows):

- `not_be_null` / `be_null`: every row counts, a null (None, NaN, NaT) is the value judged;
- `be_in_set`, `be_between`, `match_regex`, `be_unique`: nulls are ignored (neither expected nor
  unexpected), as great-expectations filters them out first;
- `be_between`: numeric and datetime columns compare vectorised (string bounds of a datetime column
  are parsed); any other column compares value by value and a string compared with a non-string is
  an error (the expectation cannot be evaluated), as in great-expectations;
- `match_regex`: `re.search` on the value as a string; `be_unique`: every occurrence of a repeated
  value is unexpected.

`evaluate(expectation, frame, params)` → `Evaluation`: success, the unexpected rows (in frame order,
each `{"id": …, column: value}`) and their count; an expectation that cannot be evaluated raises.
`sfxero_tests/checks/test_expectations_match_ge.py` holds the two engines to identical results.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SUPPORTED = ("expect_column_values_to_not_be_null", "expect_column_values_to_be_null",
             "expect_column_values_to_be_in_set", "expect_column_values_to_be_between",
             "expect_column_values_to_match_regex", "expect_column_values_to_be_unique")


class CannotEvaluate(Exception):
    """The expectation cannot be evaluated on this column (its message is the one line reported)."""


@dataclass
class Evaluation:
    success: bool
    unexpected_count: int
    unexpected: list[dict] = field(default_factory=list)


def resolve(kwargs: dict, params: dict) -> dict:
    """The expectation's kwargs with `{"$PARAMETER": name}` replaced by the parameter's value."""
    return {k: params.get(v["$PARAMETER"]) if isinstance(v, dict) and "$PARAMETER" in v else v
            for k, v in kwargs.items()}


def _between_vectorised(values: pd.Series, low, high, strict_min, strict_max) -> pd.Series:
    ok = pd.Series(True, index=values.index)
    if low is not None:
        ok &= values > low if strict_min else values >= low
    if high is not None:
        ok &= values < high if strict_max else values <= high
    return ok


def _between_each(value, low, high, strict_min, strict_max) -> bool:
    for bound in (low, high):
        if bound is not None and isinstance(value, str) != isinstance(bound, str):
            raise CannotEvaluate("Column values, min_value, and max_value must either be None or of the same type.")
    if low is not None and not (value > low if strict_min else value >= low):
        return False
    return high is None or (value < high if strict_max else value <= high)


def _between(values: pd.Series, kwargs: dict) -> pd.Series:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    strict_min, strict_max = kwargs.get("strict_min"), kwargs.get("strict_max")
    if low is None and high is None:
        raise CannotEvaluate("min_value and max_value cannot both be None")
    if low is not None and high is not None and low > high:
        raise CannotEvaluate("min_value cannot be greater than max_value")
    if values.dtype in (int, float):
        return _between_vectorised(values, low, high, strict_min, strict_max)
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_ns_dtype(values.dtype):
        low, high = (pd.Timestamp(b) if isinstance(b, str) else b for b in (low, high))
        return _between_vectorised(values, low, high, strict_min, strict_max)
    try:
        return values.map(lambda v: _between_each(v, low, high, strict_min, strict_max)).astype(bool)
    except TypeError as exc:
        raise CannotEvaluate(str(exc)) from exc


def _expected(kind: str, values: pd.Series, kwargs: dict) -> pd.Series:
    """True per value that meets the expectation (`values`: the column, nulls already dropped if they
    are ignored)."""
    if kind == "expect_column_values_to_not_be_null":
        return values.notnull()
    if kind == "expect_column_values_to_be_null":
        return values.isnull()
    if kind == "expect_column_values_to_be_in_set":
        value_set = kwargs.get("value_set")
        return pd.Series(True, index=values.index) if value_set is None else values.isin(value_set)
    if kind == "expect_column_values_to_be_between":
        return _between(values, kwargs)
    if kind == "expect_column_values_to_match_regex":
        return values.astype(str).str.contains(kwargs["regex"])
    if kind == "expect_column_values_to_be_unique":
        return ~values.duplicated(keep=False)
    raise CannotEvaluate(f"{kind} is not an expectation sfxero evaluates (supported: {', '.join(SUPPORTED)})")


def evaluate(expectation: dict, frame: pd.DataFrame, params: dict) -> Evaluation:
    """One suite expectation (`{"type", "kwargs"}`) on `frame` (with an `id` column)."""
    kind, kwargs = expectation["type"], resolve(expectation["kwargs"], params)
    column = kwargs["column"]
    if column not in frame:
        raise CannotEvaluate(f"column {column} is not in the frame")
    values = frame[column]
    if kind not in ("expect_column_values_to_not_be_null", "expect_column_values_to_be_null"):
        values = values[values.notnull()]
    expected = _expected(kind, values, kwargs)
    bad = values.index[~np.asarray(expected, dtype=bool)]
    rows = frame.loc[bad, ["id", column] if column != "id" else ["id"]]
    unexpected = rows.to_dict("records")
    return Evaluation(success=not unexpected, unexpected_count=len(unexpected), unexpected=unexpected)
