"""Xero without a webhook endpoint (realtime/xero_poll.py, realtime.xero_poll): the lane's sensor polls
Contacts and Invoices with If-Modified-Since, against the sandbox over HTTPS:
- a first tick starts the cursors and requests nothing; a contact edited through the API afterwards is
  in the next due tick's run request, and is not reported again by the poll after it (Xero's header is
  inclusive to the second: the ids at the cursor's second are remembered);
- the interval is paced on the tenant's daily limit: 5% of 1,000 calls at two calls a poll is one poll
  every 3,456 s, and it stretches as X-DayLimit-Remaining falls (a real client's header after spending);
- with XERO_WEBHOOK_KEY set (`auto`: a receiver can run), the sensor makes no Xero call at all.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import dagster as dg
import pytest

from sfxero_pipelines.config import load_config
from sfxero_pipelines.config import parse_config
from sfxero_pipelines.defs.realtime.lane import build_lane_sensor, polls_xero
from sfxero_pipelines.realtime.feed import xero_poll_interval_s
from sfxero_pipelines.realtime.xero_poll import poll_interval_s

from ..conftest import FAST_XERO, salesforce_resource, sandbox_call, xero_resource
from ..push.conftest import records

LONG_AGO = "2000-01-01T00:00:00+00:00"


def _xero_calls(server) -> int:
    stats = sandbox_call(server, "xero", "GET", "/__sandbox/stats")["requests"]
    return sum(n for k, n in stats.items() if "token" not in k and "/connections" not in k)


def _sensor(server):
    return build_lane_sensor(dg.DefaultSensorStatus.RUNNING,
                             salesforce=lambda: salesforce_resource(server), xero=lambda: xero_resource(server))


def _tick(sensor, instance, staging, cursor):
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor,
                                                          resources={"staging": staging}))
    return result.run_requests, result.cursor


def _stale(cursor: str) -> str:
    """The same cursor, both polls due again (as after their intervals)."""
    state = json.loads(cursor)
    state["polled_at"] = state["xero_polled_at"] = LONG_AGO
    return json.dumps(state)


def test_the_poll_finds_a_contact_edited_through_the_api_once(make_sandbox, sqlite_staging, monkeypatch):
    monkeypatch.delenv("XERO_WEBHOOK_KEY", raising=False)
    server, staging = make_sandbox(xero_limits=FAST_XERO), sqlite_staging
    sensor, instance = _sensor(server), dg.DagsterInstance.ephemeral()
    requests_, cursor = _tick(sensor, instance, staging, None)
    assert requests_ == [] and set(json.loads(cursor)["xero"]) == {"Contacts", "Invoices"}

    contact = next(c for c in records(server, "xero", "Contacts") if c.get("ContactStatus") == "ACTIVE")
    with xero_resource(server).get_client() as xero:
        [written] = xero.write("Contacts", [{"ContactID": contact["ContactID"], "Website": "https://edited.example"}],
                               idempotency_key=str(uuid.uuid4()))
    assert written["ContactID"] == contact["ContactID"]
    [request], cursor = _tick(sensor, instance, staging, _stale(cursor))
    assert f"xero:Contacts:{contact['ContactID']}" in request.run_config["ops"]["lane_batch"]["config"]["records"]
    # Polled again at once (within the same second as the edit, or later): not reported a second time.
    again, _ = _tick(sensor, instance, staging, _stale(cursor))
    assert again == []


def test_the_interval_is_paced_on_the_daily_limit_and_stretches_as_it_runs_low(make_sandbox):
    cfg = load_config()
    assert poll_interval_s(daily_limit=1000, remaining=None, share=0.05, minimum_s=10) == pytest.approx(3456)
    assert poll_interval_s(daily_limit=1000, remaining=500, share=0.05, minimum_s=10) == pytest.approx(6912)
    assert poll_interval_s(daily_limit=1000, remaining=10, share=0.05, minimum_s=10) == 86_400  # under one poll
    assert poll_interval_s(daily_limit=100_000, remaining=None, share=0.5, minimum_s=10) == 10  # the floor

    server = make_sandbox(size="small", xero_limits={**FAST_XERO, "per_day": 120})
    # The client paces at 60/min by default: lifted, so 61 reads cost no minute of waiting.
    with xero_resource(server, day_limit=120, per_minute_limit=FAST_XERO["per_minute"]).get_client() as xero:
        xero.get_all("Currencies")
        fresh = xero_poll_interval_s(cfg, xero)
        assert xero.limits["day_remaining"] == 119 and fresh == pytest.approx(86_400 / (0.05 * 119 / 2))
        for _ in range(60):
            xero.get_all("Currencies")
        low = xero_poll_interval_s(cfg, xero)
    assert xero.limits["day_remaining"] == 59 and low == pytest.approx(86_400 / (0.05 * 59 / 2)) and low > 2 * fresh


def test_with_a_webhook_key_auto_makes_no_xero_call(make_sandbox, sqlite_staging, monkeypatch):
    assert not polls_xero(parse_config({}).realtime, {"XERO_WEBHOOK_KEY": "k"})
    assert polls_xero(parse_config({}).realtime, {})
    assert polls_xero(parse_config({"realtime": {"xero_poll": "on"}}).realtime, {"XERO_WEBHOOK_KEY": "k"})
    assert not polls_xero(parse_config({"realtime": {"xero_poll": "off"}}).realtime, {})

    monkeypatch.setenv("XERO_WEBHOOK_KEY", "a-webhook-key")
    server = make_sandbox(xero_limits=FAST_XERO)
    sensor, instance = _sensor(server), dg.DagsterInstance.ephemeral()
    before = _xero_calls(server)
    _, cursor = _tick(sensor, instance, sqlite_staging, None)
    _tick(sensor, instance, sqlite_staging, json.dumps({**json.loads(cursor), "polled_at": LONG_AGO}))
    assert _xero_calls(server) == before and "xero" not in json.loads(cursor)
