"""A lane batch killed mid-push (its process dies right after Xero applied a write, before the ledger
learnt the answer) is completed by the next lane batch, with no duplicate in Xero, and the cycle then
finds the systems converged."""

from __future__ import annotations

import json
import subprocess
import sys

import sqlalchemy as sa

from sfxero_pipelines.config import load_config
from sfxero_pipelines.realtime.lane import Changes, run_batch

from ..extract.conftest import FAST_XERO, salesforce_resource, xero_resource
from ..extract.test_salesforce_extract import simple_salesforce
from ..push.conftest import Cycle, assert_each_record_once, records


def test_a_batch_killed_mid_push_is_completed_by_the_next_without_a_duplicate(make_sandbox, tmp_path):
    from sfxero_pipelines.defs.staging.resources import StagingDatabase

    staging_url = f"sqlite:///{tmp_path / 'staging.db'}"
    staging = StagingDatabase(url=staging_url)
    server = make_sandbox(xero_limits=FAST_XERO)
    cycle = Cycle(server, staging)
    cycle.plan_to_push()
    assert cycle.stage("push")[0]
    cycle.plan_to_push()
    assert cycle.converged()[0]
    with staging.engine.connect() as conn:
        pushed = {r[0] for r in conn.execute(sa.text(
            "SELECT source_id FROM sync_ledger WHERE recipe = 'R1' AND outcome = 'succeeded'"))}
    accounts = [r for r in records(server, "sf", "Account") if r["Id"] in pushed and r.get("Xero_Contact_Id__c")][:3]
    assert len(accounts) == 3
    sf = simple_salesforce(server)
    for account in accounts:
        sf.Account.update(account["Id"], {"Name": f"{account['Name']} (lane)"})
    changes = {"Account": [a["Id"] for a in accounts]}

    spec = {"env": server.env, "staging_url": staging_url, "salesforce": changes,
            "crash": {"at": "XeroClient.write", "nth": 1, "when": "after"}}
    child = subprocess.run([sys.executable, "-m", "sfxero_tests.realtime.lane_crash_child", json.dumps(spec)],
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 137, child.stdout + child.stderr
    with staging.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sync_ledger WHERE outcome = 'pending'")).scalar_one() > 0

    with salesforce_resource(server).get_client() as s, xero_resource(server).get_client() as x:
        run_batch(staging.engine, s, x, Changes(salesforce=changes), cfg=load_config(), run_id="lane-next")
    contacts = {c["ContactID"]: c for c in records(server, "xero", "Contacts")}
    for account in accounts:
        assert contacts[account["Xero_Contact_Id__c"]]["Name"] == f"{account['Name']} (lane)"
    assert_each_record_once(server, staging_url)  # no duplicate Contact, nothing left pending
    cycle.plan_to_push()
    assert cycle.converged()[0]
    staging.dispose()
