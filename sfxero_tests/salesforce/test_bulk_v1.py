"""Bulk API 1.0 query jobs: unmodified simple-salesforce `sf.bulk.<Object>.query/query_all` (JSON jobs),
and the XML/CSV wire forms with PK chunking over plain HTTPS, against what the org holds."""

from __future__ import annotations

import csv
import datetime as dt
import io
import xml.etree.ElementTree as ET

import pytest
from simple_salesforce.exceptions import SalesforceGeneralError

from sfxero_pipelines.sandbox.runner import SandboxServer
from sfxero_pipelines.sandbox.salesforce import schema
from sfxero_tests.conftest import sandbox_call

from .conftest import ca_session, raw_sf, token
from .soql_fixture import A5, soql_fixtures

NS = {"a": "http://www.force.com/2009/06/asyncapi/dataload"}


@pytest.fixture(scope="module")
def server(sandbox_state_dir):
    with SandboxServer(size="small", fixtures={"salesforce": soql_fixtures()}, state_dir=sandbox_state_dir) as s:
        yield s


def held(server, obj: str) -> dict[str, dict]:
    return {r["Id"]: r for r in sandbox_call(server, "sf", "GET", f"/__sandbox/records/{obj}")}


def as_bulk_json(value, ftype: str):
    """What the real Bulk 1.0 JSON result carries for a stored value: epoch milliseconds for dates and datetimes."""
    if value is None or ftype not in ("date", "datetime"):
        return value
    if ftype == "date":
        return int(dt.datetime.fromisoformat(value + "T00:00:00+00:00").timestamp() * 1000)
    return int(dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)


def assert_same_records(got: list[dict], expected: dict[str, dict], obj: str, fields: list[str]) -> None:
    types = {f.name: f.type for f in schema.OBJECTS[obj].fields}
    assert sorted(r["Id"] for r in got) == sorted(expected)
    for rec in got:
        assert rec["attributes"]["type"] == obj
        want = {f: as_bulk_json(expected[rec["Id"]][f], types[f]) for f in fields}
        assert {f: rec[f] for f in fields} == want, rec["Id"]


def test_simple_salesforce_bulk_query_returns_every_live_record(sandbox):
    sf = raw_sf(sandbox)
    fields = [f.name for f in schema.OBJECTS["Opportunity"].fields if f.type != "address"]
    got = sf.bulk.Opportunity.query(f"SELECT {', '.join(fields)} FROM Opportunity", wait=0)
    live = {i: r for i, r in held(sandbox, "Opportunity").items() if not r["IsDeleted"]}
    assert len(got) == len(live) > 20
    assert_same_records(got, live, "Opportunity", fields)


def test_query_all_includes_deleted_records(server):
    sf = raw_sf(server)
    fields = ["Id", "Name", "IsDeleted", "AnnualRevenue", "CreatedDate", "ParentId"]
    soql = f"SELECT {', '.join(fields)} FROM Account"
    everything = held(server, "Account")
    assert_same_records(sf.bulk.Account.query_all(soql, wait=0), everything, "Account", fields)
    live = sf.bulk.Account.query(soql, wait=0)
    assert A5 not in {r["Id"] for r in live} and len(live) == len(everything) - 1
    nested = sf.bulk.Account.query("SELECT Id, Parent.Name FROM Account WHERE ParentId != null", wait=0)
    assert [r["Parent"]["Name"] for r in nested] == ["Acme Corp"]


def test_a_query_salesforce_refuses_fails_the_batch(server):
    sf = raw_sf(server)
    with pytest.raises(SalesforceGeneralError) as info:
        sf.bulk.Account.query("SELECT Id, Nope FROM Account", wait=0)
    assert "InvalidBatch" in str(info.value) and "INVALID_FIELD" in str(info.value)
    with pytest.raises(SalesforceGeneralError) as info:
        sf.bulk.Account.query("SELECT COUNT() FROM Account", wait=0)
    assert "InvalidBatch" in str(info.value)


