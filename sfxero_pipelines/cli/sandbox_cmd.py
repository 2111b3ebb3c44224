"""`sfxero sandbox`: serve both emulators in the foreground and write the env file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..errors import ConfigError
from ..sandbox.faults import FaultSpecError


def run_sandbox(*, size: str, seed: int, fixtures: str | None, faults: str, env_file: str,
                sf_port: int, xero_port: int) -> None:
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
    try:
        server = SandboxServer(size=size, seed=seed, fixtures=fixture_data, faults=faults,
                               sf_port=sf_port, xero_port=xero_port)
    except FaultSpecError as exc:
        raise ConfigError("--faults", str(exc)) from None
    except ValueError as exc:  # the emulators refuse fixture records as the real APIs would
        raise ConfigError("--fixtures", str(exc)) from None
    except OSError as exc:
        raise ConfigError("--sf-port/--xero-port", f"cannot listen: {exc.strerror}") from None
    path = server.write_env_file(Path(env_file))
    click.echo(f"sfxero sandbox (seed {seed}, size {size}) ready in {time.monotonic() - started:.1f}s")
    click.echo(f"  Salesforce emulator: {server.salesforce_url}  (login URL, instance URL)")
    click.echo(f"  Xero emulator:       {server.xero_url}/api.xro/2.0  (identity: {server.xero_url})")
    click.echo(f"  CA bundle:           {server.tls.ca_cert}")
    click.echo(f"  Settings written to  {path}  (read by `sfxero sync` and `make dev`)")
    click.echo("Press Ctrl-C to stop.", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
