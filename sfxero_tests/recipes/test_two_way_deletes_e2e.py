"""A declared two-way recipe's deletes on the sandbox, both directions in one cycle of a real `sfxero sync`
in its own process (real clients over HTTPS), both staging backends: an Account deleted in
Salesforce archives its Xero Contact (`deletes.salesforce: archive`), a Contact archived in Xero deletes
its Account (`deletes.xero: archive`), each exactly once, and the next cycle writes nothing."""

from __future__ import annotations

import collections
import uuid

import pytest
import yaml

from sfxero_pipelines.defs.staging.resources import StagingDatabase

from ..conftest import FAST_XERO, sandbox_call, xero_resource
from ..push.conftest import records
from ..push.test_invoice_amounts_cycle import sfid
from ..salesforce.conftest import raw_sf
from .test_r8_items_e2e import _sfxero

ACCOUNTS = [sfid("001", 60 + i) for i in range(3)]
FIXTURES = {"salesforce": {"Account": [{"Id": a, "Name": f"Two Way {i}", "Type": "Customer"}
                                       for i, a in enumerate(ACCOUNTS)]},
            "xero": {}}
RECIPE = {"from": {"salesforce": "Account", "where": "Type = 'Customer'"}, "to": {"xero": "Contacts"},
          "sync": "two_way", "match": ["link", {"ContactNumber": "Id"}],
          "fields": {"Name": {"from": "Name", "owner": "salesforce"}},
          "deletes": {"salesforce": "archive", "xero": "archive"}}


def _writes(server) -> dict[str, int]:
    return {f"{s} {k}": n for s in ("sf", "xero") for k, n in sandbox_call(server, s, "GET", "/__sandbox/stats")[
        "requests"].items() if k.split(" ")[0] in ("POST", "PATCH", "PUT", "DELETE") and "token" not in k}


def _ledger(staging) -> collections.Counter:
    """(system, object, source, target) of the recipe's writes Xero or Salesforce took, counted."""
    with staging.engine.connect() as conn:
        return collections.Counter(map(tuple, conn.exec_driver_sql(
            "SELECT target_system, target_object, source_id, target_id FROM sync_ledger WHERE recipe = 'CUST' "
            "AND outcome = 'succeeded'").fetchall()))


def _contacts(server) -> dict[str, dict]:
    return {c["ContactNumber"]: c for c in records(server, "xero", "Contacts") if c.get("ContactNumber") in ACCOUNTS}


# A minute a backend: SQLite in `make test`'s slow lane, PostgreSQL (as long again) in the chaos lane.
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.chaos])])
def staging(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'staging.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    db = StagingDatabase(url=url)
    yield db
    db.dispose()


@pytest.mark.slow
def test_each_side_deleted_removes_the_other_once(make_sandbox, staging, tmp_path):
    config = tmp_path / "sfxero.yaml"
    # R1 (and R4, which rides R1's pairs) off: the declared recipe alone keeps these Accounts and Contacts;
    # the mass-change guard lets two removals through.
    config.write_text(yaml.safe_dump({"recipes": {"R1": {"enabled": False}, "R4": {"enabled": False}, "CUST": RECIPE},
                                      "push": {"max_deletes": 2}}))
    server = make_sandbox(fixtures=FIXTURES, xero_limits=FAST_XERO)
    env = {**server.env, "SFXERO_STAGING_URL": staging.url, "DAGSTER_HOME": str(tmp_path / "home"),
           "SFXERO_CONFIG": str(config)}
    (tmp_path / "home").mkdir()
    first = _sfxero(env, "sync")
    assert first.returncode == 0 and "Converged:" in first.stdout, first.stdout[-3000:] + first.stderr[-2000:]
    contacts = _contacts(server)
    assert sorted(contacts) == sorted(ACCOUNTS) and all(c["ContactStatus"] == "ACTIVE" for c in contacts.values())

    deleted_account, archived_contact = ACCOUNTS[0], contacts[ACCOUNTS[1]]["ContactID"]
    raw_sf(server).Account.delete(deleted_account)
    with xero_resource(server).get_client() as client:
        client.write("Contacts", [{"ContactID": archived_contact, "ContactStatus": "ARCHIVED"}],
                     idempotency_key=str(uuid.uuid4()))
    before, ledger = _writes(server), _ledger(staging)
    second = _sfxero(env, "sync")
    assert second.returncode == 0 and "Converged:" in second.stdout, second.stdout[-3000:] + second.stderr[-2000:]
    after = _writes(server)
    # One cycle: the Contact archived (a POST) and the Account deleted (a DELETE), nothing else.
    assert {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)} == {
        "xero POST /api.xro/2.0/Contacts": 1, "sf DELETE /services/data/v{version}/composite/sobjects": 1}
    assert _contacts(server)[deleted_account]["ContactStatus"] == "ARCHIVED"
    accounts = {a["Id"]: a for a in records(server, "sf", "Account") if a["Id"] in ACCOUNTS}
    assert accounts[ACCOUNTS[1]].get("IsDeleted") and not accounts[ACCOUNTS[2]].get("IsDeleted")
    assert sorted((_ledger(staging) - ledger).elements()) == sorted([
        ("xero", "Contact", deleted_account, contacts[deleted_account]["ContactID"]),
        ("salesforce", "Account", archived_contact, ACCOUNTS[1])]), "each removal written once, recorded"

    # Converged: both sides agree the pairs are gone; the next cycle writes nothing.
    third = _sfxero(env, "sync")
    assert third.returncode == 0, third.stdout[-3000:]
    assert _writes(server) == after
