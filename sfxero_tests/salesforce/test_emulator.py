"""The emulator's wire behaviour, exercised with unmodified simple-salesforce over HTTPS."""

from __future__ import annotations

import datetime as dt
import math
import re

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from sfxero_pipelines.sandbox.runner import SandboxServer
from sfxero_tests.conftest import sandbox_call

from .conftest import ca_session, raw_sf, token, utcnow

OBJECTS = {"Account", "Contact", "Opportunity", "OpportunityLineItem", "Product2", "PricebookEntry", "Pricebook2",
           "Lead", "Campaign", "CampaignMember", "User", "Order", "OrderItem"}


def test_small_sandbox_seeds_every_object(sandbox_state_dir):
    # Start-up time is printed by `sfxero sandbox` ("ready in N s") and reported, not asserted here.
    with SandboxServer(size="small", seed=3, state_dir=sandbox_state_dir) as server:
        counts = {o: len(sandbox_call(server, "sf", "GET", f"/__sandbox/records/{o}")) for o in OBJECTS}
    assert counts["Account"] == 40
    assert all(counts[o] > 0 for o in OBJECTS), counts
    assert 40 <= counts["Contact"] <= 80 and 40 <= counts["Opportunity"] <= 90
    assert counts["OpportunityLineItem"] >= counts["Opportunity"]


def test_seed_is_deterministic_and_messy(sandbox, sandbox_state_dir):
    accounts = sandbox_call(sandbox, "sf", "GET", "/__sandbox/records/Account")
    again = SandboxServer(size="small", seed=42, state_dir=sandbox_state_dir)
    try:
        same = again.salesforce.records("Account")
    finally:
        again.stop()
    assert [a["Name"] for a in accounts] == [a["Name"] for a in same]
    assert [a["Id"] for a in accounts] == [a["Id"] for a in same]
    assert all(re.fullmatch(r"001[A-Za-z0-9]{15}", a["Id"]) for a in accounts)
    assert len({a["CurrencyIsoCode"] for a in accounts}) >= 3
    assert len({a["BillingCountry"] for a in accounts}) >= 3
    opps = sandbox_call(sandbox, "sf", "GET", "/__sandbox/records/Opportunity")
    won = [o for o in opps if o["IsWon"]]
    assert 0.15 < len(won) / len(opps) < 0.6
    assert {o["StageName"] for o in opps} > {"Closed Won", "Closed Lost"}
    orders = sandbox_call(sandbox, "sf", "GET", "/__sandbox/records/Order")
    assert {o["Status"] for o in orders} <= {"Draft", "Activated"} and orders
    contacts = sandbox_call(sandbox, "sf", "GET", "/__sandbox/records/Contact")
    assert any(c["Email"] is None for c in contacts) or any(c["Email"] for c in contacts)


def test_token_endpoint_grants_and_errors(sandbox):
    s, c = ca_session(sandbox), sandbox.credentials
    url = sandbox.salesforce_url + "/services/oauth2/token"
    ok = s.post(url, data={"grant_type": "password", "client_id": c.sf_client_id, "client_secret": c.sf_client_secret,
                           "username": c.sf_username, "password": c.sf_password}).json()
    assert ok["instance_url"] == sandbox.salesforce_url and ok["token_type"] == "Bearer" and "expires_in" not in ok
    refresh = s.post(url, data={"grant_type": "refresh_token", "client_id": c.sf_client_id,
                                "refresh_token": sandbox.salesforce.sessions.refresh_token})
    assert refresh.status_code == 200 and refresh.json()["access_token"]
    bad = s.post(url, data={"grant_type": "client_credentials"}, auth=(c.sf_client_id, "wrong"))
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    bad_user = s.post(url, data={"grant_type": "password", "client_id": c.sf_client_id,
                                 "client_secret": c.sf_client_secret, "username": c.sf_username, "password": "nope"})
    assert bad_user.json()["error"] == "invalid_grant"
    assert s.post(url, data={"grant_type": "magic"}).json()["error"] == "unsupported_grant_type"


