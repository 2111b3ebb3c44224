"""The `sfxero` console script: help everywhere, exit codes (0 / 1 held / 2 configuration or usage),
one-line config errors.

Most tests run the command in this interpreter through the console script's own entry point
(`sfxero_pipelines.cli.main`, which maps errors to exit codes) under click's CliRunner isolation:
an interpreter per `--help` cost seconds and tested nothing more. The process boundary itself — the
exit status the shell sees from the installed console script — is tested through a real process.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from sfxero_pipelines.cli import main

SUBCOMMANDS = ["sandbox", "sync", "plan", "dev", "status", "replay", "bench", "webhooks"]


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def sfxero(*args: str, env: dict | None = None, cwd: Path | None = None) -> CliResult:
    """`sfxero ARGS` as the console script runs it, in this interpreter: `env` added to the
    environment, in `cwd` (default: a fresh empty directory, so nothing lands in the repo)."""
    with contextlib.ExitStack() as stack:
        cwd = cwd or stack.enter_context(tempfile.TemporaryDirectory(prefix="sfxero-cli-"))
        stack.enter_context(contextlib.chdir(cwd))
        out, err, _ = stack.enter_context(CliRunner().isolation(env=env))
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        sys.stdout.flush()
        sys.stderr.flush()
        return CliResult(code, out.getvalue().decode(), err.getvalue().decode())


def console_script(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The installed `sfxero` console script in its own process (installed by `make install`)."""
    script = Path(sys.executable).with_name("sfxero")
    assert script.exists(), f"{script} is not installed: run `make install`"
    return subprocess.run([str(script), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_top_level_help_lists_every_subcommand():
    result = sfxero("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert f"  {name} " in result.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_subcommand_help(name):
    result = sfxero(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: sfxero {name}")


@pytest.mark.parametrize("url, needle", [
    ("mysql://u@h/db", "unsupported database 'mysql'"),
    ("definitely not a url", "is not a database URL"),
])
def test_bad_staging_url_is_one_line_exit_2(url, needle):
    result = sfxero("status", env={"SFXERO_STAGING_URL": url})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SFXERO_STAGING_URL" in lines[0] and needle in lines[0]
    assert "Traceback" not in result.stderr


def test_password_in_bad_url_is_not_echoed():
    result = sfxero("status", env={"SFXERO_STAGING_URL": "oracle://scott:tiger-s3cret@db/x"})
    assert result.returncode == 2
    assert "tiger-s3cret" not in result.stderr


def test_usage_error_exit_2():
    result = sfxero("sync", "--stage", "everything")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, env, code", [
    (["--help"], {}, 0),
    (["sync", "--stage", "everything"], {}, 2),
    (["status"], {"SFXERO_STAGING_URL": "oracle://scott:tiger-s3cret@db/x"}, 2),
])
def test_console_script_exit_status(args, env, code, tmp_path):
    result = console_script(*args, env={"SFXERO_STAGING_URL": f"sqlite:///{tmp_path / 's.db'}", **env})
    assert result.returncode == code, result.stderr
    if code:
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
        assert "tiger-s3cret" not in result.stderr


def test_bad_fault_spec_names_the_problem(tmp_path):
    result = sfxero("sandbox", "--faults", "xero.teapot=0.5", "--env-file", str(tmp_path / "e.env"))
    assert result.returncode == 2
    assert "--faults" in result.stderr and "teapot" in result.stderr


def test_negative_plan_limit_is_refused(tmp_path):
    # pandas' head(-1) would silently drop the last row instead of showing "at most -1".
    result = sfxero("plan", "--limit", "-1", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--limit" in lines[0] and "-1" in lines[0]


def test_status_with_an_unusable_dagster_home_is_one_line(tmp_path):
    (tmp_path / "home-file").write_text("")
    result = sfxero("status", env={"SFXERO_STAGING_URL": f"sqlite:///{tmp_path / 'staging.db'}",
                                   "DAGSTER_HOME": str(tmp_path / "home-file")})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "DAGSTER_HOME" in lines[0] and "not a directory" in lines[0]
