"""Several Xero organisations against one Salesforce org (`sfxero sandbox --xero-orgs 3`, a routing rule by
CurrencyIsoCode), each organisation's runs on its own staging database and stored connection
(docs/architecture.md §4.4): the cycles converge (the second plans nothing to create or update), each
organisation holds exactly the contacts and invoices routed to it and none of another's, an Account no
rule takes is held with its reason, and an organisation disconnected from the app fails its own runs in one line naming `sfxero connect xero` while
another's work succeeds. Real Dagster runs over real HTTPS; SQLite and the real PostgreSQL."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from cryptography.fernet import Fernet

from sfxero_pipelines.cli.sync_cmd import execute_stage, verify_convergence
from sfxero_pipelines.defs.staging.resources import StagingDatabase
from sfxero_pipelines.reconcile.hold_sentences import explain_reason
from sfxero_pipelines.staging.state.plans import load_latest
from sfxero_pipelines.staging.state import tokens
from sfxero_tests.conftest import FAST_XERO, pg_database, salesforce_resource, sandbox_call, xero_resource

from .conftest import live, records

RECONNECT = "run `sfxero connect xero` to connect it again"


class TenantCycle:
    """One organisation's runs: its XERO_TENANT_ID, its staging database, its stored connection."""

    def __init__(self, server, tenant, staging: StagingDatabase, monkeypatch) -> None:
        from sfxero_pipelines.definitions import defs

        loaded = defs()
        self.tenant, self.staging, self.monkeypatch = tenant, staging, monkeypatch
        self.instance = dg.DagsterInstance.ephemeral()
        xero = xero_resource(server, tenant_id=tenant.tenant_id, staging_url=staging.url,
                             per_minute_limit=FAST_XERO["per_minute"])
        self.definitions = dg.Definitions(
            assets=loaded.assets, asset_checks=loaded.asset_checks, jobs=loaded.jobs,
            resources={"staging": staging, "xero": xero, "salesforce": salesforce_resource(server)})

    def stage(self, name: str):
        self.monkeypatch.setenv("XERO_TENANT_ID", self.tenant.tenant_id)
        return execute_stage(name, self.instance, self.definitions)

    def links(self, recipe: str) -> set[str]:
        with self.staging.engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT sf_id FROM sync_link WHERE recipe = :r"), {"r": recipe}).scalars())


def _tenant_records(server, tenant_id: str, obj: str) -> list[dict]:
    return live(sandbox_call(server, "xero", "GET", f"/__sandbox/tenants/{tenant_id}/records/{obj}"))


# Nine cycles' stages (about a minute and a half on a quiet machine): the slow lane, which `make test` runs; the
# PostgreSQL case (as long again) is an extra one, in the chaos lane (`make test-chaos`).
@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.slow),
                        pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.slow, pytest.mark.chaos])])
def staging_urls(request, tmp_path):
    """Three staging databases, one per organisation."""
    if request.param == "sqlite":
        yield [f"sqlite:///{tmp_path / f'org{k}.db'}" for k in range(3)]
        return
    with pg_database() as a, pg_database() as b, pg_database() as c:
        yield [a, b, c]


