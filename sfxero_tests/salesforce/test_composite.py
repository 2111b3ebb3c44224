"""The Composite family through unmodified simple-salesforce: /composite, /composite/batch, sObject
Collections retrieve; reference chains, allOrNone rollback, the 25-subrequest limit, one API call each."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sfxero_pipelines.sandbox.runner import SandboxServer
from sfxero_tests.conftest import sandbox_call

from .conftest import raw_sf, sfid
from .soql_fixture import A1, A2, A5, soql_fixtures

V = "/services/data/v59.0"


@pytest.fixture(scope="module")
def server(sandbox_state_dir):
    with SandboxServer(size="small", fixtures={"salesforce": soql_fixtures()}, state_dir=sandbox_state_dir) as s:
        yield s


@pytest.fixture
def sf(server):
    sandbox_call(server, "sf", "POST", "/__sandbox/reset")
    return raw_sf(server)


def records(server, obj: str) -> dict[str, dict]:
    return {r["Id"]: r for r in sandbox_call(server, "sf", "GET", f"/__sandbox/records/{obj}")}


def composite(sf, subrequests: list[dict], all_or_none: bool = False) -> list[dict]:
    out = sf.restful("composite", method="POST", json={"allOrNone": all_or_none, "compositeRequest": subrequests})
    return out["compositeResponse"]


def test_reference_chain_runs_in_order_and_lands_in_the_org(sf, server):
    resp = composite(sf, [
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "acct", "body": {"Name": "Chain Co"}},
        {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "person",
         "body": {"LastName": "Linked", "AccountId": "@{acct.id}"}},
        {"method": "GET", "url": f"{V}/sobjects/Contact/@{{person.id}}?fields=AccountId,LastName",
         "referenceId": "readBack"},
        {"method": "GET", "url": f"{V}/query?q=SELECT+Id,Name+FROM+Account+WHERE+Id='@{{readBack.AccountId}}'",
         "referenceId": "q"},
        {"method": "PATCH", "url": f"{V}/sobjects/Account/@{{q.records[0].Id}}", "referenceId": "rename",
         "body": {"Name": "Chain Co (renamed by @{person.id})"}},
    ], all_or_none=True)
    assert [r["httpStatusCode"] for r in resp] == [201, 201, 200, 200, 204]
    assert [r["referenceId"] for r in resp] == ["acct", "person", "readBack", "q", "rename"]
    acct_id, person_id = resp[0]["body"]["id"], resp[1]["body"]["id"]
    assert resp[0]["httpHeaders"]["Location"] == f"{V}/sobjects/Account/{acct_id}"
    assert resp[2]["body"]["AccountId"] == acct_id and resp[2]["body"]["LastName"] == "Linked"
    assert resp[3]["body"]["totalSize"] == 1 and resp[4]["body"] is None
    assert records(server, "Contact")[person_id]["AccountId"] == acct_id
    assert records(server, "Account")[acct_id]["Name"] == f"Chain Co (renamed by {person_id})"


def test_all_or_none_rolls_back_every_write_of_the_request(sf, server):
    before_accounts, before_contacts = records(server, "Account"), records(server, "Contact")
    resp = composite(sf, [
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "acct", "body": {"Name": "Doomed"}},
        {"method": "PATCH", "url": f"{V}/sobjects/Account/{A1}", "referenceId": "edit", "body": {"Phone": "555"}},
        {"method": "POST", "url": f"{V}/composite/sobjects", "referenceId": "coll",
         "body": {"allOrNone": False, "records": [{"attributes": {"type": "Contact"}, "LastName": "Also doomed",
                                                   "AccountId": "@{acct.id}"}]}},
        {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "bad", "body": {"FirstName": "No last"}},
        {"method": "GET", "url": f"{V}/sobjects/Account/{A2}", "referenceId": "never"},
    ], all_or_none=True)
    assert [r["httpStatusCode"] for r in resp] == [400, 400, 400, 400, 400]
    assert resp[3]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    for i in (0, 1, 2, 4):
        assert resp[i]["body"][0]["errorCode"] == "PROCESSING_HALTED", resp[i]
    assert records(server, "Account") == before_accounts
    assert records(server, "Contact") == before_contacts


def test_without_all_or_none_only_dependents_of_a_failure_fail(sf, server):
    resp = composite(sf, [
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "good", "body": {"Name": "Kept"}},
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "bad", "body": {"Website": "x"}},
        {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "dependent",
         "body": {"LastName": "Orphaned", "AccountId": "@{bad.id}"}},
        {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "independent",
         "body": {"LastName": "Fine", "AccountId": "@{good.id}"}},
    ])
    assert [r["httpStatusCode"] for r in resp] == [201, 400, 400, 201]
    assert resp[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert resp[2]["body"][0]["errorCode"] == "PROCESSING_HALTED" and "bad.id" in resp[2]["body"][0]["message"]
    assert records(server, "Account")[resp[0]["body"]["id"]]["Name"] == "Kept"
    assert records(server, "Contact")[resp[3]["body"]["id"]]["AccountId"] == resp[0]["body"]["id"]


def test_more_than_25_subrequests_is_refused_whole(sf, server):
    before = records(server, "Account")
    subs = [{"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": f"a{i}", "body": {"Name": f"N{i}"}}
            for i in range(26)]
    with pytest.raises(SalesforceMalformedRequest) as info:
        composite(sf, subs)
    assert info.value.status == 400 and info.value.content[0]["errorCode"] == "LIMIT_EXCEEDED"
    assert records(server, "Account") == before
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite/batch", method="POST", json={"batchRequests": [
            {"method": "GET", "url": "v59.0/limits"}] * 26})
    assert info.value.content[0]["errorCode"] == "LIMIT_EXCEEDED"
    assert [r["httpStatusCode"] for r in composite(sf, subs[:25])] == [201] * 25


def test_more_than_5_query_or_collection_subrequests_is_refused_whole(sf):
    queries = [{"method": "GET", "url": f"{V}/query?q=SELECT+Id+FROM+Account", "referenceId": f"q{i}"}
               for i in range(5)]
    extra = {"method": "POST", "url": f"{V}/composite/sobjects", "referenceId": "coll",
             "body": {"records": [{"attributes": {"type": "Account"}, "Name": "Sixth"}]}}
    assert [r["httpStatusCode"] for r in composite(sf, queries)] == [200] * 5
    with pytest.raises(SalesforceMalformedRequest) as info:
        composite(sf, queries + [extra])
    assert info.value.content[0]["errorCode"] == "LIMIT_EXCEEDED"
    assert set(sf.restful("composite")) == {"tree", "batch", "sobjects"}


def test_duplicate_reference_id_is_refused_whole(sf):
    with pytest.raises(SalesforceMalformedRequest) as info:
        composite(sf, [{"method": "GET", "url": f"{V}/limits", "referenceId": "x"}] * 2)
    assert info.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def _remaining(sf) -> int:
    return sf.limits()["DailyApiRequests"]["Remaining"]


def test_each_composite_resource_is_one_api_call(sf, server):
    subs = [{"method": "GET", "url": f"{V}/sobjects/Account/{A1}", "referenceId": f"r{i}"} for i in range(25)]
    before = _remaining(sf)
    composite(sf, subs)
    after_composite = _remaining(sf)
    assert before - after_composite == 2  # the composite and the second /limits call
    used = sf.api_usage["api-usage"].used
    sf.restful("composite/batch", method="POST", json={"batchRequests": [
        {"method": "GET", "url": "v59.0/sobjects/Account/describe"}] * 25})
    assert sf.api_usage["api-usage"].used == used + 1
    sf.restful("composite/sobjects/Account", params={"ids": A1, "fields": "Name"})
    assert sf.api_usage["api-usage"].used == used + 2
    stats = sandbox_call(server, "sf", "GET", "/__sandbox/stats")["requests"]
    assert stats["POST /services/data/v{version}/composite"] == 1
    assert not any("sobjects/{sobject}/{record_id}" in k for k in stats)  # subrequests are not HTTP calls


def test_batch_runs_independent_subrequests_and_halts_on_request(sf):
    reqs = [{"method": "GET", "url": "v59.0/sobjects/Account/describe"},
            {"method": "GET", "url": "v59.0/sobjects/Nope__c/describe"},
            {"method": "GET", "url": "/services/data/v59.0/sobjects/Contact/describe"},
            {"method": "PATCH", "url": f"v59.0/sobjects/Account/{A1}", "richInput": {"Phone": "+1 555 0100"}}]
    out = sf.restful("composite/batch", method="POST", json={"batchRequests": reqs})
    assert out["hasErrors"] is True
    assert [r["statusCode"] for r in out["results"]] == [200, 404, 200, 204]
    assert out["results"][0]["result"]["name"] == "Account" and out["results"][2]["result"]["name"] == "Contact"
    assert out["results"][3]["result"] is None
    halted = sf.restful("composite/batch", method="POST", json={"batchRequests": reqs, "haltOnError": True})
    assert [r["statusCode"] for r in halted["results"]] == [200, 404, 412, 412]
    assert halted["results"][2]["result"][0]["errorCode"] == "BATCH_PROCESSING_HALTED"
    clean = sf.restful("composite/batch", method="POST", json={"batchRequests": [reqs[0]]})
    assert clean["hasErrors"] is False


def test_collections_retrieve_by_ids_returns_the_orgs_records(sf, server):
    held = records(server, "Account")
    missing = sfid("001", 999)
    got = sf.restful("composite/sobjects/Account", params={"ids": f"{A2},{A1},{A5},{missing}",
                                                          "fields": "Id,Name,AnnualRevenue,Parent.Name"})
    assert [r and r["Id"] for r in got] == [A2, A1, None, None]  # deleted and unknown ids come back null
    for rec in got[:2]:
        assert rec["attributes"]["type"] == "Account"
        assert rec["Name"] == held[rec["Id"]]["Name"] and rec["AnnualRevenue"] == held[rec["Id"]]["AnnualRevenue"]
    posted = sf.restful("composite/sobjects/Account", method="POST", json={"ids": [A1], "fields": ["Name"]})
    assert posted == [{"attributes": got[1]["attributes"], "Name": held[A1]["Name"]}]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite/sobjects/Account", params={"ids": A1, "fields": "Nope"})
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_tree_inserts_a_hierarchy_all_or_nothing(sf, server):
    tree = {"records": [
        {"attributes": {"type": "Account", "referenceId": "acc1"}, "Name": "Tree Co",
         "Contacts": {"records": [
             {"attributes": {"type": "Contact", "referenceId": "c1"}, "LastName": "Leaf", "Email": "l@tree.example"},
             {"attributes": {"type": "Contact", "referenceId": "c2"}, "LastName": "Twig"}]},
         "Opportunities": {"records": [
             {"attributes": {"type": "Opportunity", "referenceId": "o1"}, "Name": "Tree deal",
              "StageName": "Prospecting", "CloseDate": "2027-01-31"}]}},
        {"attributes": {"type": "Account", "referenceId": "acc2"}, "Name": "Second Tree"},
    ]}
    out = sf.restful("composite/tree/Account", method="POST", json=tree)
    assert out["hasErrors"] is False
    ids = {r["referenceId"]: r["id"] for r in out["results"]}
    assert set(ids) == {"acc1", "c1", "c2", "o1", "acc2"}
    contacts, opps = records(server, "Contact"), records(server, "Opportunity")
    assert contacts[ids["c1"]]["AccountId"] == ids["acc1"] and contacts[ids["c2"]]["LastName"] == "Twig"
    assert opps[ids["o1"]]["AccountId"] == ids["acc1"]
    assert records(server, "Account")[ids["acc2"]]["Name"] == "Second Tree"

    before_accounts, before_contacts = records(server, "Account"), records(server, "Contact")
    tree["records"][1] = {"attributes": {"type": "Account", "referenceId": "bad"}, "Website": "no name"}
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite/tree/Account", method="POST", json=tree)
    assert info.value.content["hasErrors"] is True
    assert [r["referenceId"] for r in info.value.content["results"]] == ["bad"]
    assert info.value.content["results"][0]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert records(server, "Account") == before_accounts and records(server, "Contact") == before_contacts
