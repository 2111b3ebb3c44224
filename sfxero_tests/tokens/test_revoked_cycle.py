"""A Xero connection revoked between two cycles is loud and loses nothing: real Dagster runs over real
HTTPS to the sandbox, on SQLite and the real PostgreSQL. The owner disconnects the app in Xero (the
sandbox revokes the whole token family); the next cycle's extract fails with one line naming
`sfxero connect xero`, and so does a push of the plan staged before; the run-failure sensor posts
both to a local webhook; what was staged and planned is still there, byte for byte (the ledger gains
only the push's `pending` intents), the Salesforce side goes on, and once the organisation is
connected again the same plan is pushed and the cycle converges."""

from __future__ import annotations

import dagster as dg
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

from sfxero_pipelines.cli.sync_cmd import execute_stage, verify_convergence
from sfxero_pipelines.config import NotifyConfig
from sfxero_pipelines.defs.automation.failures import build_failure_sensor
from sfxero_pipelines.staging.state import tokens
from sfxero_tests.automation.conftest import webhook  # noqa: F401 (fixture)
from sfxero_tests.conftest import FAST_XERO, salesforce_resource, sandbox_call, xero_resource

from .stored import store_connection

RECONNECT = "run `sfxero connect xero` to connect it again"


class StoredConnectionCycle:
    """The CLI's stage jobs on one real instance, the Xero side through the connection stored in `staging`."""

    def __init__(self, server, staging) -> None:
        from sfxero_pipelines.definitions import defs

        loaded = defs()
        self.instance = dg.DagsterInstance.ephemeral()
        xero = xero_resource(server, staging_url=staging.url, per_minute_limit=FAST_XERO["per_minute"])
        self.definitions = dg.Definitions(
            assets=loaded.assets, asset_checks=loaded.asset_checks, jobs=loaded.jobs,
            resources={"staging": staging, "xero": xero, "salesforce": salesforce_resource(server)})

    def stage(self, name: str):
        return execute_stage(name, self.instance, self.definitions)


def staged(staging) -> dict[str, list]:
    """Every row of the Xero-side staging tables and of the plan and ledger, in a stable order."""
    with staging.engine.connect() as conn:
        names = [n for n in sa.inspect(conn).get_table_names()
                 if n.startswith("xero_") or n in ("sync_plan", "sync_link", "held_record", "sync_ledger")]
        return {n: sorted(map(repr, conn.execute(sa.text(f'SELECT * FROM "{n}"')).all())) for n in names}


def xero_writes(server) -> int:
    stats = sandbox_call(server, "xero", "GET", "/__sandbox/stats")["requests"]
    return sum(n for k, n in stats.items() if k.split(" ")[0] in ("POST", "PUT", "DELETE") and "connect/" not in k)


def test_revoked_connection_fails_loudly_alerts_and_loses_nothing(staging, make_sandbox, monkeypatch, webhook):  # noqa: F811
    server = make_sandbox(size="small", seed=42, xero_limits=FAST_XERO)
    key = Fernet.generate_key()
    monkeypatch.setenv("SFXERO_SECRET_KEY", key.decode())
    store_connection(staging, server, key)
    cycle = StoredConnectionCycle(server, staging)
    for name in ("extract", "check", "reconcile"):
        assert cycle.stage(name).ok or name == "check", name
    before = staged(staging)
    assert before["sync_plan"] and any(rows for n, rows in before.items() if n.startswith("xero_"))

    # The owner disconnects sfxero in Xero: the stored refresh token (and its access tokens) die.
    with staging.begin() as conn:
        stored = tokens.load(conn, Fernet(key), "xero", server.env["XERO_TENANT_ID"])
    env = server.env
    revoked = requests.post(env["XERO_IDENTITY_URL"] + "/connect/revocation", data={"token": stored.refresh_token},
                            auth=(env["XERO_CLIENT_ID"], env["XERO_CLIENT_SECRET"]), verify=env["SFXERO_CA_BUNDLE"],
                            timeout=30)
    assert revoked.status_code == 200
    writes_before = xero_writes(server)

    sensor = build_failure_sensor(NotifyConfig(webhook_url=webhook.url), dg.DefaultSensorStatus.RUNNING)
    cursor = sensor.evaluate_tick(dg.build_sensor_context(instance=cycle.instance)).cursor
    extract = cycle.stage("extract")
    push = cycle.stage("push")  # the plan staged before the revocation, as the push sensor would launch it
    assert not extract.ok and not push.ok
    lines = [line for line in extract.errors + push.errors if "xero" in line.split(":")[0]]
    assert lines and all(line.endswith(RECONNECT) and "\n" not in line for line in lines), extract.errors + push.errors
    assert any("Sandbox Trading Co is revoked" in line for line in lines)

    sensor.evaluate_tick(dg.build_sensor_context(instance=cycle.instance, cursor=cursor))
    alerts = {r["json"]["job"]: r["json"] for r in webhook.requests}
    assert {"extract_job", "push_xero_job"} <= set(alerts), list(alerts)
    for job in ("extract_job", "push_xero_job"):
        assert alerts[job]["error"].endswith(RECONNECT) and "revoked" in alerts[job]["error"], alerts[job]
    secrets_ = [stored.refresh_token, stored.access_token, key.decode(), env["XERO_CLIENT_SECRET"]]
    assert not [s for s in secrets_ if s and s in repr(webhook.requests) + repr(extract.errors + push.errors)]

    # Nothing written to Xero, nothing staged or planned lost or changed; the connection is marked.
    assert xero_writes(server) == writes_before
    after = staged(staging)
    after.pop("sync_ledger"), before.pop("sync_ledger")
    assert after == before
    with staging.engine.connect() as conn:
        xero_outcomes = set(conn.execute(sa.text("SELECT outcome FROM sync_ledger WHERE target_system = 'xero'"))
                            .scalars())
    # The push's intents stay `pending` (unknown, as after a crash): the next push looks each one up first.
    assert xero_outcomes <= {"pending"}
    with staging.begin() as conn:
        assert [c.state for c in tokens.list_connections(conn, "xero")] == [tokens.REVOKED]

    # Connected again: the plan kept through the outage is pushed and the cycle converges.
    store_connection(staging, server, key)
    assert cycle.stage("push").ok
    for name in ("extract", "check", "reconcile"):
        cycle.stage(name)
    converged, counts = verify_convergence(staging.engine)
    assert converged, counts
