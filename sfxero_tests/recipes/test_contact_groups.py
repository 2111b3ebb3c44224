"""Xero contact groups as a mapping target: a declared recipe into Contacts names `ContactGroups.<group>`
(true: a member, false: not). Checked on load; planned against the staged members (extract reads each
active group's `Contacts` while a recipe maps membership); pushed through `/ContactGroups/{id}/Contacts`
after the contact is written; a group Xero does not have holds the record with a sentence; and on the
sandbox, on both staging backends, one cycle converges: the next plan has nothing to write, and a
Lead whose source changes leaves the group it no longer belongs to."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from sfxero_pipelines.config import PushConfig, parse_config
from sfxero_pipelines.config.declared import reads_contact_groups
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.defs.salesforce.assets import build_salesforce_extract_asset
from sfxero_pipelines.defs.xero.assets import build_xero_extract_asset
from sfxero_pipelines.extract.rows import COLUMN_TYPES
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS
from sfxero_pipelines.push.run import push_to_xero
from sfxero_pipelines.reconcile.build import Plan, build_declared
from sfxero_pipelines.reconcile.declared import _read_xero, contact_groups
from sfxero_pipelines.reconcile.hold_sentences import explain_reason
from sfxero_pipelines.staging.state.holds import open_hold_reasons
from sfxero_pipelines.staging.state.plans import write_plan
from sfxero_pipelines.staging.tables import ensure_object_table, upsert_rows

from ..conftest import FAST_XERO
from ..extract.conftest import materialize, metadata_of, salesforce_resource, staged, today, xero_resource
from ..extract.test_salesforce_extract import simple_salesforce
from ..push.conftest import records
from .test_leads_example_e2e import EXAMPLE as LEADS

#: Worked Leads from the web join the Newsletter group (any other source maps to nothing: not a member);
#: every worked Lead is a Key account.
GROUPS = {"ContactGroups.Newsletter": {"from": "LeadSource", "transform": "map(web_leads)"},
          "ContactGroups.Key accounts": {"value": True}}
WEB_LEADS = {"Web": "true"}


def _declaration(fields: dict | None = None, objects: list[str] | None = None) -> dict:
    data = yaml.safe_load(LEADS.read_text())
    data["recipes"]["LEADS"]["fields"].update(GROUPS if fields is None else fields)
    data["mapping"] = {"value_maps": {"web_leads": WEB_LEADS}}
    if objects is not None:
        data["extract"] = {"xero": {"objects": objects}}
    return data


def _problems(data: dict) -> list[tuple[str, str]]:
    """The first problem loading names (one line: key and what is wrong), or none."""
    try:
        parse_config(data)
    except ConfigError as exc:
        return [(exc.key, exc.problem)]
    return []


# ---- on load ----------------------------------------------------------------------------------

def test_without_a_recipe_naming_a_group_extract_reads_the_groups_in_one_call(make_sandbox, sqlite_staging):
    server = make_sandbox(size="30", seed=11, xero_limits=FAST_XERO)
    calls = _extract(server, sqlite_staging, objects=(), xero=("contact_groups",))  # the repository's sfxero.yaml
    assert calls["xero_contact_group"] == {"GET ContactGroups": 1}
    assert all("Contacts" not in g["raw"] for g in staged(sqlite_staging, "xero_contact_group").values())


def test_a_group_field_on_contacts_is_a_valid_declaration_and_asks_extract_for_members():
    data = _declaration()
    assert _problems(data) == []
    assert reads_contact_groups(parse_config(data).recipes.declared)
    assert not reads_contact_groups(parse_config(yaml.safe_load(LEADS.read_text())).recipes.declared)


@pytest.mark.parametrize("change,key,words", [
    (lambda d: d["recipes"]["LEADS"].update({"to": {"xero": "Items"}, "match": ["link", {"Code": "Id"}],
                                             "fields": {"Code": "Id", "ContactGroups.Newsletter": {"value": True}}}),
     "recipes.LEADS.fields.ContactGroups.Newsletter", "Xero Items have no field ContactGroups.Newsletter"),
    (lambda d: d["recipes"]["LEADS"]["fields"].update({"ContactGroups." + "G" * 51: {"value": True}}),
     "recipes.LEADS.fields.ContactGroups." + "G" * 51, "at most 50 characters"),
    (lambda d: d["recipes"]["LEADS"]["fields"].update({"ContactGroups.Newsletter": {"value": "yes please"}}),
     "recipes.LEADS.fields.ContactGroups.Newsletter.value", "is not a bool"),
    (lambda d: d.update({"extract": {"xero": {"objects": ["contacts", "invoices"]}}}),
     "recipes.LEADS.fields", "extract.xero.objects must include contact_groups"),
])
def test_a_bad_group_declaration_is_refused_naming_the_key(change, key, words):
    data = _declaration()
    change(data)
    problems = _problems(data)
    assert any(k == f"sfxero.yaml: {key}" and words in p for k, p in problems), problems


# ---- the sandbox: extract, plan, push, converge -----------------------------------------------

def _extract(server, staging, objects: tuple[str, ...] = ("Lead",),
             xero: tuple[str, ...] = ("contacts", "contact_groups")) -> dict[str, dict]:
    """Real extract runs; returns each Xero table's API calls by endpoint (its materialization's `api_calls`,
    without the token's)."""
    resources = {"salesforce": salesforce_resource(server), "xero": xero_resource(server), "staging": staging}
    for sobject in objects:
        assert materialize([build_salesforce_extract_asset(sobject)], resources, partition=today()).success
    calls = {}
    for key in xero:
        obj = XERO_OBJECTS[key]
        result = materialize([build_xero_extract_asset(obj)], resources, partition=today() if obj.paged else None)
        assert result.success
        calls[obj.table] = {k: n for k, n in metadata_of(result, obj.table)["api_calls"].items() if k != "token"}
    return calls


