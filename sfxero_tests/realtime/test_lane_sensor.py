"""The lane's sensor and job (defs/realtime/lane.py) on a real instance against the sandbox:
- a first tick starts the Salesforce cursors and requests nothing; webhook events in the inbox and an
  Account edit seen by the composite poll become one run request whose run_key is derived from them,
  and the same changes seen again give the same run_key (Dagster launches a run_key once);
- a webhook arriving during or right after a push (Xero's events for the Contacts the push just created, its
  echo) runs through the lane and writes nothing a second time;
- with Salesforce not configured, a tick (as the daemon evaluates it, resources from the definitions)
  skips with one reason naming the missing setting, requests nothing and keeps the cursor and the inbox.
"""

from __future__ import annotations

import json

import dagster as dg
import sqlalchemy as sa

from sfxero_pipelines.defs.realtime.lane import build_lane_sensor, realtime_lane_job
from sfxero_pipelines.staging.state import inbox

from ..extract.conftest import FAST_XERO, salesforce_resource, xero_resource
from ..extract.test_salesforce_extract import simple_salesforce
from ..conftest import sandbox_call
from ..push.conftest import Cycle, assert_each_record_once, records
from ..webhooks.test_inbox import event


def xero_writes(server) -> int:
    stats = sandbox_call(server, "xero", "GET", "/__sandbox/stats")["requests"]
    return sum(n for k, n in stats.items() if k.split(" ")[0] in ("POST", "PUT", "DELETE") and "token" not in k)


def _tick(sensor, instance, staging, server, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"staging": staging})
    result = sensor.evaluate_tick(context)
    return result.run_requests, result.cursor


def test_changes_become_one_run_request_keyed_by_them(make_sandbox, sqlite_staging):
    staging, server = sqlite_staging, make_sandbox()
    instance = dg.DagsterInstance.ephemeral()
    sensor = build_lane_sensor(dg.DefaultSensorStatus.RUNNING,
                               salesforce=lambda: salesforce_resource(server), xero=lambda: xero_resource(server))
    requests, cursor = _tick(sensor, instance, staging, server, None)
    assert requests == [] and cursor

    account = next(r for r in records(server, "sf", "Account") if not r.get("IsDeleted"))
    simple_salesforce(server).Account.update(account["Id"], {"Name": f"{account['Name']} (edited)"})
    with staging.begin() as conn:
        inbox.record_events(conn, [event("11111111-1111-4111-8111-111111111111")])
    # The poll is due again only after the budget-paced interval: start from a cursor polled long ago.
    state = json.loads(cursor)
    state["polled_at"] = "2000-01-01T00:00:00+00:00"
    stale = json.dumps(state)
    [request], cursor_after = _tick(sensor, instance, staging, server, stale)
    records_asked = request.run_config["ops"]["lane_batch"]["config"]["records"]
    assert f"salesforce:Account:{account['Id']}" in records_asked
    assert "xero:Contacts:11111111-1111-4111-8111-111111111111" in records_asked
    [again], _ = _tick(sensor, instance, staging, server, stale)
    assert again.run_key == request.run_key and request.run_key.startswith("lane-")
    # From the advanced cursor only the (still unprocessed) webhook event is waiting: another batch.
    [later], _ = _tick(sensor, instance, staging, server, cursor_after)
    assert later.run_key != request.run_key


