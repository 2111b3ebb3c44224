"""A one-shot HTTP server on 127.0.0.1 that receives the OAuth redirect (`/callback?code=…&state=…`).

Bound before the consent URL is shown (so `--port 0` can name the real port in the redirect URI),
it answers exactly one request to `/callback` with a short page and hands back the query; anything
else gets 404. Loopback only: the code never crosses the network, and PKCE makes a stolen one useless.

`obtain_consent` is the part every `sfxero connect <system>` shares: bind, show (or open) the consent
address with a fresh state and PKCE pair, wait for the redirect, and check its state and code.
"""

from __future__ import annotations

import secrets
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import click

from ..errors import AuthError, ConfigError, SfxeroError

CALLBACK_PATH = "/callback"
CONSENT_TIMEOUT_S = 300


def checked_scopes(scopes: str, *, any_of: set[str], why: str) -> str:
    """`scopes` normalised to single spaces; a ConfigError on --scopes unless one of `any_of` is there."""
    scopes = " ".join(scopes.split())
    if not any_of & set(scopes.split()):
        raise ConfigError("--scopes", f"must include {' or '.join(sorted(any_of))} ({why})")
    return scopes


@dataclass(frozen=True)
class Consent:
    """What the consent page redirected with, and what the code exchange needs besides the code."""

    code: str = field(repr=False)
    verifier: str = field(repr=False)
    redirect_uri: str


def obtain_consent(*, system: str, port: int, no_browser: bool, consent_url: Callable[[str, str, str], str],
                   register: str, access_to: str, timeout_s: float = CONSENT_TIMEOUT_S,
                   fetch_consent: Callable[[str, str], None] | None = None) -> Consent:
    """`consent_url(redirect_uri, state, challenge)` is the system's consent address. Prints
    "`register`: <redirect uri>" and the address (indented, on its own line), then waits for the answer.
    `fetch_consent(url, redirect_uri)`, when given, plays the browser's part (`--headless`)."""
    from ..clients.xero_oauth import pkce_pair

    try:
        server = CallbackServer(port)
    except OSError as exc:
        raise ConfigError("--port", f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    try:
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        url = consent_url(server.redirect_uri, state, challenge)
        click.echo(f"{register}: {server.redirect_uri}")
        click.echo(f"Open this address to allow sfxero access to {access_to}:")
        click.echo(f"  {url}", nl=True)
        if fetch_consent is not None:
            fetch_consent(url, server.redirect_uri)
        elif not no_browser:
            webbrowser.open(url)
        query = server.wait(timeout_s)
    finally:
        server.close()
    if query is None:
        raise SfxeroError(f"no answer from the consent page within {int(timeout_s) // 60} minutes; run the command again")
    if not secrets.compare_digest(query.get("state", ""), state):
        raise AuthError(system, "the consent answer carried another state (not this command's request); run it again")
    if "error" in query or "code" not in query:
        raise AuthError(system, f"consent not given ({query.get('error', 'no code')})")
    return Consent(code=query["code"], verifier=verifier, redirect_uri=server.redirect_uri)


class CallbackServer:
    def __init__(self, port: int) -> None:
        received: dict[str, str] = {}
        done = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                if parts.path != CALLBACK_PATH or done.is_set():
                    self.send_error(404)
                    return
                received.update({k: v[0] for k, v in parse_qs(parts.query).items()})
                ok = "code" in received
                body = (b"<!doctype html><html><body><h1>sfxero: " +
                        (b"connected" if ok else b"not connected") +
                        b"</h1><p>You can close this window and return to the terminal.</p></body></html>")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                done.set()

            def log_message(self, *args) -> None:  # the query holds the code: keep it out of stderr
                pass

        self._server = HTTPServer(("127.0.0.1", port), Handler)
        self._received, self._done = received, done
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="sfxero-oauth-callback")
        self._thread.start()

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{CALLBACK_PATH}"

    def wait(self, timeout_s: float) -> dict[str, str] | None:
        """The callback's query parameters, or None if nothing arrived in time."""
        return dict(self._received) if self._done.wait(timeout_s) else None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