def _plan(staging, cfg) -> Plan:
    with staging.begin() as conn:
        built = build_declared(conn, cfg, "LEADS")
        write_plan(conn, built.rows, recipes=("LEADS",))
    return built


def _push(server, staging, run_id: str, calls: dict | None = None):
    """The Xero push of the stored plan; `calls` gets the calls it made, by endpoint."""
    with xero_resource(server).get_client() as x, salesforce_resource(server).get_client() as s:
        report = push_to_xero(staging.engine, x, s, cfg=PushConfig(), run_id=run_id)
        if calls is not None:
            calls.update(x.api_calls)
    return report


def _members(server) -> dict[str, set[str]]:
    """Each active group's members (ContactIDs), as Xero holds them."""
    return {g["Name"]: {m["ContactID"] for m in g.get("Contacts") or []}
            for g in records(server, "xero", "ContactGroups") if g.get("Status") == "ACTIVE"}


def _contact_of(server) -> dict[str, str]:
    """Lead Id → the ContactID of its Xero Contact (its ContactNumber is the Lead Id)."""
    return {c["ContactNumber"]: c["ContactID"] for c in records(server, "xero", "Contacts") if c.get("ContactNumber")}


def _worked(server) -> dict[str, dict]:
    return {r["Id"]: r for r in records(server, "sf", "Lead")
            if r.get("Status") == "Working - Contacted" and r.get("Email") and not r.get("IsDeleted")}


def _writes(built) -> dict[str, int]:
    return {a: int((built.rows.action == a).sum()) for a in ("create", "update", "delete", "held")}


