"""A one-shot HTTP server on 127.0.0.1 that receives the OAuth redirect (`/callback?code=…&state=…`).

Bound before the consent URL is shown (so `--port 0` can name the real port in the redirect URI),
it answers exactly one request to `/callback` with a short page and hands back the query; anything
else gets 404. Loopback only: the code never crosses the network, and PKCE makes a stolen one useless.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

CALLBACK_PATH = "/callback"


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
