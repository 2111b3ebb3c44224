"""Xero-style webhook delivery: thin CONTACT / INVOICE / CREDITNOTE events, batched, signed with
`x-xero-signature` = base64(HMAC-SHA256(signing key, raw body bytes)).

One subscription (URL + signing key), with Xero's lifecycle:
- setting or changing the URL starts the intent-to-receive handshake: a correctly signed payload with
  no events must be answered 200 and a deliberately mis-signed one 401; until then the subscription is
  `INTENT_PENDING` and events wait; a receiver that never answers right leaves it `INTENT_FAILED`;
- `ACTIVE`: events are collected for `batch_delay_s` and sent as one payload (sequence numbers
  running on); a delivery that is not answered 200 is retried after each of `retry_delays_s`
  (Xero retries with decreasing frequency for 24 hours: the sandbox compresses that schedule);
- when the retries run out the subscription is `FAILED`: nothing more is sent and events keep
  queueing; setting the URL again re-runs the handshake and then delivers what waited (Xero keeps
  events 31 days and replays them).
Delivery runs on a background thread so API writes never wait on the receiver.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time

import requests
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

OFF, INTENT_PENDING, INTENT_FAILED, ACTIVE, FAILED = "OFF", "INTENT_PENDING", "INTENT_FAILED", "ACTIVE", "FAILED"
#: Xero retries a failed delivery for up to 24 hours; compressed here so a sandbox shows the failed state.
DEFAULT_RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)
#: Xero sends at most this many events in one payload.
MAX_BATCH = 100
_PLURAL = {"CONTACT": "Contacts", "INVOICE": "Invoices", "CREDITNOTE": "CreditNotes"}


def sign(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode()


class WebhookSender:
    def __init__(self, *, tenant_id: str, api_url_base: str = "https://api.xero.com/api.xro/2.0",
                 batch_delay_s: float = 0.2, verify: bool | str = True,
                 retry_delays_s: tuple[float, ...] = DEFAULT_RETRY_DELAYS_S) -> None:
        self.tenant_id = tenant_id
        self.api_url_base = api_url_base
        self.batch_delay_s = batch_delay_s
        self.retry_delays_s = tuple(retry_delays_s)
        self.verify = verify
        self.url: str | None = None
        self.key: str | None = None
        self.status = OFF
        self.last_error: str | None = None
        self.delivered: list[dict] = []
        self.failures = 0  # deliveries (or handshakes) whose every attempt failed
        self.attempts = 0  # POSTs of events sent, retries included
        self._pending: list[dict] = []
        self._sequence = 0
        self._generation = 0  # bumped by configure: a delivery in flight for an older URL is not judged
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- control --------------------------------------------------------------------------------
    def configure(self, url: str | None, key: str | None, *, verify: bool | str | None = None,
                  retry_delays_s: tuple[float, ...] | None = None, batch_delay_s: float | None = None) -> None:
        """Create, change or (with url None) remove the subscription; a URL (re)starts the handshake."""
        with self._cond:
            self.url, self.key = url or None, key or self.key
            if verify is not None:
                self.verify = verify
            if retry_delays_s is not None:
                self.retry_delays_s = tuple(retry_delays_s)
            if batch_delay_s is not None:
                self.batch_delay_s = batch_delay_s
            self._generation += 1
            self.last_error = None
            self.status = INTENT_PENDING if self.url and self.key else OFF
            if self.status == OFF:
                self._pending.clear()
            self._cond.notify_all()
        if self.status != OFF and (self._thread is None or not self._thread.is_alive()):
            self._thread = threading.Thread(target=self._run, daemon=True, name="xero-webhooks")
            self._thread.start()

    def state(self) -> dict:
        """What `GET /__sandbox/webhooks` shows (never the key)."""
        with self._cond:
            return {"url": self.url, "status": self.status, "last_error": self.last_error,
                    "pending_events": len(self._pending), "delivered_batches": len(self.delivered),
                    "delivered_events": sum(len(p["events"]) for p in self.delivered),
                    "attempts": self.attempts, "failures": self.failures,
                    "retry_delays_s": list(self.retry_delays_s)}

    def routes(self) -> list[Route]:
        """`GET /__sandbox/webhooks` (the subscription's state) and `POST /__sandbox/webhooks`
        `{"url": ..., "retry_delays_s": [...], "batch_delay_s": s}` (set, change or, with url null, remove it)."""

        async def get(request: Request) -> Response:
            return JSONResponse(self.state())

        async def post(request: Request) -> Response:
            try:
                body = await request.json()
                url = body.get("url")
                if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
                    raise ValueError(f"url must be an http(s) URL or null, not {url!r}")
                retry = body.get("retry_delays_s")
                retry = tuple(float(d) for d in retry) if retry is not None else None
                batch = float(body["batch_delay_s"]) if body.get("batch_delay_s") is not None else None
            except (ValueError, TypeError, AttributeError) as exc:
                return JSONResponse({"error": str(exc)}, 400)
            self.configure(url, self.key, retry_delays_s=retry, batch_delay_s=batch)
            return JSONResponse(self.state())

        return [Route("/__sandbox/webhooks", get, methods=["GET"]), Route("/__sandbox/webhooks", post, methods=["POST"])]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def event(self, category: str, event_type: str, resource_id: str, clock) -> None:
        with self._cond:
            if self.status == OFF:
                return
            self._pending.append({
                "resourceUrl": f"{self.api_url_base}/{_PLURAL[category]}/{resource_id}", "resourceId": resource_id,
                "eventDateUtc": clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3], "eventType": event_type,
                "eventCategory": category, "tenantId": self.tenant_id, "tenantType": "ORGANISATION"})
            self._cond.notify_all()

    # -- worker ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not (self.status == INTENT_PENDING
                                                or (self.status == ACTIVE and self._pending)):
                    self._cond.wait()
                if self._closed:
                    return
                generation, status = self._generation, self.status
            if status == INTENT_PENDING:
                self._handshake(generation)
            elif self._wait(self.batch_delay_s, generation):
                self._deliver_batch(generation)

    def _wait(self, seconds: float, generation: int) -> bool:
        """Sleep unless reconfigured or closed meanwhile; True when still current."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while not self._closed and self._generation == generation:
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                self._cond.wait(left)
            return False

    def _post(self, url: str, body: bytes, signature: str) -> int | str:
        try:
            return requests.post(url, data=body, timeout=5, verify=self.verify, allow_redirects=False,
                                 headers={"Content-Type": "application/json", "x-xero-signature": signature}
                                 ).status_code
        except requests.RequestException as exc:
            return type(exc).__name__

    def _handshake(self, generation: int) -> None:
        url, key = self.url, self.key
        for delay in (0.0, *self.retry_delays_s):
            if delay and not self._wait(delay, generation):
                return
            body = json.dumps({"events": [], "firstEventSequence": 0, "lastEventSequence": 0,
                               "entropy": secrets.token_hex(10).upper()}).encode()
            signed = self._post(url, body, sign(key, body))
            forged = self._post(url, body, sign(secrets.token_hex(16), body))
            if signed == 200 and forged == 401:
                return self._judge(generation, ACTIVE, None)
            error = f"intent to receive: signed payload answered {signed}, mis-signed answered {forged} (want 200, 401)"
            with self._cond:
                self.last_error = error
        with self._cond:
            self.failures += 1
        self._judge(generation, INTENT_FAILED, error)

    def _deliver_batch(self, generation: int) -> None:
        with self._cond:
            events = self._pending[:MAX_BATCH]
            url, key = self.url, self.key
            first = self._sequence + 1
        if not events:
            return
        payload = {"events": events, "firstEventSequence": first, "lastEventSequence": first + len(events) - 1,
                   "entropy": secrets.token_hex(10).upper()}
        body = json.dumps(payload).encode()
        for delay in (0.0, *self.retry_delays_s):
            if delay and not self._wait(delay, generation):
                return
            with self._cond:
                self.attempts += 1
            answer = self._post(url, body, sign(key, body))
            if answer == 200:
                with self._cond:
                    del self._pending[:len(events)]
                    self._sequence = payload["lastEventSequence"]
                    self.delivered.append(payload)
                    self.last_error = None
                return
            with self._cond:
                self.last_error = f"delivery answered {answer}"
        with self._cond:
            self.failures += 1
        self._judge(generation, FAILED, f"delivery answered {answer} after {len(self.retry_delays_s)} retries")

    def _judge(self, generation: int, status: str, error: str | None) -> None:
        with self._cond:
            if self._generation == generation and not self._closed:
                self.status, self.last_error = status, error
                self._cond.notify_all()
