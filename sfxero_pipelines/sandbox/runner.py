"""Serve both emulators over HTTPS on loopback and publish their connection settings.

`SandboxServer` runs the Salesforce and Xero emulators with uvicorn, each on its own port, with a
server certificate from the local CA (`tls.py`). Its `env` holds exactly the variables production
reads (docs/architecture.md §8), so `sfxero sync` cannot tell the sandbox from the real services except by URL.
It runs in the foreground (`sfxero sandbox`) or in a background thread (tests, `sfxero sync`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from .clock import Clock
from .faults import parse_faults
from .tls import ensure_tls_files
from .world import World
from .xero.limits import validated as validated_limits

DEFAULT_STATE_DIR = Path(".sfxero/sandbox")
DEFAULT_ENV_FILE = Path(".sfxero/sandbox.env")


@dataclass(frozen=True)
class SandboxCredentials:
    """Credentials the emulators accept. Fresh random secrets on every start."""

    sf_client_id: str = field(default_factory=lambda: "3MVG9sandbox" + secrets.token_hex(8))
    sf_client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    sf_username: str = "integration@sfxero.sandbox"
    sf_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    xero_client_id: str = field(default_factory=lambda: secrets.token_hex(16).upper())
    xero_client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(36))
    xero_tenant_id: str = "8d7a1f32-6c3e-4b8e-9f0a-5e2d1c4b7a90"
    xero_webhook_key: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(48)).decode())


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(256)
    sock.set_inheritable(True)
    return sock


class SandboxServer:
    """Both emulators, served over HTTPS. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        size: int | str = "small",
        seed: int = 42,
        fixtures: dict | None = None,
        faults: str | None = None,
        state_dir: Path = DEFAULT_STATE_DIR,
        host: str = "127.0.0.1",
        sf_port: int = 0,
        xero_port: int = 0,
        xero_limits: dict | None = None,
        webhook_url: str | None = None,
        auto_consent: bool = False,
        schema: dict | None = None,
        xero_orgs: int = 1,
    ) -> None:
        # Imported here so that `sandbox.runner` can be imported by tools that never start a server.
        from .salesforce import SalesforceEmulator
        from .xero import XeroEmulator

        self.host = host
        self.credentials = SandboxCredentials()
        self.tls = ensure_tls_files(Path(state_dir))
        fault_sets = parse_faults(faults, seed=seed)
        world = World(seed, size)
        self.salesforce = SalesforceEmulator(
            world=world, credentials=self.credentials, faults=fault_sets["sf"], clock=Clock(),
            fixtures=(fixtures or {}).get("salesforce") if fixtures else None, schema=schema,
        )
        self.xero = XeroEmulator(
            world=world, credentials=self.credentials, faults=fault_sets["xero"], clock=Clock(),
            fixtures=(fixtures or {}).get("xero") if fixtures else None, limits=xero_limits, orgs=xero_orgs,
        )
        self.xero.auto_consent = auto_consent
        # Its clients pace to the limit this emulator enforces, as they pace to Xero's 60 (XERO_MINUTE_LIMIT).
        self.xero_minute_limit = int(validated_limits(xero_limits)["per_minute"])
        self.salesforce.sessions.auto_consent = auto_consent
        world.forget_companies()
        self._sockets = {"sf": _bind(host, sf_port), "xero": _bind(host, xero_port)}
        # Events name the resource on this emulator, so a consumer can GET what they point at.
        self.xero.webhooks.api_url_base = f"{self.xero_url}/api.xro/2.0"
        if webhook_url:
            self.xero.configure_webhooks(webhook_url, self.credentials.xero_webhook_key)
        else:
            self.xero.webhooks.key = self.credentials.xero_webhook_key  # for a URL set later at run time
        self._servers: list[uvicorn.Server] = []
        self._thread: threading.Thread | None = None

    # -- addresses --------------------------------------------------------------------------------
    def port(self, system: str) -> int:
        return self._sockets[system].getsockname()[1]

    @property
    def salesforce_url(self) -> str:
        return f"https://{self.host}:{self.port('sf')}"

    @property
    def xero_url(self) -> str:
        return f"https://{self.host}:{self.port('xero')}"

    @property
    def env(self) -> dict[str, str]:
        c = self.credentials
        return {
            "SALESFORCE_LOGIN_URL": self.salesforce_url,
            "SALESFORCE_CLIENT_ID": c.sf_client_id,
            "SALESFORCE_CLIENT_SECRET": c.sf_client_secret,
            "SALESFORCE_USERNAME": c.sf_username,
            "SALESFORCE_PASSWORD": c.sf_password,
            "SALESFORCE_API_VERSION": "59.0",
            "XERO_API_URL": f"{self.xero_url}/api.xro/2.0",
            "XERO_IDENTITY_URL": self.xero_url,
            "XERO_LOGIN_URL": self.xero_url,  # the consent page (login.xero.com on the real service)
            "XERO_CLIENT_ID": c.xero_client_id,
            "XERO_CLIENT_SECRET": c.xero_client_secret,
            "XERO_TENANT_ID": c.xero_tenant_id,
            "XERO_WEBHOOK_KEY": c.xero_webhook_key,
            "XERO_MINUTE_LIMIT": str(self.xero_minute_limit),
            "SFXERO_CA_BUNDLE": str(self.tls.ca_cert.resolve()),
            "SFXERO_SANDBOX": "1",
        }

    def write_env_file(self, path: Path = DEFAULT_ENV_FILE) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        # Secrets: readable by the owner only, written atomically so a reader never sees half a file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("# Written by `sfxero sandbox`: connection settings for the emulated Salesforce and Xero.\n")
            for key, value in self.env.items():
                fh.write(f"{key}={json.dumps(value)}\n")
        os.replace(tmp, path)
        return path

    # -- lifecycle --------------------------------------------------------------------------------
    def _make_servers(self) -> list[tuple[uvicorn.Server, socket.socket]]:
        pairs = []
        for system, emulator in (("sf", self.salesforce), ("xero", self.xero)):
            config = uvicorn.Config(
                emulator.app(), ssl_certfile=str(self.tls.server_cert), ssl_keyfile=str(self.tls.server_key),
                log_level="warning", access_log=False, lifespan="off", http="httptools",
                timeout_keep_alive=30, server_header=False, date_header=True,
            )
            pairs.append((uvicorn.Server(config), self._sockets[system]))
        self._servers = [s for s, _ in pairs]
        return pairs

    async def _serve_all(self) -> None:
        pairs = self._make_servers()
        await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in pairs))

    def serve_forever(self) -> None:
        """Serve in the foreground until interrupted (Ctrl-C / SIGTERM)."""
        asyncio.run(self._serve_all())

    def start(self) -> "SandboxServer":
        """Serve in a background thread; returns once both emulators accept connections."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve_all()), daemon=True,
                                        name="sfxero-sandbox")
        self._thread.start()
        for _ in range(500):
            if len(self._servers) == 2 and all(s.started for s in self._servers):
                return self
            if not self._thread.is_alive():
                raise RuntimeError("sandbox failed to start")
            threading.Event().wait(0.01)
        raise RuntimeError("sandbox did not start within 5 seconds")

    def stop(self) -> None:
        self.xero.webhooks.close()
        for server in self._servers:
            server.should_exit = True
            # Without force_exit uvicorn waits on idle keep-alive TLS connections until the join timeout.
            server.force_exit = True
        if self._thread:
            self._thread.join(timeout=10)
        for sock in self._sockets.values():
            sock.close()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
