"""Every failed run alerts, whoever started it: a run of `sfxero sync` (executed in process, so it has no
code-location origin) as well as a run launched the way the UI launches it (submitted to the instance
with its origin, dequeued and run by the daemon).

Real parts throughout: `dagster-daemon run` on a persisted instance evaluates the failure sensor as in
production (with its code-location origin: the evaluation that used to skip origin-less runs), a fresh
sandbox whose Xero daily call limit is spent makes the runs fail (after the CLI's preflight, which only
checks the token and the organisation), and a local webhook receives the alerts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from sfxero_pipelines.bench.harness import stop_process_group

from ..test_cli import sfxero

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).with_name("dagster")
DAEMON = Path(sys.executable).with_name("dagster-daemon")


def _workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace.yaml"
    path.write_text("load_from:\n  - python_module:\n      module_name: sfxero_pipelines.definitions\n"
                    f"      attribute: defs\n      working_directory: {ROOT}\n      location_name: sfxero_pipelines\n")
    return path


class Daemon:
    """`dagster-daemon run` in its own process group; its log lines are kept for waiting on."""

    def __init__(self, workspace: Path, env: dict) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen([str(DAEMON), "run", "-w", str(workspace)], env=env, cwd=ROOT, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()

    def wait_for_line(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(needle in line for line in self.lines):
            assert self.proc.poll() is None, "the daemon exited:\n" + "".join(self.lines[-40:])
            assert time.monotonic() < deadline, f"no daemon line with {needle!r}:\n" + "".join(self.lines[-40:])
            time.sleep(0.5)

    def stop(self) -> None:
        stop_process_group(self.proc)


@pytest.mark.timeout(600)  # a daemon, its code server and run workers each load the code location
def test_cli_runs_and_ui_runs_both_alert(make_sandbox, webhook, tmp_path, monkeypatch):
    server = make_sandbox(size=5, seed=7, xero_limits={"per_day": 0})
    config = tmp_path / "sfxero.yaml"
    config.write_text((ROOT / "sfxero.yaml").read_text() + f"\nnotify:\n  webhook_url: {webhook.url}\n")
    env = {**os.environ, **server.env, "SFXERO_CONFIG": str(config),
           "SFXERO_STAGING_URL": f"sqlite:///{tmp_path / 'staging.db'}", "DAGSTER_HOME": str(tmp_path / "home"),
           "PYTHONPATH": str(ROOT)}
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    from sfxero_pipelines.cli.instance import prepare_dagster_home

    prepare_dagster_home()
    workspace = _workspace(tmp_path)
    daemon = Daemon(workspace, env)
    try:
        # The sensor's first evaluation sets its cursor; runs that fail after it are reported.
        daemon.wait_for_line("notify_run_failure_sensor", timeout=180)

        cli = sfxero("sync", "--stage", "extract", env=env)
        assert cli.returncode == 1, cli.stdout + cli.stderr
        launch = subprocess.run([str(DAGSTER), "job", "launch", "-w", str(workspace), "-j", "reference_extract_job",
                                 # one step: the daemon runs each step in its own process
                                 "--op-selection", "xero_currency"],
                                env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
        assert launch.returncode == 0, launch.stdout + launch.stderr

        with dg.DagsterInstance.get() as instance:
            deadline = time.monotonic() + 240
            while True:
                runs = instance.get_runs()
                failed = {r.run_id: r for r in runs if r.status == dg.DagsterRunStatus.FAILURE}
                alerted = {request["json"]["run_id"] for request in webhook.requests}
                if len(failed) >= 3 and set(failed) <= alerted:
                    break
                silent = [(r.job_name, r.run_id[:8], "origin" if r.remote_job_origin else "no origin")
                          for i, r in failed.items() if i not in alerted]
                assert time.monotonic() < deadline, (
                    f"failed runs without an alert: {silent}; runs: {[(r.job_name, r.status.value) for r in runs]}")
                time.sleep(1)
        origins = {r.remote_job_origin is not None for r in failed.values()}
        assert origins == {True, False}, "expected both a CLI run (no origin) and a daemon-launched run"
    finally:
        daemon.stop()
