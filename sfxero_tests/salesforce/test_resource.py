"""SalesforceResource / SalesforceClient against the running emulator over HTTPS (no mocks)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import math
import threading
import time

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sfxero_pipelines.clients.salesforce import trust_context
from sfxero_pipelines.defs.salesforce.resources import SalesforceResource, salesforce_resource_from_env
from sfxero_pipelines.errors import ApiError, AuthError, BudgetExhausted, ConfigError
from sfxero_tests.conftest import sandbox_call

from .conftest import resource, utcnow


def _key_pair(tmp_path, name="key.pem"):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return str(path), public


def test_query_pages_streams_every_row_once_with_exact_call_count(medium_sandbox):
    with resource(medium_sandbox).get_client() as sf:
        total = sf.count("SELECT COUNT() FROM Contact")
        pages = sf.query_pages("SELECT Id, Name, Account.Name FROM Contact ORDER BY SystemModstamp, Id",
                               batch_size=500)
        first = next(pages)
        assert len(first) == 500 and sf.api_calls["queryMore"] == 0  # streaming: one page fetched so far
        rows = first + [r for page in pages for r in page]
        assert len(rows) == total == len({r["Id"] for r in rows})
        assert "attributes" not in rows[0] and "attributes" not in rows[0]["Account"]
        assert sf.api_calls["query"] == 2 and sf.api_calls["queryMore"] == math.ceil(total / 500) - 1
        assert sf.api_calls["token"] == 1
        used, limit = sf.api_usage
        assert limit == 100_000 and used >= sf.api_calls["query"] + sf.api_calls["queryMore"]


def test_queryall_through_resource_sees_deleted_rows(make_sandbox):
    server = make_sandbox(size="small", seed=21)
    with resource(server).get_client() as sf:
        victim = next(sf.query_pages("SELECT Id FROM Account ORDER BY Id LIMIT 1"))[0]["Id"]
        res = sf.update_collection([{"Id": victim, "Phone": "1"}], sobject="Account")
        assert res[0]["success"]
        sf._call(lambda c: c.Account.delete(victim), "sobject")
        live = [r["Id"] for p in sf.query_pages("SELECT Id FROM Account") for r in p]
        every = [r for p in sf.query_pages("SELECT Id, IsDeleted FROM Account", include_deleted=True) for r in p]
        assert victim not in live and len(every) == len(live) + 1
        assert [r["IsDeleted"] for r in every if r["Id"] == victim] == [True]
        deleted = sf.deleted("Account", utcnow() - dt.timedelta(hours=1), utcnow() + dt.timedelta(minutes=2))
        assert victim in [d["id"] for d in deleted]
        updated = sf.updated("Account", utcnow() - dt.timedelta(days=1), utcnow() + dt.timedelta(minutes=2))
        assert isinstance(updated, list) and victim not in updated


def test_bulk_query_of_a_large_object_and_auto_choice(medium_sandbox):
    with resource(medium_sandbox, bulk_threshold=1000).get_client() as sf:
        total = sf.count("SELECT COUNT() FROM OpportunityLineItem")
        rows = [r for page in sf.bulk_query_pages("SELECT Id, Quantity, Opportunity.Name FROM OpportunityLineItem",
                                                  max_records=1000) for r in page]
        assert total > 3000 and len(rows) == total == len({r["Id"] for r in rows})
        assert isinstance(rows[0]["Quantity"], str) and rows[0]["Opportunity"]["Name"]
        assert sf.api_calls["bulk2/query"] >= 2 + math.ceil(total / 1000)
        before = sf.api_calls["bulk2/query"]
        auto = [r for p in sf.query_pages_auto("OpportunityLineItem", "SELECT Id FROM OpportunityLineItem") for r in p]
        assert len(auto) == total and sf.api_calls["bulk2/query"] > before  # large: Bulk 2.0
        q_before = sf.api_calls["query"]
        small = [r for p in sf.query_pages_auto("User", "SELECT Id FROM User", expected_rows=5) for r in p]
        assert len(small) == 5 and sf.api_calls["query"] == q_before + 1  # small: REST


def test_token_expiry_mid_paging_recovers_without_loss_or_repeat(make_sandbox):
    server = make_sandbox(size=400, seed=22, faults="token_ttl_s=60")
    with resource(server).get_client() as sf:
        expected = sf.count("SELECT COUNT() FROM Contact")
        seen = []
        for i, page in enumerate(sf.query_pages("SELECT Id FROM Contact ORDER BY SystemModstamp, Id", batch_size=200)):
            seen += [r["Id"] for r in page]
            if i == 0:
                sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"advance_s": 120})
        assert len(seen) == expected == len(set(seen)) and expected > 400
        assert sf.api_calls["token"] == 2
        # bulk2 snapshots the token: the client re-accesses it after re-authenticating
        sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"advance_s": 120})
        rows = [r for p in sf.bulk_query_pages("SELECT Id FROM Account") for r in p]
        assert len(rows) == 400 and sf.api_calls["token"] == 3


def test_budget_exhaustion_is_a_clear_failure(make_sandbox):
    server = make_sandbox(size="small", seed=23)
    server.salesforce.daily_limit = 6
    with resource(server, budget_stop_share=1.0).get_client() as sf:
        sf.limits()
        server.salesforce.api_used = 6  # another integration spent the org's budget meanwhile
        with pytest.raises(BudgetExhausted) as info:
            sf.limits()
        assert "REQUEST_LIMIT_EXCEEDED" in str(info.value) and info.value.system == "Salesforce"
    server.salesforce.daily_limit = 100
    server.salesforce.api_used = 0
    with resource(server, budget_stop_share=0.05).get_client() as sf:
        with pytest.raises(BudgetExhausted) as info:
            for _ in sf.query_pages("SELECT Id FROM Contact", batch_size=200):
                for _ in range(10):
                    sf.limits()
        assert info.value.used == 5 and info.value.limit == 100  # paced: stopped before the server refused
        assert "5%" in str(info.value)


def test_transient_faults_are_retried(make_sandbox):
    server = make_sandbox(size="small", seed=24, faults="sf.5xx=0.3,sf.lock=0.3")
    with resource(server, max_retries=8).get_client() as sf:
        rows = [r for p in sf.query_pages("SELECT Id FROM Contact") for r in p]
        assert len(rows) == len(server.salesforce.records("Contact"))
        for _ in range(5):
            sf.describe("Account")
        results = sf.upsert_collection("Account", "Xero_Contact_Id__c",
                                       [{"Xero_Contact_Id__c": f"R-{i}", "Name": f"Retry {i}"} for i in range(20)])
        assert all(r["success"] for r in results) and all(r["created"] for r in results)
        calls = sum(v for k, v in sf.api_calls.items() if k != "token")
        assert calls > 1 + 5 + 1  # some calls were retried
    names = {a["Name"] for a in server.salesforce.records("Account")}
    assert {f"Retry {i}" for i in range(20)} <= names


def test_collections_and_bulk_upsert_report_per_record(make_sandbox):
    server = make_sandbox(size="small", seed=25)
    with resource(server).get_client() as sf:
        records = [{"Xero_Contact_Id__c": f"U-{i}", "Name": f"Upsert {i}"} for i in range(250)]
        records[7] = {"Xero_Contact_Id__c": "U-7"}  # no Name: fails on create
        first = sf.upsert_collection("Account", "Xero_Contact_Id__c", records)
        assert len(first) == 250 and sf.api_calls["composite/sobjects"] == 2  # chunked by 200
        assert [r["success"] for r in first].count(False) == 1 and first[7]["errors"][0]["statusCode"] == \
            "REQUIRED_FIELD_MISSING"
        again = sf.upsert_collection("Account", "Xero_Contact_Id__c", records[:3])
        assert [r["created"] for r in again] == [False, False, False] and again[0]["id"] == first[0]["id"]
        created = sf.create_collection([{"attributes": {"type": "Contact"}, "LastName": "Ok"},
                                        {"attributes": {"type": "Contact"}, "Email": "no-last-name@example.com"}])
        assert [r["success"] for r in created] == [True, False]
        bulk = sf.bulk_upsert("Account", "Xero_Contact_Id__c", [
            {"Xero_Contact_Id__c": "U-1", "Name": "Bulk renamed"},
            {"Xero_Contact_Id__c": "B-new", "Name": "Bulk new", "Phone": None},
            {"Xero_Contact_Id__c": "B-bad"},
        ])
        by_key = {r["record"]["Xero_Contact_Id__c"]: r for r in bulk}
        assert by_key["U-1"]["success"] and by_key["U-1"]["created"] is False and by_key["U-1"]["id"] == first[1]["id"]
        assert by_key["B-new"]["success"] and by_key["B-new"]["created"] is True
        assert not by_key["B-bad"]["success"] and by_key["B-bad"]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
        assert sf.api_calls["bulk2/ingest"] >= 5


def test_grants_jwt_password_and_client_credentials(make_sandbox, tmp_path):
    server = make_sandbox(size="small", seed=26)
    e, c = server.env, server.credentials
    key_file, public = _key_pair(tmp_path)
    server.salesforce.sessions.jwt_public_key = public
    jwt_res = SalesforceResource(login_url=e["SALESFORCE_LOGIN_URL"], client_id=c.sf_client_id,
                                 username=c.sf_username, private_key_file=key_file, ca_bundle=e["SFXERO_CA_BUNDLE"])
    with jwt_res.get_client() as sf:
        assert sf.count("SELECT COUNT() FROM Account") == 40
    other_key, _ = _key_pair(tmp_path, "other.pem")
    with pytest.raises(AuthError) as info:
        with jwt_res.model_copy(update={"private_key_file": other_key}).get_client() as sf:
            sf.limits()
    assert "JWT bearer" in str(info.value)
    with resource(server, username=c.sf_username, password=c.sf_password).get_client() as sf:
        assert sf.describe_global()["sobjects"]
    with resource(server).get_client() as sf:
        assert sf.limits()["DailyApiRequests"]["Max"] == 100_000


def test_secrets_never_in_errors_or_repr(make_sandbox):
    server = make_sandbox(size="small", seed=27)
    c = server.credentials
    wrong_secret = "WrongSecret-Value-123456"
    res = resource(server, client_secret=wrong_secret)
    assert wrong_secret not in repr(res) and wrong_secret not in str(res)
    with pytest.raises(AuthError) as info:
        with res.get_client() as sf:
            sf.limits()
    assert wrong_secret not in str(info.value) and "client-credentials" in str(info.value)
    assert "invalid_client" in str(info.value)
    wrong_pw = "WrongPassword-987654"
    res = resource(server, username=c.sf_username, password=wrong_pw)
    with pytest.raises(AuthError) as info:
        with res.get_client() as sf:
            repr_text = repr(sf)
            sf.limits()
    assert wrong_pw not in str(info.value) and c.sf_client_secret not in str(info.value)
    assert c.sf_username in str(info.value) and "invalid_grant" in str(info.value)
    assert c.sf_client_secret not in repr_text
    with resource(server).get_client() as sf:
        with pytest.raises(ApiError) as info:
            list(sf.query_pages("SELECT Nope FROM Account"))
        assert info.value.code == "INVALID_FIELD" and sf._token not in str(info.value)


def test_resource_from_env(sandbox_env, monkeypatch):
    monkeypatch.delenv("SALESFORCE_PASSWORD", raising=False)
    monkeypatch.delenv("SALESFORCE_USERNAME", raising=False)
    res = salesforce_resource_from_env()
    assert sandbox_env["SALESFORCE_CLIENT_SECRET"] not in repr(res)
    with res.get_client() as sf:
        assert sf.count("SELECT COUNT() FROM Account") == 40
    monkeypatch.delenv("SALESFORCE_CLIENT_SECRET")
    with pytest.raises(ConfigError) as info:
        salesforce_resource_from_env().get_client()
    assert "SALESFORCE_CLIENT_SECRET" in str(info.value)


def test_raw_pages_are_query_pages_with_the_next_request_already_sent(make_sandbox):
    from sfxero_pipelines.clients.salesforce import page_records

    server = make_sandbox(size=400, seed=25, faults="token_ttl_s=60")
    soql = "SELECT Id, Name, Account.Name FROM Contact ORDER BY SystemModstamp, Id"
    with resource(server).get_client() as sf:
        expected = [r for page in sf.query_pages(soql, batch_size=200) for r in page]
    sandbox_call(server, "sf", "DELETE", "/__sandbox/stats")
    with resource(server).get_client() as sf:
        pages = sf.query_raw_pages(soql, batch_size=200)
        first = next(pages)
        # The next page's request was on the wire before this one was handed over: the emulator
        # gets it while the caller still holds the first page.
        deadline = time.monotonic() + 10
        while not _query_more_arrived(server) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _query_more_arrived(server)
        while sf.api_calls["queryMore"] == 0 and time.monotonic() < deadline:  # counted on its answer
            time.sleep(0.01)
        assert sf.api_calls["query"] == 1 and sf.api_calls["queryMore"] == 1
        sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"advance_s": 120})  # the token expires
        rows = [r for body in [first, *pages] for r in page_records(body)[0]]
        assert rows == expected and len(rows) > 400
        # Each page once, plus the one request the expired token got refused (re-sent after logging in).
        assert sf.api_calls["queryMore"] == math.ceil(len(rows) / 200) - 1 + 1 and sf.api_calls["token"] == 2
        # A caller that stops early leaves no helper thread behind.
        pages = sf.query_raw_pages(soql, batch_size=200)
        next(pages)
        pages.close()
        assert _helpers_finish()


def _query_more_arrived(server) -> bool:
    requests_seen = sandbox_call(server, "sf", "GET", "/__sandbox/stats")["requests"]
    return sum(n for key, n in requests_seen.items() if "/query/" in key) == 1


def _helpers_finish(timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [t for t in threading.enumerate() if t.name.startswith("sfxero-query") and t.is_alive()]:
            return True
        time.sleep(0.05)
    return False


def test_a_body_that_breaks_off_is_requested_again(make_sandbox):
    """A response whose body stops short of its Content-Length (a real socket, closed early) is
    read again through the client, with its retries and call counting."""
    server = make_sandbox(size="small", seed=26)

    class Truncating(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"totalSize": 1, "records": [')
            self.close_connection = True

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Truncating)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        broken = requests.get(f"http://127.0.0.1:{httpd.server_port}/", stream=True, timeout=10)
        with resource(server).get_client() as sf:
            expected = [r["Id"] for page in sf.query_pages("SELECT Id FROM Account") for r in page]
            before = sf.api_calls["query"]

            def request(c):
                return c._call_salesforce("GET", c.base_url + "query/", params={"q": "SELECT Id FROM Account"},
                                          stream=True)

            body = sf._read_body(broken, request, "query")
            assert [r["Id"] for r in json.loads(body)["records"]] == expected
            assert sf.api_calls["query"] == before + 1
    finally:
        httpd.shutdown()


def test_tls_trusts_the_public_roots_plus_the_configured_ca_and_nothing_else(make_sandbox, monkeypatch):
    server = make_sandbox(size="small", seed=29)
    ca = server.env["SFXERO_CA_BUNDLE"]
    # REQUESTS_CA_BUNDLE would make requests trust the sandbox: the client's own trust store wins.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)
    # An untrusted certificate is configuration (never retried): one line naming the variable.
    with pytest.raises(ConfigError) as info:
        with resource(server, ca_bundle=None).get_client() as sf:
            sf.limits()
    assert info.value.key == "SFXERO_CA_BUNDLE" and "not trusted" in str(info.value)
    with resource(server).get_client() as sf:
        assert sf.count("SELECT COUNT() FROM Account") == 40
    # Loaded once per process and shared: the public roots and the one extra CA.
    assert trust_context(ca) is trust_context(ca)
    assert trust_context(ca).cert_store_stats()["x509_ca"] == trust_context(None).cert_store_stats()["x509_ca"] + 1 > 100
