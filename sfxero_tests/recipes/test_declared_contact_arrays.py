"""A declared recipe into Xero Contacts maps phones and addresses with R1's names for Xero's typed arrays
(`Phones.DEFAULT`, `Addresses.STREET.City`): checked on load, written as Xero's elements, read back from
them, so on the sandbox (both staging backends) one cycle converges, and a changed city updates that
address whole while the contact's other address is left as it was."""

from __future__ import annotations

import json

import pytest
import yaml

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.errors import ConfigError

from ..conftest import FAST_XERO
from ..extract.test_salesforce_extract import simple_salesforce
from ..push.conftest import records
from .test_contact_groups import _extract, _plan, _push, _worked
from .test_leads_example_e2e import EXAMPLE as LEADS

ARRAYS = {"Phones.DEFAULT": {"from": "Phone", "transform": "phone(US)"}, "Addresses.STREET.City": "City",
          "Addresses.STREET.PostalCode": "PostalCode", "Addresses.STREET.Country": {"from": "Country",
                                                                                    "transform": "country"}}


def _declaration(fields: dict) -> dict:
    data = yaml.safe_load(LEADS.read_text())
    data["recipes"]["LEADS"]["fields"].update(fields)
    return data


@pytest.mark.parametrize("field,words", [("Phones.HOME", "Xero Contacts have no field Phones.HOME"),
                                         ("Addresses.STREET.Planet", "Xero Contacts have no field "
                                                                     "Addresses.STREET.Planet")])
def test_an_unknown_element_or_part_is_refused(field, words):
    with pytest.raises(ConfigError) as refused:
        parse_config(_declaration({field: "City"}))
    assert refused.value.key == f"sfxero.yaml: recipes.LEADS.fields.{field}" and words in refused.value.problem


def _street(contact: dict) -> dict:
    return next((a for a in contact.get("Addresses") or [] if a.get("AddressType") == "STREET"), {})


def test_phones_and_addresses_cross_converge_and_a_changed_city_updates_its_address(make_sandbox, staging, tmp_path,
                                                                                      monkeypatch):
    server = make_sandbox(size="30", seed=11, xero_limits=FAST_XERO)
    leads = sorted(r["Id"] for r in records(server, "sf", "Lead") if r.get("Email") and r.get("Phone")
                   and r.get("City") and not r.get("IsDeleted"))
    for lead in leads[:2]:
        simple_salesforce(server).Lead.update(lead, {"Status": "Working - Contacted"})
    config = tmp_path / "arrays.yaml"
    data = _declaration(ARRAYS)
    config.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("SFXERO_CONFIG", str(config))
    cfg = parse_config(data)
    _extract(server, staging, xero=("contacts",))
    first = _plan(staging, cfg)
    creates = [json.loads(d)["payload"] for d, a in zip(first.rows["diff"], first.rows.action) if a == "create"]
    assert len(creates) == len(_worked(server)) >= 2
    for payload in creates:
        assert payload["Phones"][0]["PhoneType"] == "DEFAULT" and payload["Phones"][0]["PhoneNumber"].startswith("+")
        assert [a["AddressType"] for a in payload["Addresses"]] == ["STREET"] and payload["Addresses"][0]["City"]
    report = _push(server, staging, "r1")
    assert report.held == [] and report.written == len(creates)
    by_lead = {c["ContactNumber"]: c for c in records(server, "xero", "Contacts") if c.get("ContactNumber")}
    lead = {r["Id"]: r for r in records(server, "sf", "Lead")}
    for i in _worked(server):
        assert _street(by_lead[i])["City"] == lead[i]["City"].strip()

    _extract(server, staging, xero=("contacts",))
    second = _plan(staging, cfg)
    assert not second.rows.action.isin(["create", "update", "delete", "held"]).any(), "one cycle converged"

    moved = leads[0]
    simple_salesforce(server).Lead.update(moved, {"City": "Springfield"})
    _extract(server, staging, xero=("contacts",))
    third = _plan(staging, cfg)
    [update] = [json.loads(d) for d, a in zip(third.rows["diff"], third.rows.action) if a == "update"]
    assert list(update["fields"]) == ["Addresses.STREET.City"]
    street = update["payload"]["Addresses"][0]
    assert street["AddressType"] == "STREET" and street["City"] == "Springfield"
    assert street["PostalCode"] == _street(by_lead[moved])["PostalCode"], "the address goes whole"
    assert _push(server, staging, "r2").written == 1
    after = next(c for c in records(server, "xero", "Contacts") if c.get("ContactNumber") == moved)
    assert _street(after)["City"] == "Springfield"
    _extract(server, staging, xero=("contacts",))
    assert not _plan(staging, cfg).rows.action.isin(["create", "update"]).any()