def test_invalid_session_is_a_json_array_401(sandbox):
    r = ca_session(sandbox).get(sandbox.salesforce_url + "/services/data/v59.0/limits",
                                headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    assert r.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_limit_info_header_on_every_api_response(sandbox):
    s = ca_session(sandbox)
    t = token(sandbox, s)
    h = {"Authorization": f"Bearer {t['access_token']}"}
    seen = []
    for path in ("limits", "sobjects", "query?q=SELECT+Id+FROM+Account+LIMIT+1", "query?q=SELECT+Nope+FROM+Account"):
        r = s.get(f"{t['instance_url']}/services/data/v59.0/{path}", headers=h)
        m = re.fullmatch(r"api-usage=(\d+)/(\d+)", r.headers["Sforce-Limit-Info"])
        assert m and int(m.group(2)) == sandbox.salesforce.daily_limit
        seen.append(int(m.group(1)))
    assert seen == sorted(seen) and seen[-1] - seen[0] == 3
    limits = s.get(f"{t['instance_url']}/services/data/v59.0/limits", headers=h).json()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert limits["DailyApiRequests"]["Remaining"] == 100_000 - seen[-1] - 1


def test_describe_global_and_custom_fields(sandbox):
    sf = raw_sf(sandbox)
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert OBJECTS <= names
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    ext = fields["Xero_Contact_Id__c"]
    assert ext["custom"] and ext["externalId"] and ext["updateable"] and ext["idLookup"]
    assert fields["Xero_Outstanding__c"]["type"] == "currency" and fields["Xero_Overdue__c"]["custom"]
    assert fields["BillingAddress"]["type"] == "address" and not fields["BillingAddress"]["updateable"]
    assert fields["BillingCity"]["compoundFieldName"] == "BillingAddress"
    assert "USD" in [p["value"] for p in fields["CurrencyIsoCode"]["picklistValues"]]
    assert not fields["SystemModstamp"]["updateable"] and not fields["Id"]["createable"]
    opp = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    for name in ("Xero_Invoice_Id__c", "Xero_Invoice_Number__c", "Xero_Invoice_Status__c", "Xero_Amount_Paid__c",
                 "Xero_Amount_Due__c", "Xero_Fully_Paid_On__c"):
        assert opp[name]["custom"] and opp[name]["updateable"]
    assert opp["AccountId"]["referenceTo"] == ["Account"] and opp["AccountId"]["relationshipName"] == "Account"
    assert not opp["IsWon"]["updateable"]
    with pytest.raises(SalesforceResourceNotFound):
        sf.Foo__c.describe()


def test_rest_paging_makes_exactly_ceil_n_over_batch_calls(medium_sandbox):
    sf = raw_sf(medium_sandbox)
    sandbox_call(medium_sandbox, "sf", "DELETE", "/__sandbox/stats")
    headers = {"Sforce-Query-Options": "batchSize=300"}
    result = sf.query("SELECT Id FROM Contact ORDER BY SystemModstamp, Id", headers=headers)
    total = result["totalSize"]
    ids = [r["Id"] for r in result["records"]]
    assert len(ids) == 300 and not result["done"]
    assert re.fullmatch(r"/services/data/v59\.0/query/[A-Za-z0-9]+-300", result["nextRecordsUrl"])
    while not result["done"]:
        result = sf.query_more(result["nextRecordsUrl"], identifier_is_url=True, headers=headers)
        ids += [r["Id"] for r in result["records"]]
    assert total > 1000 and len(ids) == total == len(set(ids))
    stats = sandbox_call(medium_sandbox, "sf", "GET", "/__sandbox/stats")["requests"]
    assert stats["GET /services/data/v{version}/query"] == 1
    assert stats["GET /services/data/v{version}/query/{locator}"] == math.ceil(total / 300) - 1
    # batchSize is clamped to [200, 2000]; default 2000
    assert len(sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=5"})["records"]) == 200
    assert len(sf.query("SELECT Id FROM OpportunityLineItem")["records"]) == 2000


def test_bad_locator(sandbox):
    sf = raw_sf(sandbox)
    with pytest.raises(Exception) as info:
        sf.query_more("/services/data/v59.0/query/01gNOPE-200", identifier_is_url=True)
    assert info.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_writes_queryall_deletes_and_replication(make_sandbox):
    server = make_sandbox(size="small", seed=11)
    sf = raw_sf(server)
    start = utcnow() - dt.timedelta(minutes=5)
    acct = sf.Account.create({"Name": "Write Test Ltd", "CurrencyIsoCode": "GBP"})
    assert acct["success"] and acct["id"].startswith("001") and len(acct["id"]) == 18
    contact = sf.Contact.create({"LastName": "Lee", "AccountId": acct["id"]})["id"]
    rec = sf.Account.get(acct["id"])
    assert rec["CreatedDate"] == rec["SystemModstamp"] and rec["IsDeleted"] is False
    sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"advance_s": 5})
    assert sf.Account.update(acct["id"], {"Phone": "+44 20 1234"}) == 204
    after = sf.Account.get(acct["id"])
    assert after["SystemModstamp"] > rec["SystemModstamp"] and after["LastModifiedDate"] == after["SystemModstamp"]
    assert sf.Account.delete(acct["id"]) == 204
    q = f"SELECT Id, IsDeleted FROM Account WHERE Id = '{acct['id']}'"
    assert sf.query(q)["totalSize"] == 0
    deleted = sf.query(q, include_deleted=True)["records"]
    assert deleted[0]["IsDeleted"] is True
    # cascade: the account's contact went to the recycle bin too
    assert sf.query_all(f"SELECT Id FROM Contact WHERE Id = '{contact}'", include_deleted=True)["records"]
    assert sf.query(f"SELECT Id FROM Contact WHERE Id = '{contact}'")["totalSize"] == 0
    flagged = [r for r in sandbox_call(server, "sf", "GET", "/__sandbox/records/Account") if r["Id"] == acct["id"]]
    assert flagged[0]["IsDeleted"] is True
    end = utcnow() + dt.timedelta(minutes=5)
    gone = sf.Account.deleted(start, end)
    assert acct["id"] in [d["id"] for d in gone["deletedRecords"]] and gone["latestDateCovered"]
    updated = sf.Account.updated(start, end)
    assert acct["id"] not in updated["ids"] and "latestDateCovered" in updated
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(acct["id"])


