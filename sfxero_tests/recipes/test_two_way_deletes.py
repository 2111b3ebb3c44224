"""Deletes of declared two-way recipes, each side by its own policy (`deletes: {salesforce, xero, posted}`,
R1's form): a Salesforce record deleted removes its linked Xero record, a Xero record archived deletes
its linked Salesforce record, each as its side says, and one word (`deletes: archive`) is the source's
side alone. Planned on staging built with extract's own table specs, on both backends; the config
checks are pure."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.extract.rows import COLUMN_TYPES
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS
from sfxero_pipelines.reconcile.declared import plan_declared
from sfxero_pipelines.staging.schema import column_name, extract_state, sync_link
from sfxero_pipelines.staging.state import approvals
from sfxero_pipelines.staging.tables import ensure_object_table, upsert_rows

from ..test_cli import sfxero

T0 = dt.datetime(2026, 12, 1, 10, tzinfo=dt.timezone.utc)
ACCOUNT_FIELDS = {"Name": "string", "Type": "picklist", "AccountNumber": "string"}


def _config(deletes, *, sync: str = "two_way", **more) -> dict:
    fields = {"Name": {"from": "Name", "owner": "salesforce"} if sync == "two_way" else "Name"}
    return {"recipes": {"CUST": {"from": {"salesforce": "Account", "where": "Type = 'Customer'"},
                                 "to": {"xero": "Contacts"}, "sync": sync, "match": ["link", {"ContactNumber": "Id"}],
                                 "fields": fields, "deletes": deletes, **more}}}


def _into_salesforce(deletes) -> dict:
    """Xero Contacts → Accounts, two-way: the other end of the same link."""
    return {"recipes": {"BACK": {"from": {"xero": "Contacts"}, "to": {"salesforce": "Account"}, "sync": "two_way",
                                 "match": ["link", {"AccountNumber": "ContactNumber"}],
                                 "fields": {"Name": {"from": "Name", "owner": "xero"}}, "deletes": deletes}}}


# ---- the declaration ----------------------------------------------------------------------------

def test_one_word_is_the_source_side_and_a_mapping_sets_each_side():
    one = parse_config(_config("archive")).recipes.declared["CUST"]
    assert (one.delete_policy("salesforce"), one.delete_policy("xero")) == ("archive", "ignore")
    both = parse_config(_config({"salesforce": "archive", "xero": "hold_for_approval", "posted": "archive"}))
    both = both.recipes.declared["CUST"]
    assert (both.delete_policy("salesforce"), both.delete_policy("xero")) == ("archive", "hold_for_approval")
    # `posted`: what a Contact with a balance gets instead of `archive` (hold_for_approval unless set).
    assert both.delete_policy("salesforce", posted=True) == "archive"
    assert one.delete_policy("salesforce", posted=True) == "hold_for_approval"
    back = parse_config(_into_salesforce("archive")).recipes.declared["BACK"]
    assert (back.delete_policy("xero"), back.delete_policy("salesforce")) == ("archive", "ignore")


@pytest.mark.parametrize("data, key, fragment", [
    (_config({"xero": "archive"}, sync="one_way"), "recipes.CUST.deletes.xero",
     "a one-way recipe writes only to Xero Contacts: a record deleted there removes nothing from Salesforce Account"),
    (_config({"salesforce": "purge"}), "recipes.CUST.deletes.salesforce", "'archive', 'hold_for_approval' or 'ignore'"),
    (_config({"salesforce": "archive", "posted": "ignore"}), "recipes.CUST.deletes.posted", "'archive'"),
    (_config({"sf": "archive"}), "recipes.CUST.deletes.sf", "unknown key"),
    (_config({"xero": "archive"}, filtered_out="delete"), "recipes.CUST",
     "filtered_out: delete applies the deletes: policy, which is ignore"),
])
def test_a_bad_delete_policy_is_refused_naming_its_key(data, key, fragment):
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    line = str(exc.value)
    assert "\n" not in line and line.startswith(f"sfxero.yaml: {key}"), line
    assert fragment in line, line


def test_recipes_show_prints_each_side(tmp_path):
    path = tmp_path / "sfxero.yaml"
    path.write_text(yaml.safe_dump(_config({"xero": "hold_for_approval"})))
    shown = sfxero("recipes", "show", "CUST", env={"SFXERO_CONFIG": str(path)})
    assert shown.returncode == 0, shown.stderr
    assert yaml.safe_load(shown.stdout)["recipes"]["CUST"]["deletes"] == {
        "salesforce": "ignore", "xero": "hold_for_approval", "posted": "hold_for_approval"}
    path.write_text(yaml.safe_dump(_config("archive", sync="one_way")))
    assert yaml.safe_load(sfxero("recipes", "show", "CUST", env={"SFXERO_CONFIG": str(path)}).stdout)[
        "recipes"]["CUST"]["deletes"] == "archive"


# ---- the plan -----------------------------------------------------------------------------------

def _stage(db) -> None:
    """Accounts and Xero Contacts linked by CUST (and BACK, the same pairs):
    - 001LIVE ↔ c-live: both live, the same name;
    - 001XGONE ↔ c-archived: the Contact archived in Xero;
    - 001PROSPECT ↔ c-archived-2: the Contact archived, the Account out of `where:` (the link pairs them);
    - 001SFGONE ↔ c-orphan: the Account deleted in Salesforce;
    - 001OWING ↔ c-owing: the Account deleted, the Contact owing 250;
    - 001BOTH ↔ c-both: gone on both sides: nothing to do."""
    spec = XERO_OBJECTS["contacts"]
    x_table, _ = ensure_object_table(db.engine, spec.table, {f.column: COLUMN_TYPES[f.kind] for f in spec.fields})
    s_table, _ = ensure_object_table(db.engine, "sf_account", {column_name(f): COLUMN_TYPES["text"] for f in ACCOUNT_FIELDS})

    def contact(x_id: str, name: str, status: str = "ACTIVE", owing: float = 0.0) -> dict:
        raw = {"ContactID": x_id, "Name": name, "ContactNumber": None, "ContactStatus": status,
               "Balances": {"AccountsReceivable": {"Outstanding": owing, "Overdue": 0.0},
                            "AccountsPayable": {"Outstanding": 0.0, "Overdue": 0.0}}}
        return {"id": x_id, "modified_at": T0, "is_deleted": spec.is_deleted(raw), "extracted_at": T0,
                "invalid_reason": None, "raw": raw, "contact_id": x_id, "name": name, "contact_status": status}

    def account(sf_id: str, name: str, deleted: bool = False, kind: str = "Customer") -> dict:
        values = {"Name": name, "Type": kind, "AccountNumber": None}
        return {"id": sf_id, "modified_at": T0, "is_deleted": deleted, "extracted_at": T0, "invalid_reason": None,
                "raw": values, **{column_name(k): v for k, v in values.items()}}

    pairs = {"001LIVE": "c-live", "001XGONE": "c-archived", "001PROSPECT": "c-archived-2", "001SFGONE": "c-orphan",
             "001OWING": "c-owing", "001BOTH": "c-both"}
    with db.begin() as conn:
        upsert_rows(conn, x_table, [contact("c-live", "Live Ltd"), contact("c-archived", "Gone Ltd", "ARCHIVED"),
                                    contact("c-archived-2", "Prospect Ltd", "ARCHIVED"),
                                    contact("c-orphan", "Orphan Ltd"), contact("c-owing", "Owing Ltd", owing=250.0),
                                    contact("c-both", "Both Ltd", "ARCHIVED")])
        upsert_rows(conn, s_table, [account("001LIVE", "Live Ltd"), account("001XGONE", "Gone Ltd"),
                                    account("001PROSPECT", "Prospect Ltd", kind="Prospect"),
                                    account("001SFGONE", "Orphan Ltd", deleted=True),
                                    account("001OWING", "Owing Ltd", deleted=True),
                                    account("001BOTH", "Both Ltd", deleted=True)])
        conn.execute(extract_state.insert().values(table_name="sf_account", updated_at=T0, columns={
            "describe": [["Id", "id"], *[[f, t] for f, t in ACCOUNT_FIELDS.items()]]}))
        conn.execute(sync_link.insert(), [{"recipe": r, "sf_id": s, "xero_id": x, "created_at": T0, "updated_at": T0}
                                          for r in ("CUST", "BACK") for s, x in pairs.items()])


def _plan(db, data: dict, name: str = "CUST") -> dict[tuple[str, str], tuple]:
    with db.engine.connect() as conn:
        rows = plan_declared(conn, parse_config(data), name).rows
    return {(d, s): (a, t, r, json.loads(x) if isinstance(x, str) else x)
            for d, s, a, t, r, x in zip(rows.direction, rows.source_id, rows.action, rows.target_id, rows.reason,
                                        rows["diff"])}


def _deletes(rows: dict) -> dict[tuple[str, str], tuple[str, str]]:
    return {k: (v[0], v[1]) for k, v in rows.items() if "delete" in (v[3] or {})}


def test_each_side_removes_the_other_by_its_own_policy(staging):
    _stage(staging)
    rows = _plan(staging, _config({"salesforce": "archive", "xero": "archive"}))
    assert _deletes(rows) == {
        ("sf_to_xero", "001SFGONE"): ("delete", "c-orphan"),      # Account deleted → Contact archived
        ("sf_to_xero", "001OWING"): ("held", "c-owing"),          # ... one owing money waits for a person
        ("xero_to_sf", "c-archived"): ("delete", "001XGONE"),     # Contact archived → Account deleted
        ("xero_to_sf", "c-archived-2"): ("delete", "001PROSPECT"),
    }
    archive = rows[("sf_to_xero", "001SFGONE")]
    assert archive[3]["payload"] == {"ContactID": "c-orphan", "ContactStatus": "ARCHIVED"}
    assert archive[2] == "Account deleted in Salesforce: archive Xero Contact Orphan Ltd (recipes.CUST.deletes: archive)"
    delete = rows[("xero_to_sf", "c-archived")]
    assert delete[3]["payload"] == {"Account": {"Id": "001XGONE"}} and delete[3]["target_object"] == "Account"
    # A rejected Salesforce delete holds the Xero record the row reads from, as the engine's other writes back.
    assert delete[3]["source_table"] == "xero_contact" and delete[3]["engine"] == "declared"
    assert delete[3]["delete"] == {"op": "delete", "policy": "archive", "target_status": "ARCHIVED", "posted": False}
    assert delete[2] == ("ARCHIVED in Xero: delete Salesforce Account 001XGONE (ARCHIVED Xero Contact Gone Ltd) "
                         "(recipes.CUST.deletes: archive)")
    assert "archive Xero Contact Owing Ltd (balance 250.00)" in rows[("sf_to_xero", "001OWING")][2]
    assert rows[("sf_to_xero", "001LIVE")][0] == "skip"


def test_one_word_leaves_the_salesforce_record_of_an_archived_contact(staging):
    _stage(staging)
    rows = _plan(staging, _config("archive"))
    assert set(_deletes(rows)) == {("sf_to_xero", "001SFGONE"), ("sf_to_xero", "001OWING")}
    # The archived Contact's Account is left as it is: its link is held as broken, named.
    assert rows[("sf_to_xero", "001XGONE")][:2] == ("held", "c-archived")
    assert "archived or deleted" in rows[("sf_to_xero", "001XGONE")][2]


def test_hold_for_approval_on_the_xero_side_waits_then_deletes_once_approved(staging):
    _stage(staging)
    data = _config({"xero": "hold_for_approval"})
    rows = _plan(staging, data)
    assert _deletes(rows) == {("xero_to_sf", "c-archived"): ("held", "001XGONE"),
                              ("xero_to_sf", "c-archived-2"): ("held", "001PROSPECT")}
    approval = rows[("xero_to_sf", "c-archived")][3]["approval"]
    assert f"sfxero approve {approval}" in rows[("xero_to_sf", "c-archived")][2]
    with staging.begin() as conn:
        approvals.approve(conn, approvals.ROW, [approval], by="test")
    after = _plan(staging, data)
    assert _deletes(after) == {("xero_to_sf", "c-archived"): ("delete", "001XGONE"),
                               ("xero_to_sf", "c-archived-2"): ("held", "001PROSPECT")}
    assert after[("xero_to_sf", "c-archived")][3]["approved"] == approval


def test_posted_archive_lets_a_contact_with_a_balance_go_without_a_person(staging):
    _stage(staging)
    rows = _plan(staging, _config({"salesforce": "archive", "posted": "archive"}))
    assert _deletes(rows)[("sf_to_xero", "001OWING")] == ("delete", "c-owing")
    assert rows[("sf_to_xero", "001OWING")][3]["delete"]["posted"] is True


def test_a_two_way_recipe_into_salesforce_archives_the_contact_of_a_deleted_account(staging):
    _stage(staging)
    rows = _plan(staging, _into_salesforce({"salesforce": "archive", "xero": "hold_for_approval"}), "BACK")
    assert _deletes(rows) == {
        ("sf_to_xero", "001SFGONE"): ("delete", "c-orphan"),
        ("sf_to_xero", "001OWING"): ("held", "c-owing"),
        ("xero_to_sf", "c-archived"): ("held", "001XGONE"),
        ("xero_to_sf", "c-archived-2"): ("held", "001PROSPECT"),
    }
    archive = rows[("sf_to_xero", "001SFGONE")][3]
    assert archive["payload"] == {"ContactID": "c-orphan", "ContactStatus": "ARCHIVED"}
    assert archive["target_object"] == "Contact" and archive["source_table"] == "sf_account"
    # The held ones wait for `sfxero approve`, each with its own id.
    assert len({rows[k][3]["approval"] for k in _deletes(rows) if rows[k][0] == "held"}) == 3
