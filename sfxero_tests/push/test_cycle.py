"""The whole cycle against the sandbox, on both staging backends, as real Dagster runs:
extract → check → reconcile → push → extract → check → reconcile converges (nothing left to create
or update), creates each record exactly once, writes ids back, and a push rerun writes nothing."""

from __future__ import annotations

from .conftest import Cycle, records, sf_field, xero_state


def test_full_cycle_converges_and_writes_each_record_once(fast_sandbox, staging):
    cycle = Cycle(fast_sandbox, staging)
    before = xero_state(fast_sandbox)
    first = cycle.plan_to_push()
    creates = {r: c["create"] for r, c in first.items()}
    assert creates.get("R1", 0) > 0 and creates.get("R2", 0) > 0, first

    ok, rows = cycle.stage("push")
    pushed = {r[0]: r for r in rows}
    assert pushed["xero_push"][2] > 0 and pushed["salesforce_push"][2] > 0, rows

    after = xero_state(fast_sandbox)
    assert after["contact_count"] == before["contact_count"] + creates["R1"]
    # Every R2 create but the ones held at push (their Account is held) became exactly one invoice.
    held_r2 = pushed["xero_push"][6]
    assert after["invoice_count"] == before["invoice_count"] + creates["R2"] - held_r2
    assert max(after["contacts_by_number"].values()) == 1
    assert max(after["invoices_by_reference"].values()) == 1

    # Write-backs landed in Salesforce in the same step: every created Contact's id is on its Account.
    links = sf_field(fast_sandbox, "Account", "Xero_Contact_Id__c")
    by_number = {c["ContactNumber"]: c["ContactID"] for c in records(fast_sandbox, "xero", "Contacts")
                 if c.get("ContactNumber")}
    assert by_number and all(links[acct] == cid for acct, cid in by_number.items() if acct in links)

    for name in ("extract", "check", "reconcile"):
        cycle.stage(name)
    converged, counts = cycle.converged()
    assert converged, counts
    assert sum(c["skip"] for c in counts.values()) > 0

    # Pushing the converged plan again writes nothing anywhere.
    stats_before = xero_state(fast_sandbox)
    ok, rows = cycle.stage("push")
    assert ok
    assert all(r[2] == 0 for r in rows), rows
    assert xero_state(fast_sandbox) == stats_before