def test_line_item_rolls_up_into_opportunity(make_sandbox):
    server = make_sandbox(size="small", seed=12)
    sf = raw_sf(server)
    acct = sf.Account.create({"Name": "Rollup Co"})["id"]
    opp = sf.Opportunity.create({"Name": "Deal", "AccountId": acct, "StageName": "Closed Won",
                                 "CloseDate": "2026-01-15", "CurrencyIsoCode": "USD"})["id"]
    before = sf.Opportunity.get(opp)
    assert before["IsWon"] is True and before["IsClosed"] is True and before["HasOpportunityLineItem"] is False
    pbe = sf.query("SELECT Id, UnitPrice FROM PricebookEntry WHERE CurrencyIsoCode = 'USD' "
                   "AND ProductCode = 'SUB-PRO'")["records"][0]
    sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"advance_s": 2})
    sf.OpportunityLineItem.create({"OpportunityId": opp, "PricebookEntryId": pbe["Id"], "Quantity": 2})
    after = sf.Opportunity.get(opp)
    assert after["Amount"] == 2 * pbe["UnitPrice"] and after["HasOpportunityLineItem"] is True
    assert after["SystemModstamp"] > before["SystemModstamp"]


def test_upsert_by_external_id_create_update_then_300(make_sandbox):
    server = make_sandbox(size="small", seed=13)
    sf = raw_sf(server)
    created = sf.Account.upsert("Xero_Contact_Id__c/XC-1", {"Name": "Ext One"}, raw_response=True)
    assert created.status_code == 201 and created.json()["created"] is True
    updated = sf.Account.upsert("Xero_Contact_Id__c/XC-1", {"Name": "Ext One Renamed"}, raw_response=True)
    assert updated.status_code == 200 and updated.json() == {"id": created.json()["id"], "success": True,
                                                             "errors": [], "created": False}
    assert sf.Account.get_by_custom_id("Xero_Contact_Id__c", "XC-1")["Name"] == "Ext One Renamed"
    sf.Account.create({"Name": "Duplicate", "Xero_Contact_Id__c": "XC-1"})
    with pytest.raises(SalesforceMoreThanOneRecord) as info:
        sf.Account.upsert("Xero_Contact_Id__c/XC-1", {"Name": "Which one?"})
    assert info.value.status == 300 and len(info.value.content) == 2
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.upsert("Name/whatever", {"Phone": "1"})


