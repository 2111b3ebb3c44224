"""A running webhook receiver over real HTTP on loopback, writing to the real staging database."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from sfxero_pipelines.webhooks.receiver import XERO_PATH, InboxWriter, create_app

WEBHOOK_KEY = "test-webhook-key-0123456789"


class RunningReceiver:
    def __init__(self, app, *, writer: InboxWriter) -> None:
        self.writer = writer
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}{XERO_PATH}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve(sockets=[self._sock])),
                                        daemon=True)

    def start(self) -> "RunningReceiver":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
        self.writer.dispose()


def start_receiver(staging_url: str, *, key: str = WEBHOOK_KEY, write_timeout_s: float = 4.0) -> RunningReceiver:
    writer = InboxWriter(staging_url, write_timeout_s=write_timeout_s)
    return RunningReceiver(create_app(webhook_key=key, writer=writer), writer=writer).start()


@pytest.fixture
def receiver(staging) -> Iterator[RunningReceiver]:
    running = start_receiver(staging.url)
    yield running
    running.stop()
