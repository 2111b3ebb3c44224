"""`sfxero.yaml` is validated on load: the shipped file parses, and every mistake is one line that
names the key (docs/architecture.md §8), including through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfxero_pipelines.config import DEFAULT_SALESFORCE_OBJECTS, load_config, parse_config
from sfxero_pipelines.errors import ConfigError

from .test_cli import sfxero

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_config_is_valid_and_matches_defaults(monkeypatch):
    monkeypatch.setenv("SFXERO_CONFIG", str(ROOT / "sfxero.yaml"))
    config = load_config()
    assert config.extract.salesforce.objects == DEFAULT_SALESFORCE_OBJECTS
    assert config == parse_config({})  # the file documents the defaults, it does not change them


@pytest.mark.parametrize("data, key, fragment", [
    ({"extrct": {}}, "extrct", "unknown key"),
    ({"extract": {"salesforce": {"batch_size": 5}}}, "extract.salesforce.batch_size", "greater than or equal to 200"),
    ({"extract": {"xero": {"objects": ["invoices", "widgets"]}}}, "extract.xero.objects[1]", "Input should be"),
    ({"extract": {"salesforce": {"objects": ["Account", "Account"]}}}, "extract.salesforce.objects", "listed twice"),
    ({"extract": {"salesforce": {"objects": ["Bad Name"]}}}, "extract.salesforce.objects", "not a Salesforce object"),
    ({"extract": {"start_date": "yesterday"}}, "extract.start_date", "date"),
])
def test_errors_name_the_key(data, key, fragment):
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert exc.value.key == f"sfxero.yaml: {key}"
    assert fragment in str(exc.value)


def test_missing_config_file_named_by_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv("SFXERO_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="SFXERO_CONFIG"):
        load_config()


def test_cli_reports_config_errors_in_one_line(tmp_path):
    (tmp_path / "sfxero.yaml").write_text("extract:\n  lookback_seconds: -5\n")
    result = sfxero("sync", "--stage", "extract", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "sfxero: sfxero.yaml: extract.lookback_seconds: Input should be greater than or equal to 0"]
    # Reported before anything starts: no sandbox was left running in the background.
    assert not (tmp_path / ".sfxero").exists()


@pytest.mark.parametrize("data, key, fragment", [
    # YAML `true` is not the integer 1, and "yes" is not a boolean: refused, not converted.
    ({"extract": {"lookback_seconds": True}}, "extract.lookback_seconds", "valid integer"),
    ({"extract": {"salesforce": {"batch_size": "2000"}}}, "extract.salesforce.batch_size", "valid integer"),
    ({"recipes": {"R1": {"enabled": "yes"}}}, "recipes.R1.enabled", "valid boolean"),
    ({"schedules": {"enabled": 1}}, "schedules.enabled", "valid boolean"),
    ({"checks": {"max_bad_share": True}}, "checks.max_bad_share", "valid number"),
])
def test_values_of_the_wrong_kind_are_refused_not_converted(data, key, fragment):
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert exc.value.key == f"sfxero.yaml: {key}"
    assert fragment in str(exc.value)


def test_dates_may_still_be_written_as_strings():
    config = parse_config({"extract": {"start_date": "2024-02-01"}, "checks": {"min_date": "2001-01-01"}})
    assert str(config.extract.start_date) == "2024-02-01" and str(config.checks.min_date) == "2001-01-01"


def test_start_date_in_the_future_is_refused():
    with pytest.raises(ConfigError) as exc:
        parse_config({"extract": {"start_date": "2999-01-01"}})
    assert exc.value.key == "sfxero.yaml: extract.start_date"
    assert "in the future" in exc.value.problem


@pytest.mark.parametrize("data, key, fragment", [
    ({"extract": {"salesforce": {"objects": []}}}, "extract.salesforce.objects", "must include Account"),
    ({"extract": {"salesforce": {"objects": ["Account"]}}}, "extract.salesforce.objects", "must include Opportunity"),
    ({"extract": {"xero": {"objects": ["invoices"]}}}, "extract.xero.objects", "must include contacts"),
])
def test_objects_the_enabled_recipes_read_are_required(data, key, fragment):
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert exc.value.key == f"sfxero.yaml: {key}"
    assert fragment in exc.value.problem


def test_objects_of_disabled_recipes_may_be_left_out():
    off = {r: {"enabled": False} for r in ("R1", "R2", "R3", "R4", "R5")}
    assert parse_config({"extract": {"salesforce": {"objects": []}}, "recipes": off}).extract.salesforce.objects == []


def test_journals_are_staged_only_when_listed():
    """docs/architecture.md §4.1: every Xero object but journals by default (the largest collection, 100
    a call, and a scope new connections lack); listing `journals` stages them."""
    from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS

    default = parse_config({}).extract.xero.objects
    assert set(default) == set(XERO_OBJECTS) - {"journals"} and len(default) == len(XERO_OBJECTS) - 1
    listed = parse_config({"extract": {"xero": {"objects": [*default, "journals"]}}}).extract.xero.objects
    assert "journals" in listed