@pytest.mark.slow
def test_membership_crosses_in_one_cycle_converges_and_is_taken_back(make_sandbox, staging, tmp_path, monkeypatch):
    server = make_sandbox(size="30", seed=11, xero_limits=FAST_XERO)
    config = tmp_path / "groups.yaml"
    config.write_text(yaml.safe_dump(_declaration()))
    monkeypatch.setenv("SFXERO_CONFIG", str(config))  # extract reads members, push writes LEADS's plan
    cfg = parse_config(yaml.safe_load(config.read_text()))
    leads = sorted(r["Id"] for r in records(server, "sf", "Lead") if r.get("Email") and not r.get("IsDeleted"))
    for lead in leads[:3]:  # three more worked Leads (the seed has one)
        simple_salesforce(server).Lead.update(lead, {"Status": "Working - Contacted"})
    worked = sorted(_worked(server))
    for lead in worked:  # one from the web, the others not
        simple_salesforce(server).Lead.update(lead, {"LeadSource": "Web" if lead == leads[0] else "Other"})
    before = _members(server)
    calls = _extract(server, staging)
    # The list of groups, then each active group by id for its members (the sandbox has two active).
    assert calls["xero_contact_group"] == {"GET ContactGroups": 1, "GET ContactGroups/{id}": 2}, calls
    groups = staged(staging, "xero_contact_group")
    newsletter = next(g for g in groups.values() if g["raw"]["Name"] == "Newsletter")
    assert {c["ContactID"] for c in newsletter["raw"]["Contacts"]} == before["Newsletter"], "extract staged the members"
    assert before["Newsletter"]

    first = _plan(staging, cfg)
    creates = [json.loads(d) for d, a in zip(first.rows["diff"], first.rows.action) if a == "create"]
    assert len(creates) == len(worked) == 4
    web = {leads[0]}
    for d in creates:
        assert "ContactGroups" not in d["payload"], "Xero's contact write ignores groups: never sent in it"
        names = {g["Name"] for g in d["groups"]}
        assert "Key accounts" in names and all(g["member"] and g["ContactGroupID"] for g in d["groups"])

    calls: dict = {}
    report = _push(server, staging, "r1", calls)
    assert report.held == [] and report.written == len(worked)
    # One contact POST, then one PUT per group: membership costs a call per group, not per contact.
    assert calls.get("PUT ContactGroups/{id}/Contacts") == 2 and calls.get("POST Contacts") == 1, calls
    after, contact = _members(server), _contact_of(server)
    assert after["Key accounts"] == before["Key accounts"] | {contact[i] for i in worked}
    assert after["Newsletter"] == before["Newsletter"] | {contact[i] for i in web}

    _extract(server, staging)
    second = _plan(staging, cfg)
    assert _writes(second) == {"create": 0, "update": 0, "delete": 0, "held": 0}, "one cycle converged"

    # A web Lead re-sourced leaves the Newsletter, and only that: its contact is not written again.
    moved = sorted(web)[0]
    simple_salesforce(server).Lead.update(moved, {"LeadSource": "Other"})
    _extract(server, staging, xero=("contact_groups",))
    third = _plan(staging, cfg)
    updates = [(s, json.loads(d)) for s, d, a in zip(third.rows.source_id, third.rows["diff"], third.rows.action)
               if a == "update"]
    assert [s for s, _ in updates] == [moved]
    diff = updates[0][1]
    assert list(diff["fields"]) == ["ContactGroups.Newsletter"]
    assert diff["fields"]["ContactGroups.Newsletter"]["old"] is True
    assert diff["fields"]["ContactGroups.Newsletter"]["new"] is False
    assert [(g["Name"], g["member"]) for g in diff["groups"]] == [("Newsletter", False)]
    stamp = next(c for c in records(server, "xero", "Contacts") if c.get("ContactNumber") == moved)["UpdatedDateUTC"]
    calls = {}
    report = _push(server, staging, "r2", calls)
    assert report.held == [] and report.written == 1
    assert calls.get("DELETE ContactGroups/{id}/Contacts/{id}") == 1 and "POST Contacts" not in calls, calls
    now = _members(server)
    assert now["Newsletter"] == after["Newsletter"] - {contact[moved]} and now["Key accounts"] == after["Key accounts"]
    written = next(c for c in records(server, "xero", "Contacts") if c.get("ContactNumber") == moved)
    assert written["UpdatedDateUTC"] == stamp, "only membership was written, not the contact"
    _extract(server, staging, xero=("contact_groups",))
    assert _writes(_plan(staging, cfg))["update"] == 0


def test_a_group_xero_does_not_have_holds_the_record_with_a_sentence(make_sandbox, sqlite_staging, tmp_path,
                                                                    monkeypatch):
    server = make_sandbox(size="30", seed=11, xero_limits=FAST_XERO)
    data = _declaration({"ContactGroups.Partners": {"value": True}})
    config = tmp_path / "groups.yaml"
    config.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("SFXERO_CONFIG", str(config))
    _extract(server, sqlite_staging)
    built = _plan(sqlite_staging, parse_config(data))
    held = built.rows[built.rows.action == "held"]
    assert len(held) == len(_worked(server)) and not (built.rows.action == "create").any()
    reason = held.reason.iloc[0]
    assert reason.startswith("Xero has no active contact group 'Partners' (active: Key accounts, Newsletter)")
    explained = explain_reason(reason, table_name="sf_lead", record_id=held.source_id.iloc[0],
                               sf_url="https://acme.my.salesforce.com")
    assert explained.recognised and "Partners" in explained.sentence and explained.sentence != reason