def test_three_organisations_routed_converge_and_a_disconnected_one_fails_alone(make_sandbox, staging_urls, tmp_path,
                                                                                 monkeypatch):
    server = make_sandbox(size=14, seed=42, xero_orgs=3, xero_limits=FAST_XERO)
    orgs = list(server.xero.tenants.values())
    first, uk, de = orgs
    config = tmp_path / "sfxero.yaml"
    # The Xero objects the recipes read (a shorter extract: this test runs nine cycles' stages).
    config.write_text(yaml.safe_dump({"extract": {"xero": {"objects": ["contacts", "invoices", "items"]}},
                                      "routing": {"rules": [{"currency": ["GBP"], "tenant": uk.tenant_id},
                                                            {"currency": ["EUR"], "tenant": de.tenant_id}],
                                                  "default": first.tenant_id}}))
    monkeypatch.setenv("SFXERO_CONFIG", str(config))
    key = Fernet.generate_key()
    monkeypatch.setenv("SFXERO_SECRET_KEY", key.decode())

    cycles = []
    for org, url in zip(orgs, staging_urls):
        staging = StagingDatabase(url=url)
        with staging.begin() as conn:  # `sfxero connect xero` with this database, granting this organisation
            tokens.save_connection(conn, Fernet(key), system="xero", tenant_id=org.tenant_id, tenant_name=org.name,
                                   scopes="offline_access accounting.contacts accounting.transactions",
                                   refresh_token=server.xero.issue_refresh_token(), access_token=None,
                                   access_expires_at=None)
        cycles.append(TenantCycle(server, org, staging, monkeypatch))

    accounts = {a["Id"]: a for a in live(records(server, "sf", "Account"))}
    route = {"GBP": uk.tenant_id, "EUR": de.tenant_id}
    routed = {i: route.get(a.get("CurrencyIsoCode"), first.tenant_id) for i, a in accounts.items()}
    assert set(routed.values()) == {o.tenant_id for o in orgs}, "the seed gives every organisation Accounts"

    for cycle in cycles:
        for name in ("extract", "check", "reconcile", "push"):
            result = cycle.stage(name)
            assert result.ok or name == "check", (cycle.tenant.name, name, result.errors)
    for cycle in cycles:
        for name in ("extract", "check", "reconcile"):
            # Every check passes now, although each organisation's staged Accounts carry the other
            # organisations' ContactIDs (their write-backs): those are left to their own runs.
            result = cycle.stage(name)
            assert result.ok, (cycle.tenant.name, name, result.errors)
        converged, counts = verify_convergence(cycle.staging.engine)
        assert converged, (cycle.tenant.name, counts)

    opportunities = {o["Id"]: o for o in live(records(server, "sf", "Opportunity"))}
    for cycle in cycles:
        mine = cycle.tenant.tenant_id
        linked = cycle.links("R1")
        assert linked and all(routed[a] == mine for a in linked), cycle.tenant.name
        # Every Account routed here is linked here (none is held: every currency has a rule or the default).
        assert linked == {a for a, t in routed.items() if t == mine}
        contacts = _tenant_records(server, mine, "Contacts")
        written = {c["ContactNumber"] for c in contacts if c.get("ContactNumber") in accounts}
        assert written and all(routed[a] == mine for a in written), cycle.tenant.name  # none of another's
        invoices = _tenant_records(server, mine, "Invoices")
        references = {i["Reference"] for i in invoices if i.get("Reference") in opportunities}
        assert all(routed[opportunities[o]["AccountId"]] == mine for o in references), cycle.tenant.name
        assert cycle.links("R2") <= references and all(routed[opportunities[o]["AccountId"]] == mine
                                                       for o in cycle.links("R2"))
    assert any(c.links("R2") for c in cycles[1:]), "an organisation other than the first got invoices"
    # The Account's Xero ContactID written back names a contact of its own organisation.
    for account_id, account in accounts.items():
        contact_id = account.get("Xero_Contact_Id__c")
        if contact_id:
            assert contact_id in {c["ContactID"] for c in _tenant_records(server, routed[account_id], "Contacts")}

    # The owner disconnects the GmbH from the app in Xero: its runs fail in one line; the others' succeed.
    server.xero.disconnected.add(de.tenant_id)
    failed = cycles[2].stage("extract")
    assert not failed.ok
    lines = [line for line in failed.errors if "step xero_" in line]
    assert lines and all(line.endswith(RECONNECT) and "\n" not in line for line in lines), failed.errors
    assert any(de.tenant_id in line for line in lines)
    for cycle in cycles[:2]:
        assert cycle.stage("extract").ok, cycle.tenant.name
        assert cycle.stage("reconcile").ok
        converged, counts = verify_convergence(cycle.staging.engine)
        assert converged, (cycle.tenant.name, counts)

    # Without the default, the Accounts no rule takes are held, with the reason and its sentence.
    config.write_text(yaml.safe_dump({"extract": {"xero": {"objects": ["contacts", "invoices", "items"]}},
                                      "routing": {"rules": [{"currency": ["GBP"], "tenant": uk.tenant_id},
                                                            {"currency": ["EUR"], "tenant": de.tenant_id}]}}))
    assert cycles[0].stage("reconcile").ok
    with cycles[0].staging.engine.connect() as conn:
        plan = load_latest(conn)
    unrouted = {a for a, acc in accounts.items() if acc.get("CurrencyIsoCode") not in route}
    held = plan[(plan.recipe == "R1") & (plan.action == "held")]
    assert unrouted and set(held.source_id) == unrouted
    for reason in held.reason:
        assert "no routing rule matches the Account" in reason and "routing has no default" in reason
        explained = explain_reason(reason, table_name="sf_account")
        assert explained.recognised and "routing.default" in explained.sentence
    assert verify_convergence(cycles[0].staging.engine)[0]  # held, nothing written in their place
