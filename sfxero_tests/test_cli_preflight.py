"""What `sfxero sync` checks before it starts any run: each configuration or environment mistake is
one stderr line naming the key or variable, exit 2, in seconds — not a run failing after retries
with a traceback. Through the real CLI (the console script's entry point, in this interpreter), against
the real sandbox (its credentials in the environment, so no background sandbox is started) and the
real PostgreSQL server.

The elapsed time is asserted only as a hang guard (HANG_GUARD_S: the failures these checks replace
took 37 s to minutes; on a loaded shared machine a one-line answer has taken up to 11 s); the measured
figures are printed (`pytest -s`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from .test_cli import CliResult, sfxero

HANG_GUARD_S = 30
WRONG_SECRET = "Wrong-Secret-Value-4242"


def sfxero_sync(tmp_path: Path, sandbox, *, config: dict | None = None, env: dict | None = None,
                stage: str = "extract") -> tuple[CliResult, float]:
    full_env = {**sandbox.env, "SFXERO_STAGING_URL": f"sqlite:///{tmp_path / 'staging.db'}",
                "DAGSTER_HOME": str(tmp_path / "dh"), "SFXERO_DEBUG": None}
    if config is not None:
        (tmp_path / "sfxero.yaml").write_text(yaml.safe_dump(config))
        full_env["SFXERO_CONFIG"] = str(tmp_path / "sfxero.yaml")
    full_env.update(env or {})
    started = time.monotonic()
    result = sfxero("sync", "--stage", stage, env=full_env, cwd=tmp_path)
    return result, time.monotonic() - started


def assert_one_line(result: CliResult, elapsed: float, *needles: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1, result.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0]
    assert elapsed < HANG_GUARD_S
    print(f"\n{elapsed:.2f}s  {lines[0]}")
    return lines[0]


@pytest.mark.parametrize("config, key, fragment", [
    ({"extract": {"salesforce": {"objects": ["Account", "Opportunity", "Foo__c"]}}},
     "extract.salesforce.objects[2]", "no object 'Foo__c'"),
    ({"extract": {"salesforce": {"objects": []}}}, "extract.salesforce.objects", "must include Account"),
    ({"mapping": {"contact_fields": [{"sf": "Name", "xero": "Name"}, {"sf": "Nope__c", "xero": "Website"}]}},
     "mapping.contact_fields[1].sf", "Account has no field 'Nope__c'"),
    ({"mapping": {"contact_fields": [{"sf": "Name", "xero": "Name"}, {"sf": "Contact.Nope__c", "xero": "Website"}]}},
     "mapping.contact_fields[1].sf", "Contact has no field 'Nope__c'"),
    ({"recipes": {"R1": {"filters": [{"field": "Nope__c", "op": "eq", "value": "x"}]}}},
     "recipes.R1.filters[0].field", "Account has no field 'Nope__c'"),
    ({"extract": {"start_date": "2999-01-01"}}, "extract.start_date", "in the future"),
    ({"extract": {"lookback_seconds": True}}, "extract.lookback_seconds", "valid integer"),
], ids=["unknown-object", "no-objects", "unknown-account-field", "unknown-contact-field", "unknown-filter-field",
        "future-start-date", "boolean-lookback"])
def test_config_mistakes_are_one_line_before_any_run(tmp_path, sandbox, config, key, fragment):
    result, elapsed = sfxero_sync(tmp_path, sandbox, config=config)
    assert_one_line(result, elapsed, key, fragment)
    assert not (tmp_path / "dh" / "storage").exists()  # no run was launched


@pytest.mark.parametrize("url, fragment", [
    ("postgresql+psycopg://postgres@127.0.0.1:1/test", "cannot connect"),
    ("postgresql+psycopg://postgres:pw-s3cret-1@127.0.0.1:5432/sfxero_no_such_db", "does not exist"),
], ids=["refused", "unknown-database"])
def test_unreachable_staging_database_is_one_line(tmp_path, sandbox, url, fragment):
    result, elapsed = sfxero_sync(tmp_path, sandbox, env={"SFXERO_STAGING_URL": url})
    line = assert_one_line(result, elapsed, "SFXERO_STAGING_URL", fragment)
    assert "pw-s3cret-1" not in result.stderr and "***" in line if ":pw-" in url else True


def test_dagster_home_that_is_a_file_is_one_line(tmp_path, sandbox):
    (tmp_path / "home-file").write_text("")
    result, elapsed = sfxero_sync(tmp_path, sandbox, env={"DAGSTER_HOME": str(tmp_path / "home-file")})
    assert_one_line(result, elapsed, "DAGSTER_HOME", "not a directory")


def test_dagster_home_that_cannot_be_created_is_one_line(tmp_path, sandbox):
    result, elapsed = sfxero_sync(tmp_path, sandbox, env={"DAGSTER_HOME": "/proc/sfxero-cannot-exist"})
    assert_one_line(result, elapsed, "DAGSTER_HOME", "cannot create")


def test_missing_ca_bundle_is_one_line(tmp_path, sandbox):
    result, elapsed = sfxero_sync(tmp_path, sandbox, env={"SFXERO_CA_BUNDLE": str(tmp_path / "nowhere" / "ca.pem")})
    assert_one_line(result, elapsed, "SFXERO_CA_BUNDLE", "does not exist")


def test_wrong_client_secret_names_the_variable_not_the_value(tmp_path, sandbox):
    result, elapsed = sfxero_sync(tmp_path, sandbox, env={"SALESFORCE_CLIENT_SECRET": WRONG_SECRET})
    assert_one_line(result, elapsed, "SALESFORCE_CLIENT_SECRET", "invalid_client")
    assert WRONG_SECRET not in result.stderr + result.stdout


def test_wrong_xero_secret_names_the_variable_not_the_value(tmp_path, sandbox):
    result, elapsed = sfxero_sync(tmp_path, sandbox, env={"XERO_CLIENT_SECRET": WRONG_SECRET})
    assert_one_line(result, elapsed, "XERO_CLIENT_SECRET", "refused by Xero")
    assert WRONG_SECRET not in result.stderr + result.stdout


def test_unreachable_xero_organisation_is_one_line(tmp_path, sandbox):
    result, elapsed = sfxero_sync(tmp_path, sandbox, env={"XERO_TENANT_ID": "00000000-0000-0000-0000-00000000beef"})
    assert_one_line(result, elapsed, "XERO_TENANT_ID", "not an organisation")
