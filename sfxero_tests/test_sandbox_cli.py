"""`sfxero sandbox` as a newcomer runs it: a foreground process that prints where it listens,
writes the connection settings (owner-only) and serves the sandbox's (docs/sandbox.md) fixture format over HTTPS, until
Ctrl-C (a real process and SIGINT). Refused fixture files are refused before anything starts, so
those run in this interpreter."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest
import requests

from sfxero_pipelines.settings import load_env_file

from .test_cli import CliResult, sfxero


def _start(tmp_path, *args: str) -> tuple[subprocess.Popen, dict]:
    env_file = tmp_path / "sandbox.env"
    proc = subprocess.Popen([sys.executable, "-m", "sfxero_pipelines.cli", "sandbox", "--env-file", str(env_file), *args],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not env_file.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "sandbox did not write its env file"
        time.sleep(0.1)
    return proc, load_env_file(env_file, environ={})


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    return out


def _get(env: dict, url: str):
    response = requests.get(url, verify=env["SFXERO_CA_BUNDLE"], timeout=30)
    response.raise_for_status()
    return response.json()


def test_sandbox_prints_where_it_listens_and_writes_private_settings(tmp_path):
    proc, env = _start(tmp_path, "--size", "small")
    try:
        assert stat.S_IMODE(os.stat(tmp_path / "sandbox.env").st_mode) == 0o600
        assert env["SALESFORCE_LOGIN_URL"].startswith("https://127.0.0.1:")
        assert env["XERO_API_URL"].endswith("/api.xro/2.0")
        assert len(_get(env, f"{env['SALESFORCE_LOGIN_URL']}/__sandbox/records/Account")) == 40
    finally:
        out = _stop(proc)
    assert "ready in" in out and env["SALESFORCE_LOGIN_URL"] in out and env["XERO_IDENTITY_URL"] in out


def test_sandbox_loads_a_fixture_file(tmp_path):
    fixture = {
        "salesforce": {"Account": [{"Name": "Fixture Account Ltd", "BillingCountry": "New Zealand"}]},
        "xero": {"Contacts": [{"Name": "Fixture Contact Ltd", "EmailAddress": "ap@fixture.example"}]},
    }
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps(fixture))
    proc, env = _start(tmp_path, "--fixtures", str(path))
    try:
        accounts = _get(env, f"{env['SALESFORCE_LOGIN_URL']}/__sandbox/records/Account")
        contacts = _get(env, f"{env['XERO_IDENTITY_URL']}/__sandbox/records/Contacts")
    finally:
        _stop(proc)
    assert [a["Name"] for a in accounts] == ["Fixture Account Ltd"]
    assert accounts[0]["Id"].startswith("001") and len(accounts[0]["Id"]) == 18  # generated id
    assert accounts[0]["SystemModstamp"]  # generated timestamp
    assert [c["Name"] for c in contacts] == ["Fixture Contact Ltd"] and contacts[0]["ContactID"]


def test_bad_fixture_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    result = sfxero("sandbox", "--fixtures", str(path), "--env-file", str(tmp_path / "e.env"))
    assert result.returncode == 2
    assert "--fixtures" in result.stderr and "not valid JSON" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_schema_file_is_a_one_line_error_naming_the_key(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text("objects:\n  Invoice_Run__c:\n    fields:\n      Amount__c: money\n")
    result = sfxero("sandbox", "--schema", str(path), "--env-file", str(tmp_path / "e.env"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "sfxero: --schema.objects.Invoice_Run__c.fields.Amount__c.type: unknown field type 'money' (one of boolean, "
        "currency, date, datetime, double, email, int, percent, phone, picklist, reference, string, textarea, url)"]


def test_fixture_the_api_would_refuse_names_the_record(tmp_path):
    path = tmp_path / "dupes.json"
    path.write_text(json.dumps({"xero": {"Contacts": [{"Name": "Twin Ltd"}, {"Name": "Twin Ltd"}]}}))
    result = sfxero("sandbox", "--fixtures", str(path), "--env-file", str(tmp_path / "e.env"))
    assert result.returncode == 2
    assert "--fixtures" in result.stderr and "Twin Ltd" in result.stderr and "Traceback" not in result.stderr


def _refused(tmp_path, fixture: dict) -> CliResult:
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps(fixture))
    return sfxero("sandbox", "--fixtures", str(path), "--env-file", str(tmp_path / "e.env"), cwd=tmp_path)


@pytest.mark.parametrize("contact", [{"Name": None, "EmailAddress": "ap@nameless.example"},
                                     {"EmailAddress": "ap@nameless.example"}, {"Name": "  "}])
def test_fixture_contact_without_a_name_is_refused_naming_the_record(tmp_path, contact):
    result = _refused(tmp_path, {"xero": {"Contacts": [{"Name": "Fine Ltd"}, contact]}})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--fixtures" in lines[0] and "Contacts[1]" in lines[0]
    assert "name must be specified" in lines[0]


def test_sandbox_port_out_of_range_is_a_usage_error(tmp_path):
    result = sfxero("sandbox", "--sf-port", "99999", "--env-file", str(tmp_path / "e.env"), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--sf-port" in lines[0] and "99999" in lines[0]


def test_sandbox_serves_several_xero_organisations(tmp_path):
    proc, env = _start(tmp_path, "--size", "8", "--xero-orgs", "3")
    try:
        tenants = _get(env, f"{env['XERO_IDENTITY_URL']}/__sandbox/tenants")
        contacts = [_get(env, f"{env['XERO_IDENTITY_URL']}/__sandbox/tenants/{t['tenant_id']}/records/Contacts")
                    for t in tenants]
    finally:
        out = _stop(proc)
    assert [t["name"] for t in tenants] == ["Sandbox Trading Co", "Sandbox Trading UK Ltd", "Sandbox Trading GmbH"]
    assert tenants[0]["tenant_id"] == env["XERO_TENANT_ID"] and all(t["connected"] for t in tenants)
    assert all(contacts) and len({c["ContactID"] for cs in contacts for c in cs}) == sum(map(len, contacts))
    assert "Xero organisations:" in out and tenants[2]["tenant_id"] in out


def test_sandbox_xero_orgs_below_one_is_a_usage_error(tmp_path):
    result = sfxero("sandbox", "--xero-orgs", "0", "--env-file", str(tmp_path / "e.env"), cwd=tmp_path)
    assert result.returncode == 2 and "--xero-orgs" in result.stderr
