"""Seed data mirrors the shared World; fixtures load as docs/sandbox.md says; introspection; signed webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from sfxero_pipelines.sandbox.world import PRODUCTS, World
from sfxero_pipelines.sandbox.xero.webhooks import sign
from sfxero_tests.conftest import sandbox_call
from sfxero_tests.xero.conftest import resource_for


def test_seed_matches_the_world(sandbox):
    world = World(42, "small")
    contacts = sandbox.xero.records("Contacts")
    present = [c for c in world.companies() if c.xero_presence != "none"]
    assert len(contacts) == len(present) + world.xero_only_count
    names = [c["Name"].lower() for c in contacts]
    assert len(set(names)) == len(names)
    by_name = {c["Name"] for c in contacts}
    variants = [c for c in present if c.xero_presence == "name_variant"]
    assert all(c.xero_name in by_name and c.name not in by_name for c in variants if c.duplicate_of is None)
    emails = {c.get("EmailAddress") for c in contacts}
    assert any(c.xero_email in emails and c.xero_email != c.email for c in present
               if c.xero_presence == "email_variant")
    assert any(n.endswith("(xero)") for n in names)
    invoices = sandbox.xero.records("Invoices")
    sales = [i for i in invoices if i["Type"] == "ACCREC"]
    bills = [i for i in invoices if i["Type"] == "ACCPAY"]
    assert len(sales) == world.size and len(bills) == int(world.size * 0.3)
    assert {"DRAFT", "AUTHORISED", "PAID", "VOIDED"} <= {i["Status"] for i in sales}
    assert len({i["CurrencyCode"] for i in invoices}) >= 3
    assert {i["_deleted"] for i in invoices if i["Status"] in ("VOIDED", "DELETED")} == {True}
    for inv in sales:
        if inv["Status"] in ("AUTHORISED", "PAID"):
            assert round(inv["Total"] - inv["AmountPaid"] - inv["AmountCredited"], 2) == inv["AmountDue"]
    assert {i["Code"] for i in sandbox.xero.records("Items")} == {p[0] for p in PRODUCTS}
    assert sandbox.xero.records("Payments") and sandbox.xero.records("BankTransactions")
    assert any(cn["Allocations"] for cn in sandbox.xero.records("CreditNotes"))
    assert sandbox.xero.records("Nope") is None


def test_same_seed_same_data_and_stats_templates(xero_sandbox):
    a, b = xero_sandbox(seed=5), xero_sandbox(seed=5)
    ids = lambda s: [(i["InvoiceID"], i["InvoiceNumber"], i["Total"]) for i in s.xero.records("Invoices")]  # noqa: E731
    assert ids(a) == ids(b)
    with resource_for(a).get_client() as client:
        first = client.iter_pages("Invoices", page_size=5).__next__()[0]
        client.get_by_id("Invoices", first["InvoiceID"])
    stats = sandbox_call(a, "xero", "GET", "/__sandbox/stats")
    assert stats["requests"]["GET /api.xro/2.0/Invoices"] == 1
    assert stats["requests"]["GET /api.xro/2.0/Invoices/{InvoiceID}"] == 1
    sandbox_call(a, "xero", "POST", "/__sandbox/reset")
    assert sandbox_call(a, "xero", "GET", "/__sandbox/stats") == {"total": 0, "requests": {}, "faults": {}}


def test_fixtures_plus_reference_data(xero_sandbox):
    fixtures = {"xero": {
        "Contacts": [{"Name": "Fixture Foods Ltd", "EmailAddress": "ap@fixture.example.com"},
                     {"ContactID": "6d1c1c0e-0000-4000-8000-000000000001", "Name": "Old Co",
                      "ContactStatus": "ARCHIVED"}],
        "Invoices": [{"Type": "ACCREC", "Contact": {"Name": "Fixture Foods Ltd"}, "Status": "AUTHORISED",
                      "Date": "2026-01-10", "LineItems": [{"Description": "Widget", "Quantity": 3,
                                                           "UnitAmount": 10, "AccountCode": "200",
                                                           "TaxType": "OUTPUT"}]}],
    }}
    server = xero_sandbox(fixtures=fixtures)
    contacts = server.xero.records("Contacts")
    assert sorted(c["Name"] for c in contacts) == ["Fixture Foods Ltd", "Old Co"]
    assert all(c["ContactID"] and c["UpdatedDateUTC"].startswith("/Date(") for c in contacts)
    [inv] = server.xero.records("Invoices")
    assert (inv["Total"], inv["AmountDue"], inv["InvoiceNumber"]) == (34.5, 34.5, "INV-00001")
    with resource_for(server).get_client() as client:
        assert {"090", "200", "610"} <= {a["Code"] for a in client.get_all("Accounts")}
        assert {"OUTPUT", "INPUT", "NONE", "EXEMPTOUTPUT"} <= {t["TaxType"] for t in client.get_all("TaxRates")}
        contact = client.get_by_id("Contacts", inv["Contact"]["ContactID"])
        assert contact["Balances"]["AccountsReceivable"]["Outstanding"] == 34.5
    sandbox_call(server, "xero", "POST", "/__sandbox/fixtures", {"Contacts": [{"Name": "Only One"}]})
    assert [c["Name"] for c in server.xero.records("Contacts")] == ["Only One"]


def test_webhooks_are_signed_batches_for_contacts_and_invoices(xero_sandbox):
    received: list[tuple[bytes, str]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            # Xero's handshake sends mis-signed payloads too and wants 401 for them.
            valid = self.headers["x-xero-signature"] == sign("test-webhook-key", body)
            if valid:
                received.append((body, self.headers["x-xero-signature"]))
            self.send_response(200 if valid else 401)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        server = xero_sandbox()
        server.xero.configure_webhooks(f"http://127.0.0.1:{httpd.server_address[1]}/xero", "test-webhook-key")
        deadline = time.monotonic() + 10
        while server.xero.webhooks.state()["status"] != "ACTIVE":
            assert time.monotonic() < deadline, server.xero.webhooks.state()
            time.sleep(0.05)
        with resource_for(server).get_client() as client:
            contact = client.write("Contacts", [{"Name": "Webhook Watchers Ltd"}], method="PUT",
                                   idempotency_key="w-1")[0]
            inv = client.write("Invoices", [{"Type": "ACCREC", "Contact": {"ContactID": contact["ContactID"]},
                                             "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 5,
                                                            "AccountCode": "200"}]}],
                               method="PUT", idempotency_key="w-2")[0]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sum(len(json.loads(b)["events"]) for b, _ in received) < 2:
            time.sleep(0.05)
    finally:
        httpd.shutdown()
    events = [e for body, _ in received for e in json.loads(body)["events"]]
    assert {(e["eventCategory"], e["eventType"], e["resourceId"]) for e in events} >= {
        ("CONTACT", "CREATE", contact["ContactID"]), ("INVOICE", "CREATE", inv["InvoiceID"])}
    for body, signature in received:
        expected = base64.b64encode(hmac.new(b"test-webhook-key", body, hashlib.sha256).digest()).decode()
        assert signature == expected
    assert all(e["tenantId"] == server.env["XERO_TENANT_ID"] for e in events)
    # Xero's documented test vector.
    vector = b'{"events":[],"firstEventSequence": 0,"lastEventSequence": 0, "entropy": "S0m3r4Nd0mt3xt"}'
    assert sign("test-webhook-key", vector) == "oHNbSm1QAIXAdwwDNjUF0YK3J6PXHM2bwNGv2Iv5CA0="


def test_a_larger_org_pages_by_1000(xero_sandbox):
    # Speed is measured by `sfxero bench extract`, not here: this checks paging over several pages.
    server = xero_sandbox(size=2000)
    with resource_for(server, per_minute_limit=1_000_000).get_client() as client:
        pages = list(client.iter_pages("Invoices"))
    assert sum(len(p) for p in pages) == 2600 and [len(p) for p in pages] == [1000, 1000, 600]
    assert len({i["InvoiceID"] for p in pages for i in p}) == 2600
