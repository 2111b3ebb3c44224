"""The checks evaluate the suites' expectations natively (checks/expectations.py); great-expectations
stays the reference. Both engines must give identical outcomes: the same held records with the same
failing values, the same table failures, samples and counts, on every suite over a staged sandbox
world seeded with each kind of bad record, and on frames built to hit the edges (nulls, NaN, NaT,
duplicates, strict bounds, dates against string bounds, regexes on non-strings, empty sets, a
column whose types cannot be compared)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sfxero_pipelines.checks.runner import evaluate_natively, run_suite
from sfxero_pipelines.checks.suites import suite_names
from sfxero_pipelines.config import ChecksConfig

from .test_checks_sandbox import checked_world  # noqa: F401 - the staged world, a fixture

# The staged world is built once per worker for this module and test_checks_sandbox.py together.
def _comparable(outcome) -> dict:
    out = dataclasses.asdict(outcome)
    out.pop("seconds")
    return out


def test_every_suite_gives_the_same_outcome_natively_and_with_great_expectations(checked_world, ge_reference):  # noqa: F811
    _, staging, _, _ = checked_world
    cfg = ChecksConfig(max_bad_share=0.9)
    now = dt.datetime.now(dt.timezone.utc)
    evaluated = failed = 0
    with staging.engine.connect() as conn:
        for name in suite_names():
            native = run_suite(conn, name, cfg, now=now)
            reference = run_suite(conn, name, cfg, now=now, evaluator=ge_reference)
            assert _comparable(native) == _comparable(reference), name
            evaluated += sum(1 for e in native.expectations if not e.skipped)
            failed += len(native.record_failures)
    # The world exercises the rules: many expectations ran and some records failed them.
    assert evaluated > 100 and failed >= 8


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["a", "b", "c", "d", "e", "f"],
        "num": [1.0, -2.0, np.nan, 5.0, 0.0, 10.0],
        "int": [1, 2, 3, 3, 4, 5],
        "text": ["x@y.com", "bad", None, "X@Y.COM", "x@y.com", "  "],
        "when": pd.to_datetime(["2020-01-01", "1999-12-31", None, "2031-01-01", "2025-06-30", "2025-01-01"]),
        "mixed": ["10", 5, None, 7, "a", 3],
        "objnum": pd.Series([1, None, 3, 4.5, 2, 0], dtype=object),
    })


EDGES = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "text"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "num"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "when"}},
    {"type": "expect_column_values_to_be_null", "kwargs": {"column": "text"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "int"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "text"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "text", "value_set": ["x@y.com", "bad"]}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "int", "value_set": {"$PARAMETER": "ints"}}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "text", "value_set": []}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "num", "min_value": 0}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "num", "min_value": 0, "strict_min": True}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "num", "max_value": 5}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "int", "min_value": 2, "max_value": 3}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "when", "min_value": {"$PARAMETER": "min_date"},
                                                                "max_value": {"$PARAMETER": "max_date"}}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "objnum", "min_value": 1, "max_value": 4}},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "text", "regex": r"^[^@\s]+@[^@\s]+\.[a-z]+$"}},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "int", "regex": r"^[1-3]$"}},
]


@pytest.mark.parametrize("expectation", EDGES, ids=lambda e: f"{e['type'][len('expect_column_values_to_'):]}-{e['kwargs']['column']}")
def test_edge_values_give_the_same_result_natively_and_with_great_expectations(expectation, ge_reference):
    params = {"ints": [1, 2, 4], "min_date": dt.datetime(2000, 1, 1), "max_date": dt.datetime(2030, 1, 1)}
    cfg = ChecksConfig()
    [native] = evaluate_natively([expectation], _frame(), params, cfg)
    [reference] = ge_reference([expectation], _frame(), params, cfg)
    assert (native.success, native.unexpected_count, native.error) == (reference.success, reference.unexpected_count,
                                                                      reference.error)
    assert [_plain(r) for r in native.unexpected] == [_plain(r) for r in reference.unexpected]


@pytest.mark.parametrize("column, bound", [("mixed", 0), ("when", "2000-01-01")])
def test_values_that_cannot_be_compared_with_the_bound_are_an_error_in_both(column, bound, ge_reference):
    """(The one line differs: each engine names the comparison it could not make.)"""
    expectation = {"type": "expect_column_values_to_be_between", "kwargs": {"column": column, "min_value": bound}}
    [native] = evaluate_natively([expectation], _frame(), {}, ChecksConfig())
    [reference] = ge_reference([expectation], _frame(), {}, ChecksConfig())
    assert native.error and reference.error
    assert not native.success and not reference.success


def _plain(row: dict) -> dict:
    from sfxero_pipelines.checks.runner import _json_value

    return {k: _json_value(v) for k, v in row.items()}
