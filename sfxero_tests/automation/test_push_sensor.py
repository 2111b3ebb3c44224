"""The push sensor on a real staging database (SQLite and PostgreSQL), plans stored by the real
writer: one request per target whose latest plans have rows to push, keyed by a fingerprint of
those plans; nothing the second time (cursor), nothing for the same plans even without the cursor
(same run_key); a new request when a new plan appears; a skip reason that says why otherwise; no
request while reconcile_job is writing plans."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from sfxero_pipelines.defs.automation.push import PLANS_TAG, build_push_sensor
from sfxero_pipelines.reconcile import plan as plans
from sfxero_pipelines.staging.state import plans as stored_plans

from .conftest import add_run

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
SENSOR = build_push_sensor(dg.DefaultSensorStatus.RUNNING)


def store(staging, *parts, minutes: int = 0, recipes: tuple[str, ...] = ()) -> dict[str, str]:
    plan = plans.finalize(list(parts))
    with staging.begin() as conn:
        stored_plans.write_plan(conn, plan, recipes=recipes, now=T0 + dt.timedelta(minutes=minutes))
    return plans.plan_ids(plan)


def contacts(action: str, ids: list[str], **diff) -> "plans.pd.DataFrame":
    body = {"target_object": "Contact", "payload": {"Name": "x"}} if action in ("create", "update") else {}
    return plans.rows("R1", "sf_to_xero", action, ids, None, {**body, **diff}, None)


def balances(action: str, ids: list[str]) -> "plans.pd.DataFrame":
    diff = {"payload": {"Account": {"Xero_Outstanding__c": 10}}} if action == "update" else {"match": "link"}
    return plans.rows("R4", "xero_to_sf", action, ids, ids, diff, None)


class Sensor:
    def __init__(self, instance, staging):
        self.instance, self.staging, self.cursor = instance, staging, None

    def tick(self, cursor: str | None = "keep") -> tuple[dict[str, dg.RunRequest], str | None]:
        context = dg.build_sensor_context(instance=self.instance, resources={"staging": self.staging},
                                          cursor=self.cursor if cursor == "keep" else cursor)
        data = SENSOR.evaluate_tick(context)
        self.cursor = data.cursor or self.cursor
        return {r.job_name: r for r in data.run_requests or []}, data.skip_message


def test_one_request_per_target_once_per_plan(instance, staging):
    sensor = Sensor(instance, staging)
    requests, why = sensor.tick()
    assert requests == {} and "no sync plan is stored yet" in why

    ids = store(staging, contacts("create", ["001A", "001B"]), contacts("skip", ["001C"]),
                balances("update", ["0xC1"]), balances("skip", ["0xC2"]))
    requests, why = sensor.tick()
    assert set(requests) == {"push_xero_job", "push_salesforce_job"} and why is None
    xero, salesforce = requests["push_xero_job"], requests["push_salesforce_job"]
    assert xero.run_key.startswith("push-xero-") and salesforce.run_key.startswith("push-salesforce-")
    assert xero.tags[PLANS_TAG] == f"R1={ids['R1']}"
    assert salesforce.tags[PLANS_TAG] == f"R4={ids['R4']}"

    # Second look: same plans, nothing to launch, and the sensor says why.
    requests, why = sensor.tick()
    assert requests == {} and "no new plan since the last evaluation" in why

    # Cursor lost (sensor reset): the same plans give the same run_keys, which Dagster launches once.
    again, _ = sensor.tick(cursor=None)
    assert {r.run_key for r in again.values()} == {xero.run_key, salesforce.run_key}

    # A new R1 plan: a new Xero push; Salesforce's plans did not change.
    new_r1 = store(staging, contacts("create", ["001A", "001B", "001D"]), contacts("skip", ["001C"]),
                   balances("update", ["0xC1"]), balances("skip", ["0xC2"]), minutes=60)
    assert new_r1["R1"] != ids["R1"] and new_r1["R4"] == ids["R4"]
    requests, why = sensor.tick()
    assert set(requests) == {"push_xero_job"}
    assert requests["push_xero_job"].run_key not in (xero.run_key, again["push_xero_job"].run_key)
    assert requests["push_xero_job"].tags[PLANS_TAG] == f"R1={new_r1['R1']}"


def test_plans_with_nothing_to_write_are_skipped_with_the_reason(instance, staging):
    sensor = Sensor(instance, staging)
    store(staging, plans.rows("R1", "sf_to_xero", "conflict", ["001A"], ["c-1"], {"fields": {}}, "both changed"),
          plans.rows("R1", "sf_to_xero", "held", ["001B"], None, None, "missing email"),
          contacts("skip", ["001C"]), balances("skip", ["0xC1"]))
    requests, why = sensor.tick()
    assert requests == {}
    assert "xero: the latest plans have nothing to push to xero" in why
    assert "salesforce: the latest plans have nothing to push to salesforce" in why


def test_a_link_to_record_is_pushed_to_xero(instance, staging):
    """A matched pair with nothing to change still needs its link recorded (by the Xero push)."""
    sensor = Sensor(instance, staging)
    store(staging, plans.rows("R1", "sf_to_xero", "skip", ["001A"], ["c-1"], {"match": "email", "link": True}, None))
    requests, _ = sensor.tick()
    assert set(requests) == {"push_xero_job"}


def test_only_the_latest_plan_of_each_recipe_counts(instance, staging):
    sensor = Sensor(instance, staging)
    store(staging, contacts("create", ["001A"]), minutes=0)
    latest = store(staging, contacts("skip", ["001A"]), minutes=5)  # pushed, converged: nothing left to write
    requests, why = sensor.tick()
    assert requests == {} and "nothing to push to xero" in why
    with staging.begin() as conn:
        assert set(stored_plans.load_latest(conn).plan_id) == {latest["R1"]}


def test_no_push_while_reconcile_is_writing_plans(instance, staging):
    sensor = Sensor(instance, staging)
    store(staging, contacts("create", ["001A"]))
    running = add_run(instance, "reconcile_job", dg.DagsterRunStatus.STARTED)
    requests, why = sensor.tick()
    assert requests == {} and f"reconcile_job run {running.run_id} is STARTED" in why
    instance.report_run_failed(running)
    requests, _ = sensor.tick()
    assert set(requests) == {"push_xero_job"}


def test_sensor_is_registered_with_both_push_jobs():
    from sfxero_pipelines.definitions import defs

    sensor = defs().get_repository_def().get_sensor_def("push_new_plan_sensor")
    assert {t.job_name for t in sensor.targets} == {"push_xero_job", "push_salesforce_job"}
    assert "staging" in sensor.required_resource_keys


def test_an_approval_launches_the_push_the_guard_stopped_again(instance, staging):
    from sfxero_pipelines.staging.state import approvals

    sensor = Sensor(instance, staging)
    ids = store(staging, contacts("update", ["001A", "001B"]))
    first, _ = sensor.tick()
    assert set(first) == {"push_xero_job"}
    assert sensor.tick()[0] == {}  # the same plan: nothing new, though its push stopped at the guard

    with staging.begin() as conn:
        approvals.approve(conn, approvals.PLAN, [ids["R1"]], by="test")
    again, _ = sensor.tick()
    assert set(again) == {"push_xero_job"} and again["push_xero_job"].run_key != first["push_xero_job"].run_key
    assert sensor.tick()[0] == {}


def test_a_row_approval_launches_the_push_that_writes_it(instance, staging):
    """A plan whose only write is held for approval (a delete policy) launches nothing; `sfxero approve
    ROW_ID` changes the fingerprint, so the next tick launches the Xero push, once."""
    from sfxero_pipelines.staging.state import approvals

    held = plans.rows("R2", "sf_to_xero", "held", ["006A"], ["inv-1"],
                      {"target_object": "Invoice", "payload": {"InvoiceID": "inv-1", "Status": "VOIDED"},
                       "approval": "row-0123456789abcdef"}, "waits for approval to void …")
    ids = store(staging, held)
    sensor = Sensor(instance, staging)
    requests, why = sensor.tick()
    assert requests == {} and "nothing to push" in why
    with staging.begin() as conn:
        approvals.approve(conn, approvals.ROW, ["row-0123456789abcdef"], by="test")
    requests, _ = sensor.tick()
    assert set(requests) == {"push_xero_job"} and requests["push_xero_job"].tags[PLANS_TAG] == f"R2={ids['R2']}"
    requests, why = sensor.tick()
    assert requests == {} and "no new plan since the last evaluation" in why
