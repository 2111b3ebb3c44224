"""Declared recipes into Salesforce (Xero collection → Salesforce object), the shipped example R9/R10:
it loads and passes every check; each kind of bad declaration is refused with one line naming the
key (on load, or against the Salesforce describe); `sfxero recipes` lists them. Then the planner on
a staged world (no sandbox): rows per kind of record, the delete policies, and the push's upsert and
links through sf_write. Pure but for SQLite."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
import yaml

from sfxero_pipelines.config import config_problems, parse_config
from sfxero_pipelines.config.declared import salesforce_problems
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.extract.rows import COLUMN_TYPES
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS
from sfxero_pipelines.reconcile.declared import plan_declared
from sfxero_pipelines.staging.schema import column_name, extract_state, sync_link
from sfxero_pipelines.staging.state import approvals
from sfxero_pipelines.staging.tables import ensure_object_table, upsert_rows
from sfxero_pipelines.push.rows import PushRow
from sfxero_pipelines.push.run import sf_write

from ..test_cli import sfxero
from .test_declared_config import _sandbox_describe
from .test_finance_example_e2e import EXAMPLE

BASE = yaml.safe_load(EXAMPLE.read_text())


def _with(change, name: str = "R9") -> dict:
    data = copy.deepcopy(BASE)
    change(data["recipes"][name])
    return data


def test_the_finance_example_loads_and_passes_every_check():
    cfg, problems = config_problems(BASE)
    assert problems == []
    r9 = cfg.recipes.declared["R9"]
    assert (r9.source.xero, r9.to.salesforce, r9.direction) == ("CreditNotes", "Xero_Credit_Note__c", "xero_to_sf")
    assert (r9.key_rule.target, r9.fields["Account__c"].ref, r9.fields["Account__c"].via) == \
        ("Xero_Credit_Note_Id__c", "Contact.ContactID", "R1")
    assert cfg.recipes.declared["R10_BILLS"].source.xero == "Bills"
    assert salesforce_problems(cfg.recipes.declared, _sandbox_describe) == []


@pytest.mark.parametrize("change, key, fragment", [
    (lambda r: r.update({"match": ["link"]}), "recipes.R9.match", "needs a key pair after link"),
    (lambda r: r["fields"].update({"Total__c": "Totl"}), "recipes.R9.fields.Total__c", "Xero CreditNotes have no field Totl"),
    (lambda r: r["fields"].update({"Account__c": {"ref": "Contact.ContactId", "via": "R1"}}),
     "recipes.R9.fields.Account__c", "have no field Contact.ContactId"),
    (lambda r: r["fields"].update({"Total__c": {"lookup": "PricebookEntry.UnitPrice"}}), "recipes.R9.fields.Total__c",
     "lookup: reads related Salesforce records"),
    (lambda r: r["fields"].update({"Account__c": {"ref": "Contact.ContactID", "via": "R6"}}),
     "recipes.R9.fields.Account__c.via", "no recipe R6 keeps links"),
    (lambda r: r.update({"sync": "two_way"}), "recipes.R9", None),
    (lambda r: r.update({"write_back": {"Name": "CreditNoteID"}}), "recipes.R9", "write_back"),
    (lambda r: r.update({"from": {"xero": "CreditNotes", "where": "Status = 'PAID'"}}), "recipes.R9.from",
     "a Xero source takes filter"),
])
def test_a_bad_declaration_into_salesforce_is_refused_on_load_naming_the_key(change, key, fragment):
    with pytest.raises(ConfigError) as exc:
        parse_config(_with(change))
    line = str(exc.value)
    assert "\n" not in line and line.startswith(f"sfxero.yaml: {key}"), line
    if fragment:
        assert fragment in line, line


@pytest.mark.parametrize("change, key, fragment", [
    (lambda r: r["fields"].update({"Totl__c": "Total"}), "recipes.R9.fields.Totl__c",
     "Salesforce Xero_Credit_Note__c has no field Totl__c"),
    (lambda r: r.update({"match": ["link", {"Xero_Id__c": "CreditNoteID"}]}), "recipes.R9.match[1]",
     "Salesforce Xero_Credit_Note__c has no field Xero_Id__c"),
    (lambda r: r["fields"].update({"Total__c": {"value": "lots"}}), "recipes.R9.fields.Total__c.value", "is not a number"),
])
def test_salesforce_fields_of_a_recipe_into_salesforce_are_checked_against_the_describe(change, key, fragment):
    cfg = parse_config(_with(change))
    problems = salesforce_problems(cfg.recipes.declared, _sandbox_describe)
    assert problems and problems[0][0] == key and fragment in problems[0][1], problems


def test_recipes_validate_and_list_show_the_recipes_into_salesforce(tmp_path):
    ok = sfxero("recipes", "validate", str(EXAMPLE), env={"SFXERO_STAGING_URL": None})
    assert ok.returncode == 0 and "valid (10 recipes, 3 declared" in ok.stdout, ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_with(lambda r: r["fields"].update({"Colour__c": "Type"}))))
    result = sfxero("recipes", "validate", str(bad), env={"SFXERO_STAGING_URL": None})
    assert result.returncode == 2
    assert result.stdout.strip() == f"{bad}: recipes.R9.fields.Colour__c: Salesforce Xero_Credit_Note__c has no field Colour__c"
    listed = sfxero("recipes", env={"SFXERO_CONFIG": str(EXAMPLE)})
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert "Xero CreditNotes" in rows["R9"] and "Salesforce Xero_Credit_Note__c" in rows["R9"]
    assert "link, Xero_Id__c = InvoiceID" in rows["R10_BILLS"] and "Type IN ('RECEIVE', 'SPEND')" in rows["R10_BANK"]


def test_a_declared_create_is_an_upsert_that_records_its_link():
    diff = {"target_object": "Xero_Credit_Note__c", "source_table": "xero_credit_note", "engine": "declared",
            "lookup_by": "Xero_Credit_Note_Id__c", "link": True,
            "fields": {"Xero_Credit_Note_Id__c": {"old": None, "new": "cn-1", "rule": "R9"}},
            "payload": {"Xero_Credit_Note__c": {"Xero_Credit_Note_Id__c": "cn-1", "Name": "CN-1"}}}
    row = PushRow("p", 1, "R9", "xero_to_sf", "create", "cn-1", None, json.loads(json.dumps(diff)))
    w = sf_write(row)
    assert (w.upsert_by, w.link_recipe, w.hold_table, w.hold_record) == ("Xero_Credit_Note_Id__c", "R9",
                                                                         "xero_credit_note", "cn-1")
    builtin = sf_write(PushRow("p", 1, "R6", "xero_to_sf", "create", "c-1", None,
                               {"payload": {"CampaignMember": {"CampaignId": "701", "ContactId": "003"}}}))
    assert (builtin.upsert_by, builtin.link_recipe) == (None, None)


# ---- the planner on a staged world ------------------------------------------------------------

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)
CN_FIELDS = {"Name": "string", "Account__c": "reference", "Xero_Credit_Note_Id__c": "string", "Status__c": "picklist",
             "Type__c": "picklist", "Credit_Note_Number__c": "string", "Date__c": "date", "Total__c": "currency",
             "Remaining_Credit__c": "currency", "Reference__c": "string"}


def _stage(db, *, linked: dict[str, str]) -> dict[str, str]:
    """Xero credit notes and Salesforce records as extract stages them (the describe cached too), with
    R1 and R9 links: the names of the records by what each is for."""
    spec = XERO_OBJECTS["credit_notes"]
    x_table, _ = ensure_object_table(db.engine, spec.table, {f.column: COLUMN_TYPES[f.kind] for f in spec.fields})
    s_table, _ = ensure_object_table(db.engine, "sf_xero_credit_note__c",
                                     {column_name(f): COLUMN_TYPES["text"] for f in CN_FIELDS})

    def cn(cn_id: str, contact: str, status: str = "AUTHORISED", total: float = 40.0) -> dict:
        raw = {"CreditNoteID": cn_id, "CreditNoteNumber": cn_id.upper(), "Type": "ACCRECCREDIT", "Status": status,
               "Contact": {"ContactID": contact}, "Date": "/Date(1764460800000+0000)/", "Total": total,
               "RemainingCredit": total, "Reference": None}
        return {"id": cn_id, "modified_at": T0, "is_deleted": spec.is_deleted(raw), "extracted_at": T0,
                "invalid_reason": None, "raw": raw}

    def sf(sf_id: str, cn_id: str, total: str = "40.0") -> dict:
        values = {"Name": cn_id.upper(), "Account__c": "001A", "Xero_Credit_Note_Id__c": cn_id, "Status__c": "AUTHORISED",
                  "Type__c": "ACCRECCREDIT", "Credit_Note_Number__c": cn_id.upper(), "Date__c": "2025-11-30",
                  "Total__c": total, "Remaining_Credit__c": total}
        return {"id": sf_id, "modified_at": T0, "is_deleted": False, "extracted_at": T0, "invalid_reason": None,
                "raw": values, **{column_name(k): v for k, v in values.items()}}

    with db.begin() as conn:
        upsert_rows(conn, x_table, [cn("cn-new", "c-a"), cn("cn-same", "c-a"), cn("cn-changed", "c-a", total=55.5),
                                    cn("cn-nolink", "c-z"), cn("cn-void", "c-a", status="VOIDED"),
                                    cn("cn-keyed", "c-a")])
        upsert_rows(conn, s_table, [sf("a00SAME", "cn-same"), sf("a00CHANGED", "cn-changed"), sf("a00VOID", "cn-void"),
                                    sf("a00KEYED", "cn-keyed")])
        conn.execute(extract_state.insert().values(table_name="sf_xero_credit_note__c", updated_at=T0, columns={
            "describe": [["Id", "id"], *[[f, t] for f, t in CN_FIELDS.items()]]}))
        conn.execute(sync_link.insert(), [{"recipe": r, "sf_id": s, "xero_id": x, "created_at": T0, "updated_at": T0}
                                          for r, s, x in [("R1", "001A", "c-a"), *(("R9", s, x) for x, s in linked.items())]])
    return {"same": "a00SAME", "changed": "a00CHANGED", "void": "a00VOID", "keyed": "a00KEYED"}


def _plan(db, deletes: str):
    data = _with(lambda r: r.update({"deletes": deletes}))
    cfg = parse_config(data)
    with db.engine.connect() as conn:
        rows = plan_declared(conn, cfg, "R9").rows
    return {x: (a, t, r, json.loads(d) if isinstance(d, str) else d)
            for x, a, t, r, d in zip(rows.source_id, rows.action, rows.target_id, rows.reason, rows["diff"])}


def test_rows_per_kind_of_record_and_the_delete_policies(sqlite_staging):
    ids = _stage(sqlite_staging, linked={"cn-same": "a00SAME", "cn-changed": "a00CHANGED", "cn-void": "a00VOID"})
    rows = _plan(sqlite_staging, "archive")
    assert rows["cn-new"][0] == "create"
    create = rows["cn-new"][3]
    assert create["lookup_by"] == "Xero_Credit_Note_Id__c" and create["payload"]["Xero_Credit_Note__c"] == {
        "Xero_Credit_Note_Id__c": "cn-new", "Name": "CN-NEW", "Credit_Note_Number__c": "CN-NEW", "Account__c": "001A",
        "Type__c": "ACCRECCREDIT", "Status__c": "AUTHORISED", "Date__c": "2025-11-30", "Total__c": 40.0,
        "Remaining_Credit__c": 40.0}
    # In sync (a Xero "/Date(…)/" and "2025-11-30", 40 and "40.0" are the same values): nothing to write.
    assert rows["cn-same"][:2] == ("skip", ids["same"])
    changed = rows["cn-changed"]
    assert changed[:2] == ("update", ids["changed"]) and set(changed[3]["fields"]) == {"Total__c", "Remaining_Credit__c"}
    assert changed[3]["payload"] == {"Xero_Credit_Note__c": {"Id": ids["changed"], "Total__c": 55.5,
                                                             "Remaining_Credit__c": 55.5}}
    # Matched by its external id, not linked yet: the skip row carries the link for the push to record.
    assert rows["cn-keyed"][:2] == ("skip", ids["keyed"]) and rows["cn-keyed"][3]["link"] is True
    assert rows["cn-nolink"][0] == "held" and "Contact.ContactID c-z has no R1 link to a Salesforce Account" in \
        rows["cn-nolink"][2]
    assert rows["cn-void"][:2] == ("delete", ids["void"])
    assert rows["cn-void"][3]["payload"] == {"Xero_Credit_Note__c": {"Id": ids["void"]}}
    assert "VOIDED in Xero" in rows["cn-void"][2] and "deletes: archive" in rows["cn-void"][2]

    assert "cn-void" not in _plan(sqlite_staging, "ignore")
    waiting = _plan(sqlite_staging, "hold_for_approval")["cn-void"]
    assert waiting[0] == "held" and waiting[3]["approval"].startswith("row-") and "sfxero approve row-" in waiting[2]
    with sqlite_staging.begin() as conn:
        approvals.approve(conn, approvals.ROW, [waiting[3]["approval"]], by="test")
    approved = _plan(sqlite_staging, "hold_for_approval")["cn-void"]
    assert approved[0] == "delete" and approved[3]["approved"] == waiting[3]["approval"]


def test_the_plan_checks_fields_against_the_staged_describe_first(sqlite_staging):
    _stage(sqlite_staging, linked={})
    cfg = parse_config(_with(lambda r: r["fields"].update({"Colour__c": "Type"})))
    with sqlite_staging.engine.connect() as conn, pytest.raises(ConfigError) as exc:
        plan_declared(conn, cfg, "R9")
    assert str(exc.value) == "recipes.R9.fields.Colour__c: Salesforce Xero_Credit_Note__c has no field Colour__c"


def test_filtered_out_delete_removes_what_leaves_the_filter_and_keep_leaves_it(sqlite_staging):
    """R9 with `filter: "Total < 50"`: the credit note whose total grew past it (linked) no longer meets it;
    under `filtered_out: delete` its Salesforce record goes by the `deletes` policy, as a voided one's."""
    ids = _stage(sqlite_staging, linked={"cn-same": "a00SAME", "cn-changed": "a00CHANGED", "cn-void": "a00VOID"})

    def plan(**keys):
        data = _with(lambda r: r.update({"from": {"xero": "CreditNotes", "filter": "Total < 50"}, **keys}))
        with sqlite_staging.engine.connect() as conn:
            rows = plan_declared(conn, parse_config(data), "R9").rows
        return {x: (a, t, r) for x, a, t, r in zip(rows.source_id, rows.action, rows.target_id, rows.reason)}

    left = plan(deletes="archive", filtered_out="delete")["cn-changed"]
    assert left[:2] == ("delete", ids["changed"])
    assert left[2] == (f"no longer meets filter: Total < 50: delete Salesforce Xero_Credit_Note__c {ids['changed']} "
                       "(Xero CreditNotes cn-changed no longer meets the filter) (recipes.R9.deletes: archive)")
    assert plan(deletes="archive")["cn-void"][0] == "delete"  # gone in Xero, as before
    assert "cn-changed" not in plan(deletes="archive")  # keep (the default): left as it is
    waiting = plan(deletes="hold_for_approval", filtered_out="delete")["cn-changed"]
    assert waiting[0] == "held" and "sfxero approve row-" in waiting[2]


@pytest.mark.parametrize("change, words", [
    ({"filtered_out": "delete", "deletes": "archive"}, "from: has no where: (or filter:)"),
    ({"filtered_out": "delete", "deletes": "ignore", "from": {"xero": "CreditNotes", "filter": "Total < 50"}},
     "which is ignore"),
])
def test_filtered_out_delete_needs_a_condition_and_a_policy(change, words):
    with pytest.raises(ConfigError) as exc:
        parse_config(_with(lambda r: r.update(change)))
    assert str(exc.value).startswith("sfxero.yaml: recipes.R9") and words in str(exc.value)
