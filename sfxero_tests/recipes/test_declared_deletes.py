"""Delete policies of declared recipes into Xero, planned on a staging database built by hand (SQLite):
a Salesforce record deleted after its recipe linked it removes the linked Xero record as the recipe's
`deletes` says — an Item is deleted, a Contact archived, a Contact with a balance held for approval
whatever the policy — and nothing is planned for a record never linked or already gone in Xero."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
import yaml

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.reconcile.build import build_declared
from sfxero_pipelines.reconcile.deletes import waiting_rows
from sfxero_pipelines.staging.schema import object_table
from sfxero_pipelines.staging.state import approvals, links

from .test_declared_config import EXAMPLE
from .test_declared_plan import _insert, _item, _product, _row, _tables
from .test_leads_example_e2e import EXAMPLE as LEADS


def _r8(deletes: str):
    data = yaml.safe_load(EXAMPLE.read_text())
    data["recipes"]["R8"]["deletes"] = deletes
    return parse_config(data)


@pytest.fixture
def r8_staged(sqlite_staging):
    with sqlite_staging.begin() as conn:
        _tables(conn)
        _insert(conn, "sf_product2", [
            _product("01t1", "KEEP-1", "Kept"),
            {**_product("01t8", "GONE-8", "Deleted, Item live"), "is_deleted": True},
            {**_product("01t9", "GONE-9", "Deleted, Item gone too"), "is_deleted": True},
            {**_product("01t0", "NEVER-0", "Deleted, never linked"), "is_deleted": True},
        ])
        _insert(conn, "xero_item", [_item("i-1", "KEEP-1", "Kept", 1.0), _item("i-8", "GONE-8", "Deleted, Item live", 1.0),
                                    {**_item("i-9", "GONE-9", "Deleted, Item gone too", 1.0), "is_deleted": True},
                                    _item("i-0", "NEVER-0", "Deleted, never linked", 1.0)])
        links.record_links(conn, [("R8", "01t1", "i-1"), ("R8", "01t8", "i-8"), ("R8", "01t9", "i-9")])
    return sqlite_staging


def _gone_rows(conn, cfg):
    rows = build_declared(conn, cfg, "R8").rows
    return rows[rows.source_id.isin(["01t8", "01t9", "01t0"])]


def test_archive_deletes_the_linked_item_and_nothing_else(r8_staged):
    with r8_staged.begin() as conn:
        rows = _gone_rows(conn, _r8("archive"))
    assert rows[["source_id", "target_id", "action"]].values.tolist() == [["01t8", "i-8", "delete"]]
    diff = json.loads(rows["diff"].iloc[0])
    assert diff["target_object"] == "Item" and diff["payload"] == {"ItemID": "i-8"} and diff["engine"] == "declared"
    assert diff["delete"] == {"op": "delete", "policy": "archive", "target_status": "ACTIVE", "posted": False}
    assert rows.reason.iloc[0] == ("Product2 deleted in Salesforce: delete Xero Item GONE-8 "
                                   "(recipes.R8.deletes: archive)")


def test_hold_for_approval_waits_then_deletes_once_approved(r8_staged):
    with r8_staged.begin() as conn:
        held = _gone_rows(conn, _r8("hold_for_approval"))
        assert held.action.tolist() == ["held"]
        waiting = waiting_rows(held)
        (row_id, what), = waiting.items()
        assert what["source_id"] == "01t8" and f"sfxero approve {row_id}" in what["reason"]
        approvals.approve(conn, approvals.ROW, [row_id], by="test")
        now = _gone_rows(conn, _r8("hold_for_approval"))
    assert now.action.tolist() == ["delete"]
    assert json.loads(now["diff"].iloc[0])["approved"] == row_id


def test_ignore_plans_nothing_for_deleted_products(r8_staged):
    with r8_staged.begin() as conn:
        assert _gone_rows(conn, _r8("ignore")).empty


def _leads(deletes: str):
    data = yaml.safe_load(LEADS.read_text())
    data["recipes"]["LEADS"]["deletes"] = deletes
    return parse_config(data)


def _contact(id_, name, receivable=0.0):
    raw = {"ContactID": id_, "Name": name, "ContactStatus": "ACTIVE",
           "Balances": {"AccountsReceivable": {"Outstanding": receivable, "Overdue": 0.0},
                        "AccountsPayable": {"Outstanding": 0.0, "Overdue": 0.0}}}
    return {**_row("xero_contact", id_, name=name), "raw": raw}


def _lead(id_, company, deleted=True):
    return _row("sf_lead", id_, deleted, company=company, firstname="A", lastname="B", email=f"{id_}@example.com",
                status="Working - Contacted")


@pytest.mark.parametrize("deletes", ["archive", "hold_for_approval"])
def test_a_contact_is_archived_and_one_with_a_balance_always_waits_for_approval(sqlite_staging, deletes):
    with sqlite_staging.begin() as conn:
        md = sa.MetaData()
        object_table("sf_lead", {c: sa.Text() for c in ("company", "firstname", "lastname", "email", "status")}, md)
        object_table("xero_contact", {"name": sa.Text()}, md)
        md.create_all(conn)
        _insert(conn, "sf_lead", [_lead("00Q1", "Quiet Ltd"), _lead("00Q2", "Owing Ltd")])
        _insert(conn, "xero_contact", [_contact("c-1", "Quiet Ltd (A B)"), _contact("c-2", "Owing Ltd (A B)", 250.0)])
        links.record_links(conn, [("LEADS", "00Q1", "c-1"), ("LEADS", "00Q2", "c-2")])
        rows = build_declared(conn, _leads(deletes), "LEADS").rows
    by_source = {r.source_id: r for r in rows.itertuples(index=False)}
    quiet, owing = by_source["00Q1"], by_source["00Q2"]
    assert quiet.action == ("delete" if deletes == "archive" else "held")
    diff = json.loads(quiet.diff)
    assert diff["payload"] == {"ContactID": "c-1", "ContactStatus": "ARCHIVED"}
    assert diff["fields"] == {"ContactStatus": {"old": "ACTIVE", "new": "ARCHIVED"}}
    assert owing.action == "held" and "archive Xero Contact Owing Ltd (A B) (balance 250.00)" in owing.reason
    owing_diff = json.loads(owing.diff)
    assert owing_diff["delete"]["posted"] is True and owing_diff["delete"]["policy"] == "hold_for_approval"
    assert owing_diff["approval"] in owing.reason


def test_a_deactivated_product_deletes_its_item_under_filtered_out_delete(r8_staged):
    """R8 reads `where: IsActive = true AND …`: a linked Product made inactive no longer meets it. Under
    `filtered_out: delete` its Item goes by the `deletes` policy, as a deleted Product's does; by default
    (`keep`) it is left as it is."""
    with r8_staged.begin() as conn:
        _insert(conn, "sf_product2", [_product("01t5", "OLD-5", "Retired", active=False)])
        _insert(conn, "xero_item", [_item("i-5", "OLD-5", "Retired", 1.0)])
        links.record_links(conn, [("R8", "01t5", "i-5")])
        data = yaml.safe_load(EXAMPLE.read_text())
        data["recipes"]["R8"].update({"deletes": "archive", "filtered_out": "delete"})
        rows = build_declared(conn, parse_config(data), "R8").rows
        kept = build_declared(conn, _r8("archive"), "R8").rows
    row = rows[rows.source_id == "01t5"]
    assert row[["target_id", "action"]].values.tolist() == [["i-5", "delete"]]
    assert row.reason.iloc[0] == ("Product2 no longer meets where: IsActive = true AND ProductCode != null: delete "
                                  "Xero Item OLD-5 "
                                  "(recipes.R8.deletes: archive)")
    assert "01t5" not in set(kept.source_id)
    # The deleted Product goes as before, beside it.
    assert rows[rows.source_id == "01t8"].action.tolist() == ["delete"]
