"""The layer rules of docs/architecture.md §3 hold: `scripts/check_layers.py` finds no violation, and it
does find them where they are (so a passing run means something)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_layers.py"


def _checker():
    spec = importlib.util.spec_from_file_location("check_layers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_respects_its_layers():
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout


def test_violations_are_found(tmp_path, monkeypatch):
    checker = _checker()
    package = tmp_path / "sfxero_pipelines"
    for folder in ("extract", "staging", "reconcile", "sandbox", "push", "bench", "cli"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "staging" / "schema.py").write_text("import sqlalchemy as sa\nheld_record = None\n")
    (package / "extract" / "upward.py").write_text("from ..reconcile import plan\n")
    (package / "extract" / "wiring.py").write_text("import dagster as dg\n")
    (package / "push" / "private.py").write_text("from dagster._utils import x\n")
    (package / "sandbox" / "leak.py").write_text("from ..extract import rows\n")
    (package / "push" / "sandboxed.py").write_text("from ..sandbox import runner\n")
    (package / "bench" / "one.py").write_text("from ..cli import x\n")
    (package / "cli" / "two.py").write_text("from ..bench import y\n")
    (package / "reconcile" / "holds.py").write_text(
        "from ..staging.schema import held_record\nSQL = 'SELECT 1 FROM sync_link WHERE recipe = :r'\n")
    monkeypatch.setattr(checker, "ROOT", package)
    found = "\n".join(checker.violations())
    for expected in ("extract/upward.py:1: extract (layer 2) imports sfxero_pipelines.reconcile from a higher layer",
                     "extract/wiring.py:1: imports dagster below defs/ and cli/",
                     "push/private.py:1: private Dagster import dagster._utils",
                     "sandbox/leak.py:1: the sandbox imports production code",
                     "push/sandboxed.py:1: production imports the sandbox outside cli/",
                     "import cycle between top-level packages: bench -> cli -> bench",
                     "reconcile/holds.py:1: imports the held_record table",
                     "reconcile/holds.py:2: SQL on sync_link"):
        assert expected in found, f"not reported: {expected}\n{found}"
