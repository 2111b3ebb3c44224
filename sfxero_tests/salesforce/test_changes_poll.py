"""Salesforce change polling in one call (real client, real HTTPS emulator): the changes of several
objects from one /composite/batch request that costs exactly one API call; the (SystemModstamp, Id)
cursor resumes through ties without skipping or repeating; one bad object fails alone. And the poll
interval rule (pure): share of the daily budget over 24 h, stretching as it falls, never below 10 s."""

from __future__ import annotations

import datetime as dt

import pytest

from sfxero_pipelines.clients.salesforce_changes import (ChangeCursor, changes_since, changes_soql,
                                                         poll_interval_s)
from sfxero_pipelines.config import parse_config
from sfxero_pipelines.errors import ConfigError
from sfxero_tests.conftest import sandbox_call

from .conftest import raw_sf, resource


def sandbox_now(server) -> dt.datetime:
    return dt.datetime.fromisoformat(sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"advance_s": 0})["now"])


def live_ids(server, sobject: str, n: int) -> list[str]:
    return [r["Id"] for r in server.salesforce.records(sobject) if not r.get("IsDeleted")][:n]


@pytest.fixture
def server(make_sandbox):
    return make_sandbox()


def test_changes_of_several_objects_in_exactly_one_call(server):
    sf = raw_sf(server)
    accounts, contacts, opportunities = (live_ids(server, o, 3) for o in ("Account", "Contact", "Opportunity"))
    sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"advance_s": 5})
    since = sandbox_now(server)
    sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"advance_s": 1})
    for account_id in accounts[:2]:
        sf.Account.update(account_id, {"Phone": "+1 555 0101"})
    sf.Contact.update(contacts[0], {"Title": "Head of Webhooks"})
    sf.Opportunity.delete(opportunities[0])
    cursors = {"Account": since, "Contact": since, "Opportunity": since, "Product2": since}
    with resource(server).get_client() as client:
        client.limits()  # a first call, so the usage before the poll is known from Sforce-Limit-Info
        used_before = client.api_usage[0]
        sandbox_call(server, "sf", "DELETE", "/__sandbox/stats")
        changes = changes_since(client, cursors)
        assert client.api_usage[0] == used_before + 1
        assert client.api_calls["composite/batch"] == 1
    stats = sandbox_call(server, "sf", "GET", "/__sandbox/stats")
    assert stats["total"] == 1 and list(stats["requests"]) == ["POST /services/data/v{version}/composite/batch"]
    assert sorted(changes["Account"].changed_ids) == sorted(accounts[:2])
    assert changes["Contact"].changed_ids == [contacts[0]]
    assert changes["Opportunity"].deleted_ids == [opportunities[0]] and changes["Opportunity"].changed_ids == []
    assert changes["Product2"].changed_ids == [] and changes["Product2"].cursor == ChangeCursor(since)
    assert not any(c.more or c.error for c in changes.values())
    # From the new cursors nothing is new, and the cursors stay put.
    with resource(server).get_client() as client:
        again = changes_since(client, {name: c.cursor for name, c in changes.items()})
    assert all(not c.changed_ids and not c.deleted_ids for c in again.values())
    assert {n: c.cursor for n, c in again.items()} == {n: c.cursor for n, c in changes.items()}


def test_the_cursor_resumes_through_records_sharing_one_modstamp(server):
    sf = raw_sf(server)
    accounts = live_ids(server, "Account", 5)
    since = sandbox_now(server) + dt.timedelta(seconds=1)
    sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"advance_s": 2, "freeze": True})
    try:
        for account_id in accounts:  # all five at the same SystemModstamp
            sf.Account.update(account_id, {"Phone": "+1 555 0102"})
    finally:
        sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"freeze": False})
    seen, cursor, pages = [], ChangeCursor(since), []
    with resource(server).get_client() as client:
        for _ in range(4):
            page = changes_since(client, {"Account": cursor}, limit=2)["Account"]
            seen += page.changed_ids
            pages.append((len(page.changed_ids), page.more))
            cursor = page.cursor
            if not page.more:
                break
    assert pages == [(2, True), (2, True), (1, False)]
    assert sorted(seen) == sorted(accounts) and len(seen) == 5  # none skipped, none repeated


def test_a_bad_object_fails_alone(server):
    since = sandbox_now(server) - dt.timedelta(days=3650)
    with resource(server).get_client() as client:
        changes = changes_since(client, {"Account": since, "NoSuchThing__c": since}, limit=5)
    assert changes["NoSuchThing__c"].error.startswith("NoSuchThing__c: INVALID_TYPE")
    assert changes["NoSuchThing__c"].cursor == ChangeCursor(since)
    assert changes["Account"].error is None and len(changes["Account"].changed_ids) == 5


def test_the_poll_query_and_its_limits():
    cursor = ChangeCursor(dt.datetime(2026, 12, 3, 10, 15, 39, 902_000, tzinfo=dt.timezone.utc), "001000000000001AAA")
    assert changes_soql("Account", cursor, 50) == (
        "SELECT Id, SystemModstamp, IsDeleted FROM Account WHERE (SystemModstamp = 2026-12-03T10:15:39.902Z "
        "AND Id > '001000000000001AAA') OR SystemModstamp > 2026-12-03T10:15:39.902Z "
        "ORDER BY SystemModstamp ASC, Id ASC LIMIT 50")
    with pytest.raises(ValueError, match="not a Salesforce id"):
        changes_soql("Account", ChangeCursor(cursor.modstamp, "x' OR Name != '"))
    with pytest.raises(ValueError, match="1 to 25 objects"):
        changes_since(None, {f"O{i}__c": cursor for i in range(26)})


def test_poll_interval_follows_the_budget():
    # 5% of 100,000 calls a day is 5,000 polls: one every 17.28 s.
    assert poll_interval_s(daily_limit=100_000, remaining=100_000) == pytest.approx(17.28)
    # It stretches as the budget left falls: half left, twice the interval; a tenth left, ten times.
    assert poll_interval_s(daily_limit=100_000, remaining=50_000) == pytest.approx(34.56)
    assert poll_interval_s(daily_limit=100_000, remaining=10_000) == pytest.approx(172.8)
    intervals = [poll_interval_s(daily_limit=15_000, remaining=r) for r in range(15_000, -1, -500)]
    assert intervals == sorted(intervals) and intervals[-1] == 24 * 3600
    # Never below 10 s, however large the allocation or the share.
    assert poll_interval_s(daily_limit=5_000_000, remaining=5_000_000) == 10
    assert poll_interval_s(daily_limit=100_000, remaining=100_000, share=0.5, minimum_s=1) == 10
    # A poll costing two calls halves the polls the share buys.
    assert poll_interval_s(daily_limit=100_000, remaining=100_000, calls_per_poll=2) == pytest.approx(34.56)


def test_realtime_config_section():
    config = parse_config({"realtime": {"enabled": False, "salesforce_budget_share": 0.02,
                                        "salesforce_objects": ["Account", "Opportunity"]}})
    assert not config.realtime.enabled and config.realtime.salesforce_budget_share == 0.02
    assert parse_config({}).realtime.enabled is True  # the lane's sensor starts RUNNING (make dev)
    with pytest.raises(ConfigError, match="realtime.min_poll_interval_s"):
        parse_config({"realtime": {"min_poll_interval_s": 5}})
    with pytest.raises(ConfigError, match="realtime.salesforce_objects"):
        parse_config({"realtime": {"salesforce_objects": [f"O{i}__c" for i in range(26)]}})