def test_each_bulk_v1_request_is_one_api_call_and_each_batch_counts(server):
    sf = raw_sf(server)
    before = sf.limits()
    sf.bulk.Contact.query("SELECT Id FROM Contact", wait=0)
    after = sf.limits()
    # create job, add batch, close job, batch state, result list, one result = 6 calls; plus this /limits.
    assert before["DailyApiRequests"]["Remaining"] - after["DailyApiRequests"]["Remaining"] == 7
    assert before["DailyBulkApiBatches"]["Remaining"] - after["DailyBulkApiBatches"]["Remaining"] == 1


def _xml(resp) -> ET.Element:
    assert resp.headers["content-type"].startswith("application/xml"), resp.text
    return ET.fromstring(resp.content)


def test_xml_job_csv_results_and_pk_chunking(server):
    s = ca_session(server)
    base = server.salesforce_url + "/services/async/59.0"
    headers = {"X-SFDC-Session": token(server, s)["access_token"], "Content-Type": "application/xml; charset=UTF-8"}
    job_xml = ('<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
               "<operation>queryAll</operation><object>Account</object><contentType>CSV</contentType></jobInfo>")
    r = s.post(base + "/job", data=job_xml, headers={**headers, "Sforce-Enable-PKChunking": "chunkSize=2"})
    assert r.status_code == 201
    job = _xml(r)
    job_id = job.findtext("a:id", namespaces=NS)
    assert job.findtext("a:state", namespaces=NS) == "Open" and job.findtext("a:contentType", namespaces=NS) == "CSV"
    r = s.post(f"{base}/job/{job_id}/batch", data="SELECT Id, Name, CreatedDate FROM Account WHERE Name != 'acme corp'",
               headers={**headers, "Content-Type": "text/csv; charset=UTF-8"})
    assert r.status_code == 201 and _xml(r).findtext("a:state", namespaces=NS) == "Queued"
    closed = _xml(s.post(f"{base}/job/{job_id}", data='<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
                         "<state>Closed</state></jobInfo>", headers=headers))
    assert closed.findtext("a:state", namespaces=NS) == "Closed"
    batches = _xml(s.get(f"{base}/job/{job_id}/batch", headers=headers)).findall("a:batchInfo", NS)
    states = [b.findtext("a:state", namespaces=NS) for b in batches]
    assert states[0] == "NotProcessed" and set(states[1:]) == {"Completed"} and len(states) == 1 + 3  # 6 ids / 2
    rows = []
    for b in batches[1:]:
        bid = b.findtext("a:id", namespaces=NS)
        results = _xml(s.get(f"{base}/job/{job_id}/batch/{bid}/result", headers=headers))
        for rid in [e.text for e in results.findall("a:result", NS)]:
            text = s.get(f"{base}/job/{job_id}/batch/{bid}/result/{rid}", headers=headers).text
            assert text.startswith('"Id","Name","CreatedDate"\n')  # Bulk 1.0 CSV quotes every value
            rows += list(csv.DictReader(io.StringIO(text)))
    expected = {i: r for i, r in held(server, "Account").items() if r["Name"].casefold() != "acme corp"}  # SOQL ignores case
    assert sorted(r["Id"] for r in rows) == sorted(expected)
    for row in rows:
        assert row["Name"] == expected[row["Id"]]["Name"]
        assert row["CreatedDate"] == expected[row["Id"]]["CreatedDate"][:23] + "Z"


