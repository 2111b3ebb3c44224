"""The token keep-alive: stored Xero connections are rotated before their refresh token can idle out.

Xero drops a refresh token unused for 60 days, and a connection only a quarterly job (or a paused
sync) uses would die silently between two runs. `xero_token_keepalive_sensor` looks once a UTC day
(cursor: the last day it looked) for active connections whose refresh token was last renewed
`KEEPALIVE_AFTER` (7 days) ago or more, and launches `xero_token_keepalive_job` for them, run_key
`xero-token-keepalive-<day>` (one run a day whatever the cursor says). The job rotates each idle
connection single-flight (`StoredTokenProvider.refresh_if_idle`: a sync that rotated it meanwhile
wins, nothing is rotated twice). A connection Xero refuses (revoked, expired) fails the run with one
line per organisation naming `sfxero connect xero`, so the run-failure sensor alerts on it days before
a sync would have needed it; the other organisations are still rotated.
"""

import datetime as dt

import dagster as dg

from ...clients.xero_tokens import KEEPALIVE_AFTER, SYSTEM, idle_connections
from ...errors import AuthError
from ...staging.state import tokens
from ..staging.resources import StagingDatabase
from ..xero.resources import XeroResource

#: How often the sensor looks; it acts at most once a UTC day (its cursor), so this only bounds the delay.
LOOK_EVERY_S = 3600


@dg.op(name="refresh_idle_xero_tokens",
       description=f"Rotates every stored Xero connection whose refresh token is {KEEPALIVE_AFTER.days} days old "
                   "or more, so none reaches Xero's 60-day limit; fails naming each organisation Xero refused.")
def refresh_idle_xero_tokens(context: dg.OpExecutionContext, staging: StagingDatabase,
                             xero: XeroResource) -> dg.Output[int]:
    now = dt.datetime.now(dt.timezone.utc)
    with staging.engine.connect() as conn:
        idle = idle_connections(tokens.list_connections(conn, SYSTEM), now)
    rotated, refused = [], []
    for connection in idle:
        provider = xero.stored_connection(connection.tenant_id, staging.engine)
        try:
            # A sibling of the same consent rotated a moment ago renews this one too: then it is fresh.
            if provider.refresh_if_idle(KEEPALIVE_AFTER):
                rotated.append(connection.tenant_name or connection.tenant_id)
        except AuthError as exc:
            refused.append(str(exc))
        finally:
            provider.close()
    context.log.info(f"rotated {len(rotated)} idle Xero connection(s): {', '.join(rotated) or 'none'}")
    if refused:
        raise dg.Failure(description="; ".join(refused), allow_retries=False)
    return dg.Output(len(rotated), metadata={"idle": len(idle), "rotated": len(rotated),
                                             "organisations": ", ".join(rotated)})


@dg.job(name="xero_token_keepalive_job",
        description="Rotates idle stored Xero connections (launched daily by xero_token_keepalive_sensor).")
def xero_token_keepalive_job():
    refresh_idle_xero_tokens()


def keepalive_request(stored: list[tokens.StoredConnection], now: dt.datetime) -> dg.RunRequest | str:
    """Today's keep-alive run, or why there is none."""
    idle = idle_connections(stored, now)
    if not idle:
        return (f"no active Xero connection has a refresh token {KEEPALIVE_AFTER.days} days old or more "
                f"({len(stored)} stored)")
    day = now.date().isoformat()
    return dg.RunRequest(run_key=f"xero-token-keepalive-{day}",
                         tags={"sfxero/keepalive": ", ".join(c.tenant_name or c.tenant_id for c in idle)[:200]})


def build_token_keepalive_sensor(status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    @dg.sensor(name="xero_token_keepalive_sensor", job=xero_token_keepalive_job, default_status=status,
               minimum_interval_seconds=LOOK_EVERY_S,
               description=f"Once a day, launches xero_token_keepalive_job when a stored Xero connection's "
                           f"refresh token is {KEEPALIVE_AFTER.days} days old or more (Xero drops it at 60).")
    def xero_token_keepalive_sensor(context: dg.SensorEvaluationContext, staging: StagingDatabase):
        now = dt.datetime.now(dt.timezone.utc)
        day = now.date().isoformat()
        if context.cursor == day:
            return dg.SkipReason(f"already looked today ({day})")
        with staging.engine.connect() as conn:
            stored = tokens.list_connections(conn, SYSTEM)
        outcome = keepalive_request(stored, now)
        context.update_cursor(day)
        return dg.SkipReason(outcome) if isinstance(outcome, str) else outcome

    return xero_token_keepalive_sensor
