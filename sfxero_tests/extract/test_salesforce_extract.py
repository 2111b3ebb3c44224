"""Salesforce extract into staging, on SQLite and the real PostgreSQL, through real Dagster runs
against the Salesforce emulator over HTTPS with the real simple-salesforce:
- a full extract equals the emulator's records, field for field (deleted rows flagged);
- a change, a new record and a delete made through the API between runs arrive;
- a record written in the same second as the (SystemModstamp, Id) cursor is not lost;
- rematerializing one partition fixes exactly its window; a 30-day backfill equals a full extract;
- an unchanged incremental run costs exactly one API call; custom fields arrive without code changes.
"""

from __future__ import annotations

import datetime as dt

import requests
from simple_salesforce import Salesforce

from sfxero_pipelines.defs.salesforce.assets import build_salesforce_extract_asset

from ..conftest import sandbox_call
from .conftest import materialize, metadata_of, salesforce_resource, staged, today

OBJECTS = ["Account", "Contact", "Opportunity", "OpportunityLineItem", "Product2", "PricebookEntry", "Lead",
           "Campaign", "CampaignMember", "Order", "OrderItem"]
TABLES = {"Account": "sf_account", "Contact": "sf_contact", "Opportunity": "sf_opportunity",
          "OpportunityLineItem": "sf_opportunity_line_item", "Product2": "sf_product2",
          "PricebookEntry": "sf_pricebook_entry", "Lead": "sf_lead", "Campaign": "sf_campaign",
          "CampaignMember": "sf_campaign_member", "Order": "sf_order", "OrderItem": "sf_order_item"}


def _run(server, staging, objects: list[str], **kwargs):
    # Built now: the partitions follow the configuration in force (see `past_days`).
    return materialize([build_salesforce_extract_asset(o) for o in objects],
                       {"salesforce": salesforce_resource(server), "staging": staging},
                       **kwargs)


def simple_salesforce(server) -> Salesforce:
    """The real simple-salesforce, logged in with the client-credentials grant, trusting the sandbox CA."""
    env = server.env
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override session.verify
    session.verify = env["SFXERO_CA_BUNDLE"]
    token = session.post(f"{env['SALESFORCE_LOGIN_URL']}/services/oauth2/token", data={"grant_type": "client_credentials"},
                         auth=(env["SALESFORCE_CLIENT_ID"], env["SALESFORCE_CLIENT_SECRET"]), timeout=30).json()
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session,
                      version=env["SALESFORCE_API_VERSION"])


def _emulator(server, sobject: str) -> dict[str, dict]:
    return {r["Id"]: r for r in sandbox_call(server, "sf", "GET", f"/__sandbox/records/{sobject}")}


def test_full_extract_equals_emulator_records(make_sandbox, staging):
    server = make_sandbox()
    sf = simple_salesforce(server)
    doomed = next(iter(_emulator(server, "Lead")))
    sf.Lead.delete(doomed)  # soft delete: must arrive as is_deleted, not vanish
    result = _run(server, staging, OBJECTS, partition=today())
    assert result.success
    for sobject in OBJECTS:
        expected, rows = _emulator(server, sobject), staged(staging, TABLES[sobject])
        assert expected and set(rows) == set(expected), sobject
        described = {f["name"] for f in sf.restful(f"sobjects/{sobject}/describe")["fields"]
                     if f["type"] not in ("address", "location")}
        for record_id, record in expected.items():
            raw = rows[record_id]["raw"]
            for field in described & set(record):
                assert raw.get(field) == record[field], (sobject, record_id, field)
            assert bool(rows[record_id]["is_deleted"]) == bool(record.get("IsDeleted")), (sobject, record_id)
    assert staged(staging, "sf_lead")[doomed]["is_deleted"]
    # Custom fields from describe are typed columns, no code change needed.
    assert "xero_contact_id__c" in next(iter(staged(staging, "sf_account").values()))


def test_changes_new_records_and_deletes_arrive(make_sandbox, staging):
    server = make_sandbox()
    assert _run(server, staging, ["Account"], partition=today()).success
    before = staged(staging, "sf_account")
    changed, doomed = sorted(before)[:2]
    sf = simple_salesforce(server)
    sf.Account.update(changed, {"Phone": "+44 20 7946 0000"})
    created = sf.Account.create({"Name": "Brand New Account Ltd"})["id"]
    sf.Account.delete(doomed)

    result = _run(server, staging, ["Account"], partition=today())
    assert result.success
    meta = metadata_of(result, "sf_account")
    assert meta["incremental"] and meta["rows_staged"] < len(before)
    rows = staged(staging, "sf_account")
    assert rows[changed]["phone"] == "+44 20 7946 0000"
    assert rows[created]["name"] == "Brand New Account Ltd" and not rows[created]["is_deleted"]
    assert rows[doomed]["is_deleted"]
    assert len(rows) == len(before) + 1  # nothing disappeared