@pytest.mark.parametrize("deleted", ["Newsletter", "Key accounts"])
def test_a_membership_xero_refuses_holds_those_records_and_the_rest_proceed(make_sandbox, sqlite_staging, tmp_path,
                                                                           monkeypatch, deleted):
    """A group deleted in Xero after the plan: its new members are held with Xero's message, the contacts and
    the other group are written. Members refused in one PUT are sent again one by one (so one contact Xero
    refuses would not keep the others out)."""
    server = make_sandbox(size="30", seed=11, xero_limits=FAST_XERO)
    leads = sorted(r["Id"] for r in records(server, "sf", "Lead") if r.get("Email") and not r.get("IsDeleted"))
    for lead in leads[:3]:
        simple_salesforce(server).Lead.update(lead, {"Status": "Working - Contacted"})
    worked = sorted(_worked(server))
    for lead in worked:  # one from the web, the others not
        simple_salesforce(server).Lead.update(lead, {"LeadSource": "Web" if lead == leads[0] else "Other"})
    config = tmp_path / "groups.yaml"
    config.write_text(yaml.safe_dump(_declaration()))
    monkeypatch.setenv("SFXERO_CONFIG", str(config))
    _extract(server, sqlite_staging)
    built = _plan(sqlite_staging, parse_config(yaml.safe_load(config.read_text())))
    assert int((built.rows.action == "create").sum()) == len(worked) >= 3
    group = next(g for g in records(server, "xero", "ContactGroups") if g["Name"] == deleted)
    with xero_resource(server).get_client() as x:
        x._call("POST ContactGroups/{id}", "update_contact_group", contact_group_id=group["ContactGroupID"],
                contact_groups={"ContactGroups": [{"Status": "DELETED"}]})
    calls: dict = {}
    report = _push(server, sqlite_staging, "r1", calls)
    assert report.written == len(worked), "every contact is written"
    refused = [leads[0]] if deleted == "Newsletter" else worked
    assert sorted(h["source_id"] for h in report.held) == refused
    assert all(f"contact group {deleted}" in h["reason"] and "has been deleted" in h["reason"] for h in report.held)
    # Refused whole, the Key accounts batch is sent again a member at a time: 1 + one per member.
    assert calls["PUT ContactGroups/{id}/Contacts"] == (2 if deleted == "Newsletter" else 1 + len(worked) + 1), calls
    other, contact = ("Key accounts" if deleted == "Newsletter" else "Newsletter"), _contact_of(server)
    joined = worked if other == "Key accounts" else [leads[0]]
    assert _members(server)[other] >= {contact[i] for i in joined}, "the other group is set"
    with sqlite_staging.engine.connect() as conn:
        held = open_hold_reasons(conn, ["sf_lead"])["sf_lead"]
    assert sorted(held) == refused
    assert held[leads[0]].startswith("held at push: ")
    explained = explain_reason(held[leads[0]].removeprefix("held at push: "), table_name="sf_lead", record_id=leads[0])
    assert explained.recognised and "Restore or recreate it in Xero" in explained.sentence


def test_membership_reads_as_a_bool_per_contact_from_the_staged_groups(sqlite_staging):
    """What both directions read: a contact is a member of an active group that lists it; a deleted group,
    or one not staged, has no members; names match regardless of case, as Xero keeps them unique."""
    at = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)

    def row(spec, raw):
        return {"id": raw[spec.id_field], "modified_at": at, "extracted_at": at, "invalid_reason": None,
                "is_deleted": spec.is_deleted(raw), "raw": raw}

    tables = {}
    for key in ("contacts", "contact_groups"):
        spec = XERO_OBJECTS[key]
        tables[key], _ = ensure_object_table(sqlite_staging.engine, spec.table,
                                             {f.column: COLUMN_TYPES[f.kind] for f in spec.fields})
    contacts = [{"ContactID": c, "Name": c.upper(), "ContactStatus": "ACTIVE"} for c in ("c-1", "c-2", "c-3")]
    groups = [{"ContactGroupID": "g-1", "Name": "Newsletter", "Status": "ACTIVE", "Contacts": [{"ContactID": "c-1"}]},
              {"ContactGroupID": "g-2", "Name": "Old promotion", "Status": "DELETED", "Contacts": [{"ContactID": "c-2"}]}]
    with sqlite_staging.begin() as conn:
        upsert_rows(conn, tables["contacts"], [row(XERO_OBJECTS["contacts"], c) for c in contacts])
        upsert_rows(conn, tables["contact_groups"], [row(XERO_OBJECTS["contact_groups"], g) for g in groups])
    with sqlite_staging.engine.connect() as conn:
        assert {k: (g.id, g.members) for k, g in contact_groups(conn).items()} == {"newsletter": ("g-1", {"c-1"})}
        read = _read_xero(conn, "Contacts", {"ContactGroups.newsletter", "ContactGroups.Old promotion"})
    by_id = read.set_index("id")
    assert by_id["x:ContactGroups.newsletter"].to_dict() == {"c-1": True, "c-2": False, "c-3": False}
    assert by_id["x:ContactGroups.Old promotion"].to_dict() == {"c-1": False, "c-2": False, "c-3": False}
