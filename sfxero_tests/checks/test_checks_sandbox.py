"""Checks end to end: the sandbox is seeded with fixtures holding each kind of bad record, the real
extract assets stage them (SQLite), and the checks run as Dagster asset checks in the same run as a
downstream step that stands in for reconciliation:
- the right check warns (record-level) and the bad records are held with expectation and value;
- the good records have no open hold and the downstream step runs;
- with a strict `checks.max_bad_share`, the blocking checks fail and the downstream step does not run;
- `sync --stage check` (the CLI's `check_job` path) runs headless and prints a table of results.

The world is extracted and checked once per worker (`checked_world_built`, a package fixture shared
with `test_expectations_match_ge.py`, so pytest-xdist keeps both modules on one worker), and each test
gets its own copy of the staging.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg
import pytest

from sfxero_pipelines.checks.holds import open_holds
from sfxero_pipelines.cli.sync_cmd import print_check_table, run_stage_jobs
from sfxero_pipelines.config import ChecksConfig
from sfxero_pipelines.defs.checks.checks import build_checks
from sfxero_pipelines.defs.salesforce.assets import salesforce_extract_assets
from sfxero_pipelines.defs.staging.resources import StagingDatabase
from sfxero_pipelines.defs.xero.assets import xero_extract_assets
from sfxero_pipelines.defs.partitions import daily_partitions
from sfxero_pipelines.sandbox.salesforce.store import normalize_id

from ..extract.conftest import FAST_XERO, salesforce_resource, today, xero_resource


def sfid(prefix: str, n: int) -> str:
    return normalize_id(f"{prefix}5Hs{n:09d}")


GOOD_XC, ARCHIVED_XC, BADMAIL_XC = ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
                                    "33333333-3333-4333-8333-333333333333")
A_GOOD, A_COUNTRY, A_PHONE, A_ARCHIVED = (sfid("001", n) for n in (1, 2, 3, 4))
O_GOOD, O_NEGATIVE, O_NO_ACCOUNT, O_CURRENCY, O_ARCHIVED, O_NOITEM = (sfid("006", n) for n in range(1, 7))
P_GOOD, P_NOITEM = sfid("01t", 1), sfid("01t", 2)
C_GOOD, C_BADMAIL = sfid("003", 1), sfid("003", 2)


def _opp(oid, account, **extra):
    return {"Id": oid, "Name": f"Deal {oid[-6:]}", "AccountId": account, "StageName": "Closed Won",
            "CloseDate": "2025-06-30", "Amount": 100, "CurrencyIsoCode": "USD", **extra}


FIXTURES = {
    "salesforce": {
        "Account": [
            {"Id": A_GOOD, "Name": "Good Corp", "Phone": "+1 415 555 0100", "BillingCountry": "United States",
             "Xero_Contact_Id__c": GOOD_XC},
            {"Id": A_COUNTRY, "Name": "Atlantis Trading", "BillingCountry": "Atlantis"},
            {"Id": A_PHONE, "Name": "No Phone Ltd", "Phone": "call me maybe", "BillingCountry": "UK"},
            {"Id": A_ARCHIVED, "Name": "Gone Co", "BillingCountry": "NZ", "Xero_Contact_Id__c": ARCHIVED_XC},
        ],
        "Contact": [
            {"Id": C_GOOD, "LastName": "Good", "Email": "ann@good.example.com", "AccountId": A_GOOD},
            {"Id": C_BADMAIL, "LastName": "Typo", "Email": "bob@good.c", "AccountId": A_GOOD},
        ],
        "Product2": [{"Id": P_GOOD, "Name": "Consulting", "ProductCode": "GOOD", "IsActive": True},
                     {"Id": P_NOITEM, "Name": "Mystery", "ProductCode": "NOITEM", "IsActive": True}],
        "Opportunity": [
            _opp(O_GOOD, A_GOOD), _opp(O_NEGATIVE, A_GOOD, Amount=-50, StageName="Prospecting"),
            _opp(O_NO_ACCOUNT, sfid("001", 999), StageName="Prospecting"),
            _opp(O_CURRENCY, A_GOOD, CurrencyIsoCode="XXX", StageName="Prospecting"),
            _opp(O_ARCHIVED, A_ARCHIVED), _opp(O_NOITEM, A_GOOD),
        ],
        "OpportunityLineItem": [
            {"OpportunityId": O_GOOD, "Product2Id": P_GOOD, "Quantity": 1, "UnitPrice": 100, "TotalPrice": 100},
            {"OpportunityId": O_ARCHIVED, "Product2Id": P_GOOD, "Quantity": 1, "UnitPrice": 100, "TotalPrice": 100},
            {"OpportunityId": O_NOITEM, "Product2Id": P_NOITEM, "Quantity": 1, "UnitPrice": 100, "TotalPrice": 100},
        ],
    },
    "xero": {
        "Contacts": [{"ContactID": GOOD_XC, "Name": "Good Corp", "EmailAddress": "ap@good.example.com"},
                     {"ContactID": ARCHIVED_XC, "Name": "Gone Co", "ContactStatus": "ARCHIVED"},
                     {"ContactID": BADMAIL_XC, "Name": "Bad Mail Ltd", "EmailAddress": "not-an-email"}],
        "Items": [{"Code": "GOOD", "Name": "Consulting", "IsSold": True,
                   "SalesDetails": {"UnitPrice": 100, "AccountCode": "200", "TaxType": "OUTPUT"}},
                  {"Code": "BADTAX", "Name": "Old thing", "IsSold": True,
                   "SalesDetails": {"UnitPrice": 10, "AccountCode": "200", "TaxType": "NOPE"}}],
        "Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": GOOD_XC}, "Status": "AUTHORISED",
                      "LineAmountTypes": "Exclusive", "CurrencyCode": "USD",
                      "LineItems": [{"Description": "Work", "Quantity": 2, "UnitAmount": 50, "AccountCode": "200",
                                     "TaxType": "OUTPUT"}]}],
    },
}


@dg.asset(deps=["sf_opportunity", "sf_account"], partitions_def=daily_partitions(),
          backfill_policy=dg.BackfillPolicy.single_run())
def reconcile_probe(staging: StagingDatabase) -> dg.MaterializeResult:
    """Stands in for reconciliation: what it would treat as held."""
    with staging.engine.connect() as conn:
        held = open_holds(conn, "sf_opportunity")
    return dg.MaterializeResult(metadata={"held_opportunities": len(held)})


def _defs(server, staging, cfg: ChecksConfig) -> dg.Definitions:
    reference = [a for a in xero_extract_assets if a.partitions_def is None]
    partitioned = [a for a in salesforce_extract_assets + xero_extract_assets if a.partitions_def is not None]
    return dg.Definitions(
        assets=[*reference, *partitioned, reconcile_probe], asset_checks=build_checks(cfg=cfg),
        resources={"xero": xero_resource(server), "salesforce": salesforce_resource(server), "staging": staging},
        jobs=[dg.define_asset_job("reference", selection=dg.AssetSelection.assets(*reference)),
              dg.define_asset_job("cycle", selection=dg.AssetSelection.assets(*partitioned, reconcile_probe))])


def _evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def _reasons(staging, table: str) -> dict[str, set[str]]:
    import sqlalchemy as sa

    from sfxero_pipelines.staging.schema import held_record

    with staging.engine.connect() as conn:
        rows = conn.execute(sa.select(held_record.c.record_id, held_record.c.reason).where(
            held_record.c.table_name == table, held_record.c.released_at.is_(None))).fetchall()
    out: dict[str, set[str]] = {}
    for record_id, reason in rows:
        out.setdefault(record_id, set()).add(reason)
    return out


def build_checked_world(server, staging_path: Path):
    """The fixtures' world extracted and checked into `staging_path`: (instance, the cycle's result)."""
    staging = StagingDatabase(url=f"sqlite:///{staging_path}")
    instance = dg.DagsterInstance.ephemeral()
    defs = _defs(server, staging, ChecksConfig(max_bad_share=0.9))
    assert defs.resolve_job_def("reference").execute_in_process(instance=instance).success
    result = defs.resolve_job_def("cycle").execute_in_process(instance=instance, partition_key=today().isoformat())
    staging.dispose()
    return instance, result


@pytest.fixture
def checked_world(checked_world_built, tmp_path):
    """(sandbox, staging, instance, the cycle's result): the world built once per worker
    (`checks/conftest.py`), each test on its own copy of the staged database, so what one test's runs
    write (holds, a strict re-check) never reaches another. The sandbox is only read by the checks."""
    server, built, instance, result = checked_world_built
    copy = tmp_path / "staging.db"
    with sqlite3.connect(built) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    staging = StagingDatabase(url=f"sqlite:///{copy}")
    yield server, staging, instance, result
    staging.dispose()


def test_bad_records_are_held_good_ones_flow_on(checked_world):
    server, staging, instance, result = checked_world
    assert result.success
    evaluations = _evaluations(result)
    warn = dg.AssetCheckSeverity.WARN
    for key in [("sf_account", "quality"), ("sf_contact", "quality"), ("sf_opportunity", "quality"),
                ("sf_opportunity", "accounting_invoice_push"), ("xero_contact", "quality")]:
        assert not evaluations[key].passed and evaluations[key].severity == warn, key
    assert evaluations[("sf_opportunity_line_item", "quality")].passed

    accounts = _reasons(staging, "sf_account")
    assert accounts[A_COUNTRY] == {'expect_column_values_to_be_in_set(billingcountry): "atlantis"'}
    assert accounts[A_PHONE] == {'expect_column_values_to_match_regex(phone): "call me maybe"'}
    assert _reasons(staging, "sf_contact") == {C_BADMAIL: {'expect_column_values_to_match_regex(email): "bob@good.c"'}}
    opps = _reasons(staging, "sf_opportunity")
    assert opps[O_NEGATIVE] == {"expect_column_values_to_be_between(amount): -50.0"}
    assert opps[O_NO_ACCOUNT] == {f'expect_column_values_to_be_in_set(accountid): "{sfid("001", 999)}"'}
    assert opps[O_CURRENCY] == {'expect_column_values_to_be_in_set(currencyisocode): "XXX"'}
    assert opps[O_ARCHIVED] == {f'expect_column_values_to_be_null(archived_xero_contact): "{ARCHIVED_XC} (Gone Co) is ARCHIVED"'}
    assert opps[O_NOITEM] == {'expect_column_values_to_be_null(unknown_item_codes): "NOITEM"'}
    assert set(_reasons(staging, "xero_contact")) == {BADMAIL_XC}
    badtax = _reasons(staging, "xero_item")
    assert [r for rs in badtax.values() for r in rs] == ['expect_column_values_to_be_in_set(sales_tax_type): "NOPE"']

    with staging.engine.connect() as conn:
        held_opps = open_holds(conn, "sf_opportunity")
        assert O_GOOD not in held_opps and A_GOOD not in open_holds(conn, "sf_account")
        assert C_GOOD not in open_holds(conn, "sf_contact") and GOOD_XC not in open_holds(conn, "xero_contact")
    # The downstream step ran and saw exactly the held opportunities.
    probe = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("reconcile_probe")]
    assert probe and probe[0].materialization.metadata["held_opportunities"].value == len(held_opps) == 5

    # The UI gets the failing ids (sample + count) and the expectation that failed.
    meta = evaluations[("sf_opportunity", "quality")].metadata
    assert meta["failing_ids_count"].value == 3
    assert set(meta["failing_ids_sample"].value) == {O_NEGATIVE, O_NO_ACCOUNT, O_CURRENCY}
    assert {e["column"] for e in meta["expectations"].value if not e["success"]} == {"amount", "accountid", "currencyisocode"}


def test_blocking_failure_keeps_downstream_from_running(checked_world):
    server, staging, instance, _ = checked_world
    strict = _defs(server, staging, ChecksConfig(max_bad_share=0.01))
    result = strict.resolve_job_def("cycle").execute_in_process(instance=instance, partition_key=today().isoformat(),
                                                                raise_on_error=False)
    assert not result.success
    # xero_contact (1 of its 2 live rows bad) is checked first and blocks; everything downstream of it —
    # the checks that resolve foreign keys into it, and the reconciliation stand-in — does not run.
    evaluations = _evaluations(result)
    evaluation = evaluations[("xero_contact", "quality")]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "max_bad_share" in evaluation.metadata["table_failures"].value[0]
    assert ("sf_opportunity", "accounting_invoice_push") not in evaluations
    assert not [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("reconcile_probe")]
    skipped = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SKIPPED"} | {
        e.step_key for e in result.all_events if e.is_step_failure}
    assert "xero_contact_quality" in skipped
    # Re-running the checks did not duplicate any hold.
    assert sum(len(r) for r in _reasons(staging, "sf_opportunity").values()) == 5


def test_sync_stage_check_runs_headless_and_prints_a_table(checked_world, monkeypatch, capsys):
    from sfxero_pipelines.defs.sync.stages import STAGE_JOBS

    _, staging, _, _ = checked_world
    monkeypatch.setenv("SFXERO_STAGING_URL", staging.url)
    from sfxero_pipelines.definitions import defs

    assert STAGE_JOBS["check"] == ("check_job",)
    ok, rows = run_stage_jobs("check", dg.DagsterInstance.ephemeral(), defs())
    print_check_table(rows)
    out = capsys.readouterr().out
    by_key = {(r[0], r[1]): r for r in rows}
    # Default max_bad_share (10 %): 1 of 2 live Xero contacts bad blocks xero_contact (and what depends on it).
    assert not ok and by_key[("xero_contact", "quality")][2] == "ERROR"
    assert by_key[("sf_product2", "quality")][2] == "ok" and by_key[("sf_product2", "quality")][3] == 2
    assert by_key[("sf_account", "signals")][2] == "ok"
    assert "table" in out.splitlines()[0] and "xero_contact" in out and "ERROR" in out
