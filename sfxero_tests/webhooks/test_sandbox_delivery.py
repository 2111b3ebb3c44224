"""The sandbox's Xero sends signed, batched webhooks to a running receiver (real HTTPS API calls, real
HTTP delivery on loopback, real staging): a contact edit and an invoice payment land in the inbox; a
receiver that keeps failing puts the subscription in the failed state, and re-enabling it delivers
what waited."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import requests
import sqlalchemy as sa

from sfxero_pipelines.settings import load_env_file
from sfxero_pipelines.staging.state import inbox
from sfxero_tests.conftest import sandbox_call
from sfxero_tests.xero.conftest import resource_for

from .conftest import start_receiver
from .test_receiver import _closed_port


def wait_for(predicate, what: str, timeout_s: float = 30):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def subscription(server) -> dict:
    return sandbox_call(server, "xero", "GET", "/__sandbox/webhooks")


def inbox_events(staging) -> set[tuple[str, str, str]]:
    with staging.begin() as conn:
        return {(e.event_category, e.event_type, e.resource_id) for e in inbox.unprocessed(conn)}


def edit_a_contact_and_pay_an_invoice(server) -> tuple[str, str]:
    invoice = next(i for i in server.xero.records("Invoices")
                   if i["Type"] == "ACCREC" and i["Status"] == "AUTHORISED" and i["AmountDue"] >= 2)
    contact_id = next(c["ContactID"] for c in server.xero.records("Contacts") if not c["_deleted"])
    with resource_for(server).get_client() as client:
        client.write("Contacts", [{"ContactID": contact_id, "Phones": [
            {"PhoneType": "DEFAULT", "PhoneNumber": "5550100"}]}], idempotency_key="wh-contact")
        client.write("Payments", [{"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "090"},
                                   "Amount": 1.0, "Date": "2026-12-01"}], method="PUT", idempotency_key="wh-pay")
    return contact_id, invoice["InvoiceID"]


def test_contact_edit_and_invoice_payment_land_in_the_inbox(staging, make_sandbox):
    server = make_sandbox()
    receiver = start_receiver(staging.url, key=server.env["XERO_WEBHOOK_KEY"])
    try:
        state = sandbox_call(server, "xero", "POST", "/__sandbox/webhooks", {"url": receiver.url})
        assert state["url"] == receiver.url and "key" not in state
        wait_for(lambda: subscription(server)["status"] == "ACTIVE", "the intent-to-receive handshake")
        contact_id, invoice_id = edit_a_contact_and_pay_an_invoice(server)
        wanted = {("CONTACT", "UPDATE", contact_id), ("INVOICE", "UPDATE", invoice_id)}
        wait_for(lambda: wanted <= inbox_events(staging), "the events in the inbox")
        with staging.begin() as conn:
            resource_urls = {e.resource_url for e in inbox.unprocessed(conn)}
        # Events are thin and point at the emulator's own resource.
        assert f"{server.xero_url}/api.xro/2.0/Invoices/{invoice_id}" in resource_urls
        assert subscription(server)["status"] == "ACTIVE"
    finally:
        receiver.stop()


def test_a_failing_receiver_puts_the_subscription_in_the_failed_state(staging, make_sandbox):
    server = make_sandbox()
    key = server.env["XERO_WEBHOOK_KEY"]
    # Answers the handshake (no staging needed for it) but 503 to every event: its staging is down.
    broken = start_receiver(f"postgresql+psycopg://nobody@127.0.0.1:{_closed_port()}/down", key=key)
    working = start_receiver(staging.url, key=key)
    try:
        sandbox_call(server, "xero", "POST", "/__sandbox/webhooks",
                     {"url": broken.url, "retry_delays_s": [0.05, 0.05], "batch_delay_s": 0.05})
        wait_for(lambda: subscription(server)["status"] == "ACTIVE", "the handshake")
        contact_id, invoice_id = edit_a_contact_and_pay_an_invoice(server)
        failed = wait_for(lambda: (s := subscription(server))["status"] == "FAILED" and s, "the failed state")
        assert failed["attempts"] == 3 and failed["failures"] == 1  # the first try and two retries
        assert failed["pending_events"] >= 2 and "503" in failed["last_error"]
        # Failed: later events wait rather than being sent.
        with resource_for(server).get_client() as client:
            client.write("Contacts", [{"ContactID": contact_id, "Name": "Renamed While Failed Ltd"}],
                         idempotency_key="wh-later")
        time.sleep(0.3)
        assert subscription(server)["attempts"] == 3
        # Re-enabled on a working receiver: the handshake again, then everything that waited.
        sandbox_call(server, "xero", "POST", "/__sandbox/webhooks", {"url": working.url})
        wanted = {("CONTACT", "UPDATE", contact_id), ("INVOICE", "UPDATE", invoice_id)}
        wait_for(lambda: wanted <= inbox_events(staging), "the waiting events")
        wait_for(lambda: subscription(server)["pending_events"] == 0, "the queue to drain")
        assert subscription(server)["status"] == "ACTIVE"
    finally:
        broken.stop()
        working.stop()


def test_a_receiver_refusing_the_handshake_is_never_sent_events(make_sandbox):
    server = make_sandbox()
    # Signed with another key: answers 401 to the sandbox's correctly signed handshake.
    wrong = start_receiver("sqlite:///:memory:", key="not-the-sandbox-key")
    try:
        sandbox_call(server, "xero", "POST", "/__sandbox/webhooks", {"url": wrong.url, "retry_delays_s": [0.05]})
        state = wait_for(lambda: (s := subscription(server))["status"] == "INTENT_FAILED" and s, "the handshake")
        assert "signed payload answered 401" in state["last_error"] and state["attempts"] == 0
    finally:
        wrong.stop()


def test_bad_webhook_url_is_one_line_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sfxero_pipelines.cli", "sandbox", "--webhook-url", "ftp://x",
                             "--env-file", str(tmp_path / "s.env")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "sfxero: --webhook-url: 'ftp://x' is not an http(s) URL"


def test_sandbox_flag_and_sfxero_webhooks_end_to_end(tmp_path):
    """`sfxero sandbox --webhook-url` and `sfxero webhooks` as a user runs them, keyed by the env file."""
    port = _closed_port()
    env_file = tmp_path / "sandbox.env"
    staging_url = f"sqlite:///{tmp_path / 'staging.db'}"
    sandbox = subprocess.Popen([sys.executable, "-m", "sfxero_pipelines.cli", "sandbox", "--env-file", str(env_file),
                                "--webhook-url", f"http://127.0.0.1:{port}/webhooks/xero"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "SFXERO_STAGING_URL": staging_url}, cwd=tmp_path)
    receiver = None
    try:
        wait_for(lambda: env_file.exists() or sandbox.poll() is not None, "the sandbox env file", 120)
        env = load_env_file(env_file, environ={})
        assert env["XERO_WEBHOOK_KEY"]
        receiver = subprocess.Popen([sys.executable, "-m", "sfxero_pipelines.cli", "webhooks", "--port", str(port)],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    env={**os.environ, **env, "SFXERO_STAGING_URL": staging_url})
        xero = env["XERO_IDENTITY_URL"]

        def state():
            return requests.get(f"{xero}/__sandbox/webhooks", verify=env["SFXERO_CA_BUNDLE"], timeout=10).json()

        # The sandbox retries the handshake until the receiver is up.
        wait_for(lambda: state()["status"] == "ACTIVE", "the handshake", 60)
        contact = next(c for c in requests.get(f"{xero}/__sandbox/records/Contacts", verify=env["SFXERO_CA_BUNDLE"],
                                               timeout=10).json() if not c["_deleted"])
        with resource_for(SimpleNamespace(env=env)).get_client() as client:
            client.write("Contacts", [{"ContactID": contact["ContactID"], "Name": "Webhooked Ltd"}],
                         idempotency_key="e2e-1")
        wait_for(lambda: state()["delivered_events"] >= 1, "the delivery")
    finally:
        outputs = []
        for child in (receiver, sandbox):
            if child is None:
                continue
            child.send_signal(signal.SIGINT)  # Ctrl-C, as `sfxero sandbox --stop` does
            try:
                outputs.append(child.communicate(timeout=30)[0])
            except subprocess.TimeoutExpired:
                child.kill()
                outputs.append(child.communicate()[0])
    engine = sa.create_engine(staging_url)
    with engine.connect() as conn:
        assert ("CONTACT", "UPDATE", contact["ContactID"]) in {
            (e.event_category, e.event_type, e.resource_id) for e in inbox.unprocessed(conn)}
    engine.dispose()
    assert all(env["XERO_WEBHOOK_KEY"] not in out for out in outputs)
    assert re.search(r"Xero webhooks to: +http://127\.0\.0\.1", outputs[-1])
    assert Path(env_file).stat().st_mode & 0o077 == 0  # the key is a secret: owner-only file
