"""A table's soft signals reach Dagster as one WARN-only `signals` result: it fails when any signal fires,
its description names the ones that fired, and its metadata keeps every signal's finding."""

from __future__ import annotations

import dagster as dg

from sfxero_pipelines.checks.signals import Signal
from sfxero_pipelines.defs.checks.checks import SIGNALS, signals_result

KEY = dg.AssetKey("sf_account")


def test_a_firing_signal_fails_the_tables_signals_check_and_is_named():
    found = [Signal("freshness", False, "newest extract 30.0 h old (limit 26 h)", {"age_hours": 30.0}),
             Signal("row_count", True, "40 rows staged", {"staged_rows": 40, "latest_run_rows": None}),
             Signal("schema_drift", False, "describe changed — added Foo__c", {"drift": {"added": ["Foo__c"]}})]
    result = signals_result(KEY, found)
    assert (result.asset_key, result.check_name, result.passed) == (KEY, SIGNALS, False)
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.description == ("freshness: newest extract 30.0 h old (limit 26 h); "
                                  "schema_drift: describe changed — added Foo__c")
    assert result.metadata["row_count"].value == "40 rows staged"
    assert result.metadata["staged_rows"].value == 40 and "latest_run_rows" not in result.metadata
    assert result.metadata["drift"].value == {"added": ["Foo__c"]}


def test_quiet_signals_pass_and_say_what_each_found():
    found = [Signal("freshness", True, "newest extract 0.1 h old (limit 26 h)"), Signal("row_count", True, "40 rows staged")]
    result = signals_result(KEY, found)
    assert result.passed and result.description == ("freshness: newest extract 0.1 h old (limit 26 h); "
                                                     "row_count: 40 rows staged")
