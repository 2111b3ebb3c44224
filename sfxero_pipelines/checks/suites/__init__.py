"""Expectation suites as readable JSON files (great-expectations 1.x `ExpectationSuite` format)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

SUITES_DIR = Path(__file__).parent


@lru_cache(maxsize=None)
def load_suite(name: str) -> dict:
    """The suite `name` as a dict (name, meta.table, meta.hold_table, expectations)."""
    return json.loads((SUITES_DIR / f"{name}.json").read_text())


@lru_cache(maxsize=1)
def reference() -> dict:
    return json.loads((SUITES_DIR / "reference.json").read_text())


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.json") if p.stem != "reference")


def table_suite(table: str) -> str | None:
    """The per-table suite of a staged table, if the repo has one."""
    return table if (SUITES_DIR / f"{table}.json").exists() else None


def accounting_suites() -> list[str]:
    return [n for n in suite_names() if n.startswith("accounting_")]


def parameters_of(suite: dict) -> set[str]:
    """Names of the `{"$PARAMETER": name}` values a suite uses."""
    found = set()
    for exp in suite["expectations"]:
        for value in exp["kwargs"].values():
            if isinstance(value, dict) and "$PARAMETER" in value:
                found.add(value["$PARAMETER"])
    return found


def columns_of(suite: dict) -> list[str]:
    return list(dict.fromkeys(exp["kwargs"]["column"] for exp in suite["expectations"] if "column" in exp["kwargs"]))