def test_xml_results_and_session_errors(server):
    s = ca_session(server)
    base = server.salesforce_url + "/services/async/59.0"
    refused = s.post(base + "/job", data="<jobInfo/>", headers={"Content-Type": "application/xml"})
    assert refused.status_code == 400
    assert _xml(refused).findtext("a:exceptionCode", namespaces=NS) == "InvalidSessionId"
    headers = {"X-SFDC-Session": token(server, s)["access_token"], "Content-Type": "application/xml"}
    job_xml = ('<jobInfo xmlns="http://www.force.com/2009/06/asyncapi/dataload"><operation>query</operation>'
               "<object>Contact</object></jobInfo>")
    job = _xml(s.post(base + "/job", data=job_xml, headers=headers))
    assert job.findtext("a:contentType", namespaces=NS) == "XML"  # the real API's default
    job_id = job.findtext("a:id", namespaces=NS)
    batch = _xml(s.post(f"{base}/job/{job_id}/batch", data="SELECT Id, LastName, Email, Account.Name FROM Contact",
                        headers=headers))
    bid = batch.findtext("a:id", namespaces=NS)
    assert _xml(s.get(f"{base}/job/{job_id}/batch/{bid}", headers=headers)).findtext("a:state", namespaces=NS) == "Completed"
    rid = _xml(s.get(f"{base}/job/{job_id}/batch/{bid}/result", headers=headers)).findtext("a:result", namespaces=NS)
    result = _xml(s.get(f"{base}/job/{job_id}/batch/{bid}/result/{rid}", headers=headers))
    records = result.findall("a:records", NS)
    expected = {i: r for i, r in held(server, "Contact").items() if not r["IsDeleted"]}
    assert sorted(r.findtext("a:Id", namespaces=NS) for r in records) == sorted(expected)
    nil = "{http://www.w3.org/2001/XMLSchema-instance}nil"
    for rec in records:
        want = expected[rec.findtext("a:Id", namespaces=NS)]
        email = rec.find("a:Email", NS)
        assert (email.get(nil) == "true") if want["Email"] is None else (email.text == want["Email"])
    ingest = s.post(base + "/job", json={"operation": "insert", "object": "Account", "contentType": "JSON"},
                    headers={"X-SFDC-Session": headers["X-SFDC-Session"]})
    assert ingest.status_code == 400 and "Bulk API 2.0" in ingest.json()["exceptionMessage"]


def test_bulk_jobs_after_a_sandbox_reset_are_metered(server):
    # Both Bulk generations' jobs must land in the post-reset job tables that /limits reads.
    sandbox_call(server, "sf", "POST", "/__sandbox/reset")
    sf = raw_sf(server)
    before = sf.limits()
    list(sf.bulk2.Account.query("SELECT Id FROM Account", wait=0))
    sf.bulk.Account.query("SELECT Id FROM Account", wait=0)
    after = sf.limits()
    assert before["DailyBulkV2QueryJobs"]["Remaining"] - after["DailyBulkV2QueryJobs"]["Remaining"] == 1
    assert before["DailyBulkApiBatches"]["Remaining"] - after["DailyBulkApiBatches"]["Remaining"] == 1


def test_csv_job_created_from_json_answers_batches_in_xml(server):
    # The flow of Singer's tap-salesforce: JSON jobInfo with contentType CSV, then XML batchInfo / result-list.
    s = ca_session(server)
    base = server.salesforce_url + "/services/async/59.0"
    headers = {"X-SFDC-Session": token(server, s)["access_token"], "Content-Type": "application/json"}
    job = s.post(base + "/job", json={"operation": "queryAll", "object": "Contact", "contentType": "CSV"},
                 headers={**headers, "Sforce-Enable-PKChunking": "true"})
    assert job.status_code == 201 and job.json()["contentType"] == "CSV" and job.json()["state"] == "Open"
    job_id = job.json()["id"]
    batch = _xml(s.post(f"{base}/job/{job_id}/batch", data="SELECT Id, LastName FROM Contact",
                        headers={**headers, "Content-Type": "text/csv"}))
    assert batch.findtext("a:jobId", namespaces=NS) == job_id
    infos = _xml(s.get(f"{base}/job/{job_id}/batch", headers=headers)).findall("a:batchInfo", NS)
    assert [b.findtext("a:state", namespaces=NS) for b in infos] == ["NotProcessed", "Completed"]
    chunk = infos[1].findtext("a:id", namespaces=NS)
    rid = _xml(s.get(f"{base}/job/{job_id}/batch/{chunk}/result", headers=headers)).findtext("a:result", namespaces=NS)
    rows = list(csv.DictReader(io.StringIO(s.get(f"{base}/job/{job_id}/batch/{chunk}/result/{rid}",
                                                 headers=headers).text)))
    assert {r["Id"]: r["LastName"] for r in rows} == {i: r["LastName"] for i, r in held(server, "Contact").items()}
    bad_chunk = s.post(base + "/job", json={"operation": "query", "object": "Contact", "contentType": "CSV"},
                       headers={**headers, "Sforce-Enable-PKChunking": "chunkSize=999999"})
    assert bad_chunk.status_code == 400 and bad_chunk.json()["exceptionCode"] == "InvalidJob"