def test_collections_partial_failure_and_all_or_none(make_sandbox):
    server = make_sandbox(size="small", seed=14)
    sf = raw_sf(server)
    count = lambda: sf.query("SELECT COUNT() FROM Account")["totalSize"]  # noqa: E731
    before = count()
    recs = [{"attributes": {"type": "Account"}, "Name": "C1"}, {"attributes": {"type": "Account"}},
            {"attributes": {"type": "Account"}, "Name": "C3"}]
    res = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": recs})
    assert [r["success"] for r in res] == [True, False, True]
    assert res[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING" and res[1]["errors"][0]["fields"] == ["Name"]
    assert count() == before + 2
    res = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": recs})
    assert [r["success"] for r in res] == [False, False, False]
    assert res[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert res[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert count() == before + 2
    too_many = [{"attributes": {"type": "Account"}, "Name": f"N{i}"} for i in range(201)]
    with pytest.raises(Exception) as info:
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": too_many})
    assert info.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_bulk2_query_and_ingest_with_simple_salesforce(medium_sandbox):
    sf = raw_sf(medium_sandbox)
    total = sf.query("SELECT COUNT() FROM OpportunityLineItem")["totalSize"]
    pages = list(sf.bulk2.OpportunityLineItem.query("SELECT Id, Quantity, Opportunity.Name FROM OpportunityLineItem",
                                                   max_records=1000, wait=0.01))
    assert len(pages) == math.ceil(total / 1000)
    rows = [line for p in pages for line in p.splitlines()[1:]]
    assert pages[0].splitlines()[0] == "Id,Quantity,Opportunity.Name"
    assert len(rows) == total == len(set(rows))


def test_fixtures_load_exactly_and_reset_restores(make_sandbox):
    fixtures = {"salesforce": {
        "Account": [{"Name": "Only Account", "Xero_Contact_Id__c": "X1"}],
        "Contact": [{"LastName": "Solo", "Email": "solo@example.com"}],
    }, "xero": {}}
    server = make_sandbox(fixtures=fixtures)
    accounts = sandbox_call(server, "sf", "GET", "/__sandbox/records/Account")
    assert [a["Name"] for a in accounts] == ["Only Account"]
    a = accounts[0]
    assert a["Id"].startswith("001") and len(a["Id"]) == 18 and a["SystemModstamp"] and a["IsDeleted"] is False
    assert len(sandbox_call(server, "sf", "GET", "/__sandbox/records/Contact")) == 1
    assert sandbox_call(server, "sf", "GET", "/__sandbox/records/Opportunity") == []
    pricebooks = sandbox_call(server, "sf", "GET", "/__sandbox/records/Pricebook2")
    assert [p["IsStandard"] for p in pricebooks] == [True]
    users = sandbox_call(server, "sf", "GET", "/__sandbox/records/User")
    assert [u["Username"] for u in users] == [server.credentials.sf_username]
    sf = raw_sf(server)
    sf.Account.create({"Name": "Extra"})
    sandbox_call(server, "sf", "POST", "/__sandbox/reset")
    assert len(sandbox_call(server, "sf", "GET", "/__sandbox/records/Account")) == 1
    sandbox_call(server, "sf", "POST", "/__sandbox/fixtures", {"Account": [{"Name": "Replaced"}, {"Name": "Two"}]})
    assert len(sandbox_call(server, "sf", "GET", "/__sandbox/records/Account")) == 2
    with pytest.raises(requests.HTTPError):
        sandbox_call(server, "sf", "GET", "/__sandbox/records/NotAnObject")


def test_token_expiry_and_budget_on_the_wire(make_sandbox):
    server = make_sandbox(size="small", seed=15, faults="token_ttl_s=60")
    sf = raw_sf(server)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 40
    sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"advance_s": 61})
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT COUNT() FROM Account")
    sf = raw_sf(server)
    server.salesforce.daily_limit = server.salesforce.api_used + 1
    sf.query("SELECT COUNT() FROM Account")
    r = sf.session.get(f"{server.salesforce_url}/services/data/v59.0/limits",
                       headers={"Authorization": f"Bearer {sf.session_id}"})
    assert r.status_code == 403 and r.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_stats_count_the_faults_injected_by_kind(make_sandbox):
    """The soak reports the faults it ran under: the emulator counts each one it injects."""
    server = make_sandbox(size="small", seed=15)
    access = token(server)["access_token"]
    sandbox_call(server, "sf", "POST", "/__sandbox/faults", {"spec": "sf.503=1"})
    r = ca_session(server).get(f"{server.salesforce_url}/services/data/v59.0/limits",
                               headers={"Authorization": f"Bearer {access}"})
    assert r.status_code == 503
    assert sandbox_call(server, "sf", "GET", "/__sandbox/stats")["faults"] == {"503": 1}
    assert sandbox_call(server, "xero", "GET", "/__sandbox/stats")["faults"] == {}