def test_the_echo_of_a_push_runs_through_the_lane_without_a_second_write(make_sandbox, sqlite_staging):
    staging = sqlite_staging
    server = make_sandbox(xero_limits=FAST_XERO)
    cycle = Cycle(server, staging)
    cycle.plan_to_push()
    assert cycle.stage("push")[0]
    with staging.engine.connect() as conn:
        created = [r[0] for r in conn.execute(sa.text(
            "SELECT target_id FROM sync_ledger WHERE recipe = 'R1' AND outcome = 'succeeded' AND target_id IS NOT NULL"))]
    assert created
    # Xero's webhooks for the Contacts the push just wrote, as the receiver records them.
    with staging.begin() as conn:
        inbox.record_events(conn, [event(c, type_="CREATE") for c in created])
        ids = [e.id for e in inbox.unprocessed(conn)]
    xero_before = xero_writes(server)
    result = realtime_lane_job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        resources={"staging": staging, "salesforce": salesforce_resource(server), "xero": xero_resource(server)},
        run_config={"ops": {"lane_batch": {"config": {"records": [f"xero:Contacts:{c}" for c in created],
                                                      "inbox_ids": ids}}}})
    assert result.success
    # The echo wrote nothing to Xero a second time. (Salesforce may receive the new Contacts' first
    # balances: R4 rows the cycle's verifying pass would plan too; each written once, see below.)
    assert xero_writes(server) == xero_before
    with staging.engine.connect() as conn:
        repeated = conn.execute(sa.text(
            "SELECT recipe, target_system, target_object, source_id, count(*) FROM sync_ledger "
            "WHERE outcome = 'succeeded' GROUP BY recipe, target_system, target_object, source_id, request_hash "
            "HAVING count(*) > 1")).fetchall()
    assert repeated == []
    with staging.engine.connect() as conn:
        assert inbox.unprocessed(conn) == []
    cycle.plan_to_push()
    assert cycle.converged()[0]
    assert_each_record_once(server, str(staging.engine.url))


def test_without_salesforce_configured_a_tick_skips_with_one_clear_reason(sqlite_staging, monkeypatch):
    from sfxero_pipelines.defs.realtime.lane import SKIP_NOT_CONFIGURED

    for var in ("SALESFORCE_LOGIN_URL", "SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    staging = sqlite_staging
    with staging.begin() as conn:
        inbox.record_events(conn, [event("22222222-2222-4222-8222-222222222222")])
    sensor = build_lane_sensor(dg.DefaultSensorStatus.RUNNING)  # from the environment
    instance = dg.DagsterInstance.ephemeral()
    for cursor in (None, '{"polled_at": "2000-01-01T00:00:00+00:00"}'):
        result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor,
                                                              resources={"staging": staging}))
        assert result.run_requests == [] and result.cursor == cursor
        assert result.skip_message == (f"{SKIP_NOT_CONFIGURED}: SALESFORCE_LOGIN_URL: is not set. Set it up, or "
                                       "switch the lane off (sfxero.yaml realtime.enabled: false)")
    with staging.engine.connect() as conn:
        assert [e.resource_id for e in inbox.unprocessed(conn)] == ["22222222-2222-4222-8222-222222222222"]


def test_a_tick_waits_while_a_lane_run_is_still_starting(make_sandbox, sqlite_staging):
    """While a requested lane run is queued or starting, a tick reads nothing and requests nothing: the
    changes go in one batch once it runs (a loaded machine starts run workers slower than ticks come)."""
    import datetime as dt

    from sfxero_pipelines.defs.realtime.lane import LAUNCH_GRACE, launching

    staging, server = sqlite_staging, make_sandbox()
    instance = dg.DagsterInstance.ephemeral()
    sensor = build_lane_sensor(dg.DefaultSensorStatus.RUNNING,
                               salesforce=lambda: salesforce_resource(server), xero=lambda: xero_resource(server))
    _, cursor = _tick(sensor, instance, staging, server, None)
    with staging.begin() as conn:
        inbox.record_events(conn, [event("33333333-3333-4333-8333-333333333333")])
    # Requested, not started yet (a queued run needs a code-location origin, which an ephemeral instance lacks).
    run = instance.create_run_for_job(realtime_lane_job, run_config={"ops": {"lane_batch": {"config": {}}}})
    assert run.status == dg.DagsterRunStatus.NOT_STARTED
    now = dt.datetime.now(dt.timezone.utc)
    assert launching(instance, now) and not launching(instance, now + LAUNCH_GRACE + dt.timedelta(seconds=1))
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor,
                                                          resources={"staging": staging}))
    assert result.run_requests == [] and result.cursor == cursor
    assert result.skip_message == "a lane run is still starting: changes wait for the next batch"
    instance.report_run_canceled(run)  # no longer starting: the waiting event goes in a batch
    [request], _ = _tick(sensor, instance, staging, server, cursor)
    assert "xero:Contacts:33333333-3333-4333-8333-333333333333" in request.run_config["ops"]["lane_batch"]["config"]["records"]
