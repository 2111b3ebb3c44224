"""The webhook receiver: a Starlette app serving `POST /webhooks/xero` (run by `sfxero webhooks`).

Contract (Xero's endpoint rules, docs/architecture.md §4.2 for the table):
- the signature `x-xero-signature` is checked over the raw body with the webhook key; a missing or
  wrong one is answered 401 with an empty body (Xero's intent-to-receive handshake sends some
  deliberately mis-signed payloads and expects exactly that);
- a correctly signed payload with no events (the handshake) is answered 200;
- events are written to `webhook_inbox` and 200 is answered only once that transaction committed, so
  an event Xero saw acknowledged is never lost; if staging cannot take it in time the answer is 503 and
  Xero delivers it again (recording is idempotent, so a late commit and the retry are one row);
- it never calls Xero: events are thin and the real-time lane fetches what they name.
Every answer has an empty body. The key never reaches a log line or an answer.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import orjson
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import redact
from ..settings import display_url, engine_for
from ..staging.migrations import migrate
from ..staging.state.inbox import record_events
from .signature import verify_xero_signature

log = logging.getLogger("sfxero.webhooks")

XERO_PATH = "/webhooks/xero"
#: Xero gives an endpoint 5 s to answer; past that the delivery counts as failed anyway, so staging
#: gets this long (lock waits included) and the answer still leaves in time.
WRITE_TIMEOUT_S = 4.0
#: Xero sends at most 100 thin events per payload (tens of KB); anything far larger is not Xero.
MAX_BODY_BYTES = 1_000_000


class InboxWriter:
    """Writes a delivery's events to the inbox of one staging database, migrating it on first use."""

    def __init__(self, staging_url: str, *, write_timeout_s: float = WRITE_TIMEOUT_S) -> None:
        self.staging_url = staging_url
        self.write_timeout_s = write_timeout_s
        self._engine: sa.Engine | None = None
        self._lock = threading.Lock()

    def _ready_engine(self) -> sa.Engine:
        with self._lock:
            if self._engine is None:
                engine = engine_for(self.staging_url)
                try:
                    migrate(engine)
                except Exception:
                    engine.dispose()
                    raise
                self._engine = engine
            return self._engine

    def write(self, events: list) -> int:
        with self._ready_engine().begin() as conn:
            self._bound_waits(conn)
            return record_events(conn, events)

    def _bound_waits(self, conn: sa.Connection) -> None:
        # A lock held by a long load must not hold the answer past Xero's deadline: fail fast, Xero retries.
        ms = int(self.write_timeout_s * 1000)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {ms}")

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def create_app(*, webhook_key: str, writer: InboxWriter) -> Starlette:
    """The receiver's ASGI app. `webhook_key` is Xero's webhook signing key."""
    if not webhook_key:
        raise ValueError("webhook_key is empty")

    async def xero(request: Request) -> Response:
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            return Response(status_code=413)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return Response(status_code=413)
        if not verify_xero_signature(webhook_key, body, request.headers.get("x-xero-signature")):
            return Response(status_code=401)
        try:
            payload = orjson.loads(body)
            events = payload["events"]
            if not isinstance(events, list):
                raise TypeError("events is not a list")
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.warning("xero webhook: signed payload is not a Xero event payload (%s)", type(exc).__name__)
            return Response(status_code=400)
        if not events:
            return Response(status_code=200)  # intent to receive
        try:
            new = await asyncio.wait_for(run_in_threadpool(writer.write, events),
                                         timeout=writer.write_timeout_s + 0.5)
        except Exception as exc:  # staging down, locked or slow: not acknowledged, so Xero retries
            reason = redact(str(exc).splitlines()[0] if str(exc) else "", [webhook_key])
            log.error("xero webhook: %d event(s) not recorded, answered 503 (staging %s: %s: %s)", len(events),
                      display_url(writer.staging_url), type(exc).__name__, reason[:200])
            return Response(status_code=503)
        log.info("xero webhook: %d event(s) received, %d new", len(events), new)
        return Response(status_code=200)

    return Starlette(routes=[Route(XERO_PATH, xero, methods=["POST"])])
