"""examples/leads_to_contacts.yaml end to end on the sandbox (real `sfxero sync` in its own process):
only Leads whose Status is "Working - Contacted" with an email become Xero Contacts, each once, found
again by ContactNumber = Lead Id, each put in the Xero contact group "Key accounts" (the example's
commented `ContactGroups.Key accounts`, switched on here); the sync converges (its verifying pass has
nothing to write, group membership included), and a Lead moved to that status later is synced by the
next cycle; under `deletes: archive`, a synced Lead deleted in Salesforce has its Contact archived by
that cycle."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import yaml

from ..conftest import FAST_XERO
from ..extract.test_salesforce_extract import simple_salesforce
from ..push.conftest import live, records
from .test_r8_items_e2e import _sfxero

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "leads_to_contacts.yaml"


def _worked(server) -> dict[str, dict]:
    return {r["Id"]: r for r in records(server, "sf", "Lead")
            if r.get("Status") == "Working - Contacted" and r.get("Email") and not r.get("IsDeleted")}


def _key_accounts(server) -> set[str]:
    return {m["ContactID"] for g in records(server, "xero", "ContactGroups") if g["Name"] == "Key accounts"
            and g.get("Status") == "ACTIVE" for m in g.get("Contacts") or []}


@pytest.mark.timeout(1200)
def test_worked_leads_become_xero_contacts_once(make_sandbox, tmp_path):
    server = make_sandbox(size="30", seed=11, xero_limits=FAST_XERO)
    env = {**server.env, "SFXERO_STAGING_URL": f"sqlite:///{tmp_path / 'staging.db'}",
           "DAGSTER_HOME": str(tmp_path / "home"), "SFXERO_CONFIG": str(tmp_path / "leads.yaml")}
    (tmp_path / "home").mkdir()
    declared = yaml.safe_load(EXAMPLE.read_text())
    declared["recipes"]["LEADS"]["deletes"] = "archive"
    declared["recipes"]["LEADS"]["fields"]["ContactGroups.Key accounts"] = {"value": True}
    declared["push"] = {"max_deletes": 1}  # the mass-change guard lets one archive through unapproved
    (tmp_path / "leads.yaml").write_text(yaml.safe_dump(declared))
    first = _sfxero(env, "sync")
    # Exit 1 is "finished with held records": the seed has Accounts R1 holds; the Leads converge regardless.
    assert first.returncode in (0, 1) and "Converged:" in first.stdout, first.stdout[-3000:] + first.stderr[-2000:]
    worked = _worked(server)
    assert worked, "the seed has Leads being worked"
    by_number = collections.Counter(c.get("ContactNumber") for c in live(records(server, "xero", "Contacts")))
    leads = {r["Id"] for r in records(server, "sf", "Lead")}
    assert {n for n in by_number if n in leads} == set(worked), "exactly the filtered Leads"
    assert all(by_number[i] == 1 for i in worked)
    key_accounts = _key_accounts(server)
    contact_of = {c["ContactNumber"]: c["ContactID"] for c in records(server, "xero", "Contacts") if c.get("ContactNumber")}
    assert {contact_of[i] for i in worked} <= key_accounts, "each one in the group the recipe names"

    other = next(r for r in records(server, "sf", "Lead") if r["Id"] not in worked and r.get("Email")
                 and not r.get("IsDeleted"))
    simple_salesforce(server).Lead.update(other["Id"], {"Status": "Working - Contacted"})
    dropped = sorted(worked)[0]
    simple_salesforce(server).Lead.delete(dropped)
    second = _sfxero(env, "sync")
    assert second.returncode in (0, 1) and "Converged:" in second.stdout, second.stdout[-3000:]
    contact = [c for c in live(records(server, "xero", "Contacts")) if c.get("ContactNumber") == other["Id"]]
    assert len(contact) == 1 and contact[0]["EmailAddress"] == other["Email"].strip().lower()
    assert contact[0]["ContactID"] in _key_accounts(server)
    gone = [c for c in records(server, "xero", "Contacts") if c.get("ContactNumber") == dropped]
    assert [c["ContactStatus"] for c in gone] == ["ARCHIVED"], "the deleted Lead's Contact is archived, not deleted"
