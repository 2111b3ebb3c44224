"""Stored Xero connections never idle out: `sfxero connections` flags a refresh token older than 45 days,
and the daily keep-alive sensor launches a real run that rotates idle connections over real HTTPS to the
sandbox, on SQLite and the real PostgreSQL. Time passes on both clocks: the emulator's (POST
/__sandbox/clock, which decides when Xero drops a token) and the store's (`refreshed_at` set back as
that many days of idleness would leave it). One left idle past 60 days fails the run loudly instead."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.fernet import Fernet

from sfxero_pipelines.cli.connect_cmd import connections
from sfxero_pipelines.defs.automation.token_keepalive import build_token_keepalive_sensor, xero_token_keepalive_job
from sfxero_pipelines.staging.schema import oauth_token
from sfxero_pipelines.staging.state import tokens
from sfxero_tests.conftest import sandbox_call, xero_resource

from .stored import store_connection

DAY_S = 86400


@pytest.fixture
def connected(staging, make_sandbox, monkeypatch):
    """A sandbox and one stored connection to its organisation, as consent leaves it."""
    server = make_sandbox()
    key = Fernet.generate_key()
    monkeypatch.setenv("SFXERO_SECRET_KEY", key.decode())
    monkeypatch.setenv("SFXERO_STAGING_URL", staging.url)
    store_connection(staging, server, key)
    return server, key


def idle_for(server, staging, days: int) -> None:
    """`days` pass without the connection being used: on Xero's clock and in the store's record of it."""
    sandbox_call(server, "xero", "POST", "/__sandbox/clock", {"advance_s": days * DAY_S})
    with staging.begin() as conn:
        for tenant, refreshed in conn.execute(sa.select(oauth_token.c.tenant_id, oauth_token.c.refreshed_at)).all():
            conn.execute(oauth_token.update().where(oauth_token.c.tenant_id == tenant)
                         .values(refreshed_at=refreshed - dt.timedelta(days=days)))


def listed(runner: CliRunner) -> list[dict]:
    out = runner.invoke(connections, ["--json"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def keepalive_run(server, staging, instance):
    resources = {"staging": staging, "xero": xero_resource(server, staging_url=staging.url)}
    return xero_token_keepalive_job.execute_in_process(instance=instance, resources=resources, raise_on_error=False)


def test_idle_connection_is_flagged_then_rotated_by_the_daily_sensor(connected, staging):
    server, key = connected
    runner = CliRunner()
    sensor = build_token_keepalive_sensor(dg.DefaultSensorStatus.RUNNING)
    instance = dg.DagsterInstance.ephemeral()

    # Fresh: nothing flagged, nothing to keep alive (the day is still recorded in the cursor).
    assert [r["refresh_token_stale"] for r in listed(runner)] == [False]
    fresh = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources={"staging": staging}))
    assert not fresh.run_requests and "no active Xero connection" in fresh.skip_message

    idle_for(server, staging, 50)
    [row] = listed(runner)
    assert row["refresh_token_stale"] and row["token_age_days"] >= 50
    human = runner.invoke(connections, [], catch_exceptions=False).output
    assert "refresh token 50 days old: reconnect before 60" in human

    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources={"staging": staging}))
    [request] = tick.run_requests
    assert request.run_key == f"xero-token-keepalive-{today}" and tick.cursor == today
    # Once a day: the same day's next look launches nothing.
    again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources={"staging": staging},
                                                         cursor=tick.cursor))
    assert not again.run_requests and "already looked today" in again.skip_message

    result = keepalive_run(server, staging, instance)
    assert result.success
    assert result.output_for_node("refresh_idle_xero_tokens") == 1
    [row] = listed(runner)
    assert not row["refresh_token_stale"] and row["token_age_days"] < 1 and row["state"] == "active"
    # A second run the same day finds nothing idle and rotates nothing.
    assert keepalive_run(server, staging, instance).output_for_node("refresh_idle_xero_tokens") == 0

    # 20 more days: 70 since consent, 20 since the keep-alive. Xero still accepts the connection.
    idle_for(server, staging, 20)
    with xero_resource(server, staging_url=staging.url, per_minute_limit=1_000_000).get_client() as client:
        assert client.get_all("Currencies")
    with staging.begin() as conn:
        assert tokens.load(conn, Fernet(key), "xero", server.env["XERO_TENANT_ID"]).state == tokens.ACTIVE


def test_connection_idle_past_60_days_fails_the_keepalive_run_in_one_line(connected, staging):
    server, key = connected
    idle_for(server, staging, 61)
    instance = dg.DagsterInstance.ephemeral()
    result = keepalive_run(server, staging, instance)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.error.message.strip()
    assert message.endswith("run `sfxero connect xero` to connect it again")
    assert "Sandbox Trading Co is expired: refresh token unused for 60 days" in message
    assert "\n" not in message and key.decode() not in message
    with staging.begin() as conn:
        [row] = tokens.list_connections(conn, "xero")
        raw = repr(conn.execute(sa.select(oauth_token)).all())
    assert row.state == tokens.EXPIRED and server.env["XERO_CLIENT_SECRET"] not in raw
