"""One writer per system and tenant, whatever the Dagster pool sizes (on SQLite and on PostgreSQL).

With the Xero pool (`xero_api/<tenant>`) and `salesforce_api` raised to 2 slots (as a user would, for speed), two `sfxero sync
--stage push` started together must not both write: the second waits for the first's writer lease,
then finds everything done in the ledger. And a live lease refuses a second writer after the bounded
wait with one line naming the holder, while a dead holder's lease is free at once.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest
import sqlalchemy as sa

from sfxero_pipelines.cli.instance import get_instance
from sfxero_pipelines.defs.sync.tags import SALESFORCE_POOL, xero_pool
from sfxero_pipelines.staging.state.lease import WriterBusy, writer_lease

from .conftest import Cycle, assert_each_record_once, cli_env, set_latency, start_push

HOLDER = """
import sys, time
from sfxero_pipelines.defs.staging.resources import StagingDatabase
from sfxero_pipelines.staging.state.lease import writer_lease
with writer_lease(StagingDatabase(url=sys.argv[1]).engine, [("xero", "tenant-1")], run_id="holder-run"):
    print("held", flush=True)
    time.sleep(600)
"""


def _xero_push_written(output: str) -> int:
    [row] = [line for line in output.splitlines() if line.strip().startswith("xero_push ")]
    return int(row.split()[2])


def test_two_concurrent_pushes_with_pool_2_write_each_record_once(make_sandbox, staging, tmp_path, monkeypatch):
    server = make_sandbox(size="small", seed=42, xero_limits={"per_minute": 100_000, "app_per_minute": 100_000})
    assert Cycle(server, staging).plan_to_push()["R1"]["create"] > 0
    env = cli_env(server, tmp_path, staging.url)
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    # `dagster instance concurrency set xero_api/<tenant> 2`, as the README suggests
    with get_instance() as instance:
        for pool in (xero_pool(env["XERO_TENANT_ID"]), SALESFORCE_POOL):
            instance.event_log_storage.set_concurrency_slots(pool, 2)
    set_latency(server, 150)

    pushes = [start_push(env), start_push(env)]
    outputs = [p.communicate(timeout=300) for p in pushes]
    for push, (out, err) in zip(pushes, outputs):
        assert push.returncode in (0, 1), out + err
        assert "- push: ok" in out, out + err

    # One push wrote everything; the other found it done. Every ledger entry is the first one's.
    written = sorted(_xero_push_written(out) for out, _ in outputs)
    assert written[0] == 0 and written[1] > 0, written
    with staging.engine.connect() as conn:
        writers = conn.execute(sa.text("SELECT DISTINCT run_id FROM sync_ledger WHERE target_system = 'xero'")).all()
    assert len(writers) == 1, writers
    assert_each_record_once(server, staging.url)


def test_a_live_lease_refuses_a_second_writer_and_a_dead_one_frees_it(staging):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, staging.url], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WriterBusy) as busy:
            with writer_lease(staging.engine, [("xero", "tenant-1")], run_id="second", wait_s=1):
                pytest.fail("a second writer got the lease while the first held it")
        message = str(busy.value)
        assert "\n" not in message and "xero (tenant tenant-1)" in message, message
        assert re.search(rf"pid {holder.pid}\b", message) and "holder-r" in message, message
        # The lease is per (system, tenant): another organisation's writer is not held up.
        with writer_lease(staging.engine, [("xero", "tenant-2")], run_id="other-tenant", wait_s=0):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    # The holder died without releasing anything: its lease is free (its connection or its pid is gone).
    with writer_lease(staging.engine, [("xero", "tenant-1")], run_id="after", wait_s=5):
        pass
