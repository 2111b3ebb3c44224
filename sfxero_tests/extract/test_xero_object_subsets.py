"""Any `extract.xero.objects` subset the config accepts loads as a code location whose jobs resolve
(each run in a fresh interpreter: the assets are built from the configuration at import); a subset
that leaves out what an enabled recipe reads is refused on load, in one line naming the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.config.extract import DEFAULT_XERO_OBJECTS
from sfxero_pipelines.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
_LOAD = ("import dagster as dg; from sfxero_pipelines.definitions import defs; d = defs(); "
         "dg.Definitions.validate_loadable(d); repo = d.get_repository_def(); "
         "print(sorted(j for j in repo.job_names if 'extract' in j))")


def _load(tmp_path: Path, objects: list[str]) -> subprocess.CompletedProcess:
    config = tmp_path / "sfxero.yaml"
    config.write_text("extract:\n  xero:\n    objects: [" + ", ".join(objects) + "]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SFXERO_CONFIG": str(config), "DAGSTER_HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-c", _LOAD], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("left_out", [("accounts",), ("tax_rates",), ("currencies",),
                                      ("items", "accounts", "tax_rates", "currencies")])
def test_leaving_out_reference_objects_still_loads(tmp_path, left_out):
    result = _load(tmp_path, [o for o in DEFAULT_XERO_OBJECTS if o not in left_out])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "reference_extract_job" in result.stdout and "extract_job" in result.stdout


@pytest.mark.parametrize("objects, fragment", [
    (["invoices", "items"], "must include contacts (read by R1, R4, R5"),
    (["contacts", "bills"], "must include invoices (read by R2, R3"),
])
def test_leaving_out_what_an_enabled_recipe_reads_is_refused_in_one_line(objects, fragment):
    with pytest.raises(ConfigError) as exc:
        parse_config({"extract": {"xero": {"objects": objects}}})
    assert exc.value.key == "sfxero.yaml: extract.xero.objects"
    assert fragment in str(exc.value) and "\n" not in str(exc.value)


def test_a_subset_is_accepted_once_the_recipes_reading_it_are_disabled(tmp_path):
    off = {name: {"enabled": False} for name in ("R1", "R2", "R3", "R4", "R5")}
    config = parse_config({"extract": {"xero": {"objects": ["items"]}}, "recipes": off})
    assert config.extract.xero.objects == ["items"]
