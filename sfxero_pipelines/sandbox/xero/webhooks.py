"""Xero-style webhook delivery: thin CONTACT / INVOICE / CREDITNOTE events, batched, signed with
`x-xero-signature` = base64(HMAC-SHA256(signing key, raw body bytes)).

Delivery runs on a background thread so API writes never wait on the receiver; events are batched
for `batch_delay_s`. Failed deliveries are retried a few times with backoff (Xero retries for 24h).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import secrets
import threading
import time

import requests


def sign(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode()


class WebhookSender:
    def __init__(self, *, tenant_id: str, api_url_base: str = "https://api.xero.com/api.xro/2.0",
                 batch_delay_s: float = 0.2, verify: bool | str = True) -> None:
        self.tenant_id = tenant_id
        self.api_url_base = api_url_base
        self.batch_delay_s = batch_delay_s
        self.verify = verify
        self.url: str | None = None
        self.key: str | None = None
        self._queue: queue.Queue = queue.Queue()
        self._sequence = 0
        self._thread: threading.Thread | None = None
        self.delivered: list[dict] = []
        self.failures = 0

    def configure(self, url: str | None, key: str | None, *, verify: bool | str | None = None) -> None:
        self.url, self.key = url, key
        if verify is not None:
            self.verify = verify
        if url and key and (self._thread is None or not self._thread.is_alive()):
            self._thread = threading.Thread(target=self._run, daemon=True, name="xero-webhooks")
            self._thread.start()

    def event(self, category: str, event_type: str, resource_id: str, clock) -> None:
        if not (self.url and self.key):
            return
        plural = {"CONTACT": "Contacts", "INVOICE": "Invoices", "CREDITNOTE": "CreditNotes"}[category]
        self._queue.put({
            "resourceUrl": f"{self.api_url_base}/{plural}/{resource_id}", "resourceId": resource_id,
            "eventDateUtc": clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3], "eventType": event_type,
            "eventCategory": category, "tenantId": self.tenant_id, "tenantType": "ORGANISATION"})

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            time.sleep(self.batch_delay_s)
            events = [first]
            while True:
                try:
                    events.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._deliver(events)

    def _deliver(self, events: list[dict]) -> None:
        url, key = self.url, self.key
        if not (url and key):
            return
        first = self._sequence + 1
        self._sequence += len(events)
        payload = {"events": events, "firstEventSequence": first, "lastEventSequence": self._sequence,
                   "entropy": secrets.token_hex(10).upper()}
        body = json.dumps(payload).encode()
        for attempt in range(4):
            try:
                resp = requests.post(url, data=body, timeout=5, verify=self.verify,
                                     headers={"Content-Type": "application/json", "x-xero-signature": sign(key, body)})
                if resp.status_code == 200:
                    self.delivered.append(payload)
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2 * 2 ** attempt)
        self.failures += 1
