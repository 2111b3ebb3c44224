"""`--help` texts and module docstrings cite only documents that are in the repository, never the SPEC."""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

from sfxero_pipelines.cli import cli

ROOT = Path(__file__).resolve().parents[1]
CITED_DOC = re.compile(r"docs/[a-z_-]+\.md")


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    yield prefix
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + (name,))
        else:
            yield prefix + (name,)


def test_no_help_text_cites_the_spec_or_a_missing_document():
    runner = CliRunner()
    seen = 0
    for path in _commands(cli):
        result = runner.invoke(cli, [*path, "--help"], prog_name="sfxero")
        assert result.exit_code == 0, (path, result.output)
        assert "SPEC" not in result.output, path
        for doc in CITED_DOC.findall(result.output):
            assert (ROOT / doc).exists(), f"sfxero {' '.join(path)} --help cites {doc}, not in the repository"
        seen += 1
    assert seen > 10


def test_the_code_cites_only_documents_in_the_repository():
    missing = {}
    for path in (ROOT / "sfxero_pipelines").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"SPEC ?§", text), f"{path} cites the SPEC"
        for doc in CITED_DOC.findall(text):
            if not (ROOT / doc).exists():
                missing.setdefault(doc, []).append(str(path.relative_to(ROOT)))
    assert not missing, missing