def test_record_written_in_the_cursor_second_is_not_lost(make_sandbox, staging):
    server = make_sandbox()
    sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"freeze": True})
    sf = simple_salesforce(server)
    first = sf.Account.create({"Name": "Same Second One"})["id"]
    assert _run(server, staging, ["Account"], partition=today()).success
    second = sf.Account.create({"Name": "Same Second Two"})["id"]  # same frozen second as the cursor
    stamps = {r["Id"]: r["SystemModstamp"] for r in _emulator(server, "Account").values() if r["Id"] in (first, second)}
    assert stamps[first] == stamps[second]
    assert _run(server, staging, ["Account"], partition=today()).success
    assert {first, second} <= set(staged(staging, "sf_account"))


def _stamp(day: dt.date) -> str:
    return f"{day.isoformat()}T12:00:00.000+0000"


def _dated_fixture() -> tuple[dict, dict[dt.date, list[str]]]:
    accounts = []
    for offset in (1, 2, 3, 5, 8, 13, 21, 29):
        day = today() - dt.timedelta(days=offset)
        for n in range(2):
            accounts.append({"Name": f"Window {offset}-{n}", "CreatedDate": _stamp(day), "LastModifiedDate": _stamp(day),
                             "SystemModstamp": _stamp(day)})
    return {"salesforce": {"Account": accounts}}, {}


def _by_day(server) -> dict[dt.date, list[str]]:
    out: dict[dt.date, list[str]] = {}
    for record in _emulator(server, "Account").values():
        out.setdefault(dt.date.fromisoformat(record["SystemModstamp"][:10]), []).append(record["Id"])
    return out


def test_rematerializing_one_partition_fixes_exactly_its_window(make_sandbox, staging, past_days):
    fixtures, _ = _dated_fixture()
    server = make_sandbox(fixtures=fixtures)
    by_day = _by_day(server)
    days = sorted(d for d in by_day if d < today())
    assert len(days) == 8
    assert _run(server, staging, ["Account"], partition_range=(days[0], today())).success
    broken_day, other_day = days[-2], days[-1]
    with staging.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM sf_account WHERE id IN ({','.join(repr(i) for i in by_day[broken_day])})")
        conn.exec_driver_sql(f"UPDATE sf_account SET name = 'corrupted' WHERE id = '{by_day[other_day][0]}'")
    result = _run(server, staging, ["Account"], partition=broken_day)
    assert result.success and metadata_of(result, "sf_account")["rows_staged"] == 2
    rows = staged(staging, "sf_account")
    assert set(by_day[broken_day]) <= set(rows)
    assert rows[by_day[other_day][0]]["name"] == "corrupted"


def test_backfill_over_30_days_equals_full_extract(make_sandbox, staging, tmp_path, past_days):
    from sfxero_pipelines.defs.staging.resources import StagingDatabase

    fixtures, _ = _dated_fixture()
    server = make_sandbox(fixtures=fixtures)
    assert _run(server, staging, ["Account"], partition_range=(today() - dt.timedelta(days=30), today() - dt.timedelta(days=1))).success
    full = StagingDatabase(url=f"sqlite:///{tmp_path / 'full.db'}")
    assert _run(server, full, ["Account"], partition=today()).success
    backfilled, extracted = staged(staging, "sf_account"), staged(full, "sf_account")
    assert len(extracted) == 16 and set(backfilled) == set(extracted)
    assert all(backfilled[i]["raw"] == extracted[i]["raw"] for i in extracted)
    full.dispose()


def test_unchanged_incremental_costs_one_call(make_sandbox, staging):
    server = make_sandbox()
    first = metadata_of(_run(server, staging, ["Account"], partition=today()), "sf_account")
    assert first["window_start"] == "beginning" and first["dagster/row_count"] == first["rows_staged"] > 0
    assert first["api_budget"]["max"] > first["api_budget"]["used"] > 0
    sandbox_call(server, "sf", "DELETE", "/__sandbox/stats")
    again = metadata_of(_run(server, staging, ["Account"], partition=today()), "sf_account")
    stats = sandbox_call(server, "sf", "GET", "/__sandbox/stats")
    data_calls = {k: v for k, v in stats["requests"].items() if "oauth2/token" not in k}
    assert sum(data_calls.values()) == 1, data_calls
    assert again["incremental"] is True
