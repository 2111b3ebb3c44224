"""`sfxero.yaml` is validated on load: the shipped file parses, and every mistake is one line that
names the key (SPEC §7), including through the CLI."""

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
