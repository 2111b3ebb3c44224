"""Failures that cannot heal are not retried — neither by the API clients nor by the steps' Dagster
RetryPolicy — and fail once with one line naming the setting; transient ones still are retried.

Real Dagster runs of the real extract assets against the sandbox over HTTPS."""

from __future__ import annotations

import sqlite3
import time

import dagster as dg
import pytest
import requests

from sfxero_pipelines.defs.salesforce.assets import build_salesforce_extract_asset
from sfxero_pipelines.defs.xero.assets import build_xero_extract_asset
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS
from sfxero_pipelines.errors import ApiError, AuthError, BudgetExhausted, ConfigError
from sfxero_pipelines.sandbox.tls import ensure_tls_files
from sfxero_tests.extract.conftest import salesforce_resource, today, xero_resource

WRONG_SECRET = "Wrong-Secret-Value-4242"
ACCOUNT = build_salesforce_extract_asset("Account")
CONTACTS = build_xero_extract_asset(XERO_OBJECTS["contacts"])


def _run_once(asset, resources: dict) -> tuple[list[dg.DagsterEvent], float]:
    started = time.monotonic()
    result = dg.materialize([asset], resources=resources, instance=dg.DagsterInstance.ephemeral(),
                            partition_key=today().isoformat(), raise_on_error=False)
    elapsed = time.monotonic() - started
    assert not result.success
    print(f"\n{elapsed:.2f}s")
    return result.all_events, elapsed


def _failed_once(events: list[dg.DagsterEvent], *needles: str) -> str:
    failures = [e for e in events if e.is_step_failure]
    assert len(failures) == 1
    assert not [e for e in events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    message = failures[0].event_specific_data.error.message.strip()
    assert len(message.splitlines()) == 1, message
    for needle in needles:
        assert needle in message
    assert WRONG_SECRET not in message
    return message


def test_wrong_salesforce_secret_fails_once_naming_the_variable(sandbox, staging):
    resource = salesforce_resource(sandbox, client_secret=WRONG_SECRET)
    events, _ = _run_once(ACCOUNT, {"salesforce": resource, "staging": staging})
    _failed_once(events, "SALESFORCE_CLIENT_SECRET", "invalid_client")


def test_wrong_xero_secret_fails_once_naming_the_variable(sandbox, staging):
    resource = xero_resource(sandbox, client_secret=WRONG_SECRET)
    events, _ = _run_once(CONTACTS, {"xero": resource, "staging": staging})
    _failed_once(events, "XERO_CLIENT_SECRET")


@pytest.mark.parametrize("system", ["salesforce", "xero"])
def test_missing_ca_file_fails_once_naming_the_variable(sandbox, staging, tmp_path, system):
    missing = str(tmp_path / "nowhere" / "ca.pem")
    if system == "salesforce":
        events, _ = _run_once(ACCOUNT, {"salesforce": salesforce_resource(sandbox, ca_bundle=missing),
                                        "staging": staging})
    else:
        events, _ = _run_once(CONTACTS, {"xero": xero_resource(sandbox, ca_bundle=missing), "staging": staging})
    _failed_once(events, "SFXERO_CA_BUNDLE")


def test_untrusted_certificate_is_not_retried_by_the_clients(sandbox, tmp_path, caplog):
    other_ca = str(ensure_tls_files(tmp_path / "other-ca").ca_cert)  # a real CA, just not the sandbox's
    sf = salesforce_resource(sandbox, ca_bundle=other_ca, max_retries=3, retry_backoff_s=0.01)
    with pytest.raises(ConfigError) as exc, sf.get_client() as client:
        client.limits()
    assert exc.value.key == "SFXERO_CA_BUNDLE" and "certificate" in exc.value.problem
    assert "transiently" not in caplog.text  # the client's retry log line: no retry happened
    xero = xero_resource(sandbox, ca_bundle=other_ca, max_retries=3, backoff_initial_s=0.01)
    with pytest.raises(ConfigError) as exc, xero.get_client() as client:
        client.get_all("Currencies")
    assert exc.value.key == "SFXERO_CA_BUNDLE" and client.api_calls["token"] == 1


@pytest.mark.parametrize("exc, transient", [
    (ApiError("xero", "GET Contacts", 503, "transient", "gave up"), True),
    (ApiError("xero", "GET Contacts", 429, "minute", "still rate limited"), True),
    (ApiError("Salesforce", "queryAll", None, "ConnectionError", "no response after retries"), True),
    (requests.ConnectionError("connection reset"), True),
    (requests.Timeout("read timed out"), True),
    (ConnectionResetError(104, "reset"), True),
    (sqlite3.OperationalError("database is locked"), True),
    (ApiError("Salesforce", "describe Foo__c", 404, "NOT_FOUND", "no such object"), False),
    (ApiError("xero", "POST Contacts", 400, "ValidationException", "bad"), False),
    (AuthError("xero", "refused", ("XERO_CLIENT_SECRET",)), False),
    (ConfigError("SFXERO_CA_BUNDLE", "missing"), False),
    (BudgetExhausted("xero", 10, 10), False),
    (FileNotFoundError(2, "No such file"), False),
    (KeyError("Name"), False),
])
def test_only_transient_failures_are_retried(exc, transient):
    from sfxero_pipelines.defs.retries import is_transient

    assert is_transient(exc) is transient
