"""`sfxero sandbox`: serve both emulators and write the env file.

In the foreground by default; `--detach` starts the same command in its own session (log and pid
next to the env file) and returns once both emulators answer, so `make run` and then `make dev`
work on one sandbox whose data carries what the sync wrote; `--stop` ends it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from ..errors import ConfigError
from ..sandbox.faults import FaultSpecError


def load_schema_file(path: str) -> dict:
    """A `--schema` file (YAML or JSON: JSON is YAML) as data; its contents are checked by the emulator."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError("--schema", f"{path} is not valid YAML/JSON" + (f" at line {mark.line + 1}" if mark else "")) from None
    if not isinstance(data, dict):
        raise ConfigError("--schema", f"{path}: expected a mapping with one key, 'objects'")
    return data


def run_sandbox(*, size: str, seed: int, fixtures: str | None, faults: str, env_file: str, schema_file: str | None = None,
                sf_port: int, xero_port: int, webhook_url: str | None = None, auto_consent: bool = False,
                xero_orgs: int = 1) -> None:
    from ..sandbox.runner import SandboxServer
    from ..sandbox.world import resolve_size

    started = time.monotonic()
    try:
        resolve_size(size)
    except ValueError as exc:
        raise ConfigError("--size", str(exc)) from None
    fixture_data = None
    if fixtures:
        try:
            fixture_data = json.loads(Path(fixtures).read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError("--fixtures", f"{fixtures} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(fixture_data, dict) or not set(fixture_data) <= {"salesforce", "xero"}:
            raise ConfigError("--fixtures", 'expected {"salesforce": {...}, "xero": {...}}')
    schema = load_schema_file(schema_file) if schema_file else None
    if webhook_url and not webhook_url.startswith(("http://", "https://")):
        raise ConfigError("--webhook-url", f"'{webhook_url}' is not an http(s) URL")
    try:
        server = SandboxServer(size=size, seed=seed, fixtures=fixture_data, faults=faults,
                               sf_port=sf_port, xero_port=xero_port, webhook_url=webhook_url,
                               auto_consent=auto_consent, schema=schema, xero_orgs=xero_orgs)
    except FaultSpecError as exc:
        raise ConfigError("--faults", str(exc)) from None
    except ValueError as exc:  # the emulators refuse fixture records (or a schema file) as the real APIs would
        if str(exc).startswith("--schema"):  # already names the key: "--schema.objects.X__c...: problem"
            raise ConfigError(*str(exc).split(": ", 1)) from None
        raise ConfigError("--fixtures", str(exc)) from None
    except OSError as exc:
        raise ConfigError("--sf-port/--xero-port", f"cannot listen: {exc.strerror}") from None
    path = server.write_env_file(Path(env_file))
    click.echo(f"sfxero sandbox (seed {seed}, size {size}) ready in {time.monotonic() - started:.1f}s")
    click.echo(f"  Salesforce emulator: {server.salesforce_url}  (login URL, instance URL)")
    click.echo(f"  Xero emulator:       {server.xero_url}/api.xro/2.0  (identity: {server.xero_url})")
    if xero_orgs > 1:
        names = ", ".join(f"{t.name} ({t.tenant_id})" for t in server.xero.tenants.values())
        click.echo(f"  Xero organisations:  {names}")
    click.echo(f"  CA bundle:           {server.tls.ca_cert}")
    if webhook_url:
        click.echo(f"  Xero webhooks to:    {webhook_url}  (state: GET {server.xero_url}/__sandbox/webhooks)")
    click.echo(f"  Settings written to  {path}  (read by `sfxero sync` and `make dev`)")
    click.echo("Press Ctrl-C to stop.", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def _pid_file(env_file: str) -> Path:
    return Path(env_file).with_suffix(".pid")


def start_detached(argv: list[str], env_file: str, timeout_s: float = 300) -> None:
    from ..settings import load_env_file
    from .connections import sandbox_answers

    path = Path(env_file)
    if path.exists() and sandbox_answers(load_env_file(path, environ={})):
        click.echo(f"sfxero sandbox already running (settings in {path})")
        return
    path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    args = [a for a in argv if a != "--detach"]
    log = open(path.with_suffix(".log"), "w")  # noqa: SIM115 - handed to the child, which outlives us
    child = subprocess.Popen([sys.executable, "-c", "from sfxero_pipelines.cli import main; main()", *args],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    _pid_file(env_file).write_text(str(child.pid))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise ConfigError("sfxero sandbox", f"exited with {child.returncode}; see {path.with_suffix('.log')}")
        if path.exists() and sandbox_answers(load_env_file(path, environ={})):
            click.echo(f"sfxero sandbox running in the background (pid {child.pid}); settings in {path}; "
                       f"stop it with `sfxero sandbox --stop`")
            return
        time.sleep(0.2)
    raise ConfigError("sfxero sandbox", f"not ready after {timeout_s:.0f}s; see {path.with_suffix('.log')}")


def stop_detached(env_file: str) -> None:
    pid_file = _pid_file(env_file)
    if not pid_file.exists():
        click.echo("no background sandbox to stop")
        return
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    pid_file.unlink(missing_ok=True)
    Path(env_file).unlink(missing_ok=True)
    click.echo(f"stopped the background sandbox (pid {pid})")
