"""The declared-recipe planner on a staging database built by hand (SQLite): the plan rows R8's
declaration gives for each kind of record — matched by code and different, in sync through its
link, new, held, ambiguous, filtered out — in the built-ins' row and diff format."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
import yaml

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.reconcile.build import build_declared
from sfxero_pipelines.staging.schema import object_table
from sfxero_pipelines.staging.state import holds, links

from .test_declared_config import EXAMPLE

SF = {"sf_product2": ["productcode", "name", "description", "isactive", "xero_item_id__c"],
      "sf_pricebook2": ["isstandard"],
      "sf_pricebook_entry": ["pricebook2id", "product2id", "unitprice", "isactive", "currencyisocode"]}
PB = "01s000000000STD"


def _tables(conn):
    md = sa.MetaData()
    for name, cols in SF.items():
        object_table(name, {c: sa.Boolean() if c.startswith("is") else sa.Text() for c in cols}, md)
    object_table("xero_item", {"code": sa.Text(), "name": sa.Text()}, md)
    md.create_all(conn)


def _row(table, id_, deleted=False, **values):
    at = dt.datetime(2026, 12, 1, 10, tzinfo=dt.timezone.utc)
    return {"id": id_, "modified_at": at, "is_deleted": deleted, "extracted_at": at, "invalid_reason": None, "raw": {},
            **values}


def _insert(conn, table: str, rows: list[dict]) -> None:
    t = sa.Table(table, sa.MetaData(), autoload_with=conn)
    conn.execute(t.insert(), rows)


def _product(id_, code, name, active=True, desc=None):
    return _row("sf_product2", id_, productcode=code, name=name, description=desc, isactive=active)


def _price(id_, product, price, currency="USD"):
    return _row("sf_pricebook_entry", id_, pricebook2id=PB, product2id=product, unitprice=price, isactive=True,
                currencyisocode=currency)


def _item(id_, code, name, price, description="(no description)"):
    raw = {"ItemID": id_, "Code": code, "Name": name, "Description": description, "IsSold": True,
           "SalesDetails": {"UnitPrice": price, "AccountCode": "200"}}
    return {**_row("xero_item", id_, code=code, name=name), "raw": raw}


@pytest.fixture
def planned(sqlite_staging):
    cfg = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    with sqlite_staging.begin() as conn:
        _tables(conn)
        _insert(conn, "sf_pricebook2", [_row("sf_pricebook2", PB, isstandard=True),
                                        _row("sf_pricebook2", "01s000000000OTH", isstandard=False)])
        _insert(conn, "sf_product2", [
            _product("01t1", "WID-1", "Widget renamed"),         # matched by code, Name differs
            _product("01t2", "GAD-2", "Gadget"),                 # linked and in sync
            _product("01t3", "NEW-3", "New thing", desc="Shiny"),  # no Item yet: create
            _product("01t4", "HLD-4", "Held one"),               # held by a check
            _product("01t5", "OLD-5", "Retired", active=False),  # filtered out by where
            _product("01t6", "DUP-6", "Twin A"), _product("01t7", "DUP-6", "Twin B"),  # one code, two products
        ])
        _insert(conn, "sf_pricebook_entry", [
            _price("01u1", "01t1", "10.0000"), _price("01u1b", "01t1", "9.0000", currency="EUR"),
            _price("01u2", "01t2", "20.5"), _price("01u3", "01t3", "30.125"),
            _row("sf_pricebook_entry", "01u3x", pricebook2id="01s000000000OTH", product2id="01t3", unitprice="1",
                 isactive=True, currencyisocode="USD"),
        ])
        _insert(conn, "xero_item", [_item("i-1", "WID-1", "Widget", 10.0), _item("i-2", "GAD-2", "Gadget", 20.5),
                                    _item("i-6", "DUP-6", "Twin", 1.0)])
        links.record_links(conn, [("R8", "01t2", "i-2")])
        holds.hold(conn, [{"table_name": "sf_product2", "record_id": "01t4", "reason": "failed check x", "detail": {}}],
                   run_id=None)
        built = build_declared(conn, cfg, "R8")
    rows = {r.source_id: r for r in built.rows.itertuples(index=False) if r.recipe == "R8"}
    return built, rows


def test_rows_per_kind_of_record(planned):
    built, rows = planned
    assert {k: r.action for k, r in rows.items()} == {
        "01t1": "update", "01t2": "skip", "01t3": "create", "01t4": "held", "01t6": "conflict", "01t7": "conflict"}
    assert built.plan_ids["R8"].startswith("R8-")

    upd = json.loads(rows["01t1"].diff)
    assert rows["01t1"].target_id == "i-1" and upd["match"] == "Code" and upd["link"] is True
    assert upd["fields"] == {"Name": {"old": "Widget", "new": "Widget renamed", "rule": "R8 Name→Name (truncate(50)); owner salesforce"}}
    assert upd["payload"] == {"ItemID": "i-1", "Code": "WID-1", "Name": "Widget renamed"}
    assert upd["target_object"] == "Item" and upd["source_table"] == "sf_product2"

    new = json.loads(rows["01t3"].diff)
    # The standard USD price (not the other price book's), rounded half-up to cents by money(2).
    assert new["payload"] == {"Code": "NEW-3", "Name": "New thing", "Description": "Shiny", "IsSold": True,
                              "SalesDetails": {"UnitPrice": 30.13}}
    assert new["lookup_by"] == "Code" and new["link"] is True and rows["01t3"].target_id is None

    assert "held" in rows["01t4"].reason and "failed check x" in rows["01t4"].reason
    assert rows["01t6"].reason == ("ambiguous Code match: Xero Item i-6 also matches Product2(s) 01t7; link the right "
                                   "one in sync_link or fix the duplicate")


def test_the_same_staging_gives_the_same_plan(planned, sqlite_staging):
    built, _ = planned
    cfg = parse_config(yaml.safe_load(EXAMPLE.read_text()))
    with sqlite_staging.begin() as conn:
        again = build_declared(conn, cfg, "R8")
    assert again.plan_ids == built.plan_ids


def test_two_way_ownership_plans_xero_owned_fields_back_to_salesforce(sqlite_staging, planned):
    data = yaml.safe_load(EXAMPLE.read_text())
    fields = data["recipes"]["R8"]["fields"]
    data["recipes"]["R8"]["sync"] = "two_way"
    for name, spec in fields.items():
        spec = spec if isinstance(spec, dict) else {"from": spec}
        fields[name] = {**spec, "owner": "xero" if name == "Name" else "salesforce"}
    cfg = parse_config(data)
    with sqlite_staging.begin() as conn:
        built = build_declared(conn, cfg, "R8")
    rows = built.rows[built.rows.source_id == "i-1"]
    assert rows.action.tolist() == ["update"] and rows.direction.tolist() == ["xero_to_sf"]
    back = json.loads(rows["diff"].iloc[0])
    # Xero owns Name: its value goes to the Product's Name, nothing is planned to Xero for it.
    assert back["payload"] == {"Product2": {"Id": "01t1", "Name": "Widget"}}
    assert back["fields"]["Name"]["rule"] == "R8 Name→Name (truncate(50)); owner xero"
    assert not ((built.rows.source_id == "01t1") & (built.rows.action == "update")).any()


def test_the_mass_change_guard_counts_a_declared_recipes_updates():
    from sfxero_pipelines.config import PushConfig
    from sfxero_pipelines.push.guard import GuardInputs, assess
    from sfxero_pipelines.reconcile import plan

    upd = {"target_object": "Item", "engine": "declared", "match": "link", "fields": {"Name": {"old": "a", "new": "b"}},
           "payload": {"ItemID": "x", "Name": "b"}}
    rows = plan.finalize([
        plan.rows("R8", "sf_to_xero", "update", [f"s{i}" for i in range(30)], [f"x{i}" for i in range(30)], [upd] * 30, "r"),
        plan.rows("R8", "sf_to_xero", "skip", [f"t{i}" for i in range(70)], [f"y{i}" for i in range(70)], None, "in sync"),
    ])
    verdict = assess(rows, PushConfig(), GuardInputs(mapped=frozenset(), invoiced={}, invoice_currency={}))["R8"]
    assert verdict.blocked and verdict.figures["updates"] == 30 and verdict.figures["linked"] == 100


def test_a_create_only_field_is_sent_on_the_create_and_never_updated(sqlite_staging, planned):
    data = yaml.safe_load(EXAMPLE.read_text())
    data["recipes"]["R8"]["fields"]["Name"]["create_only"] = True
    with sqlite_staging.begin() as conn:
        built = build_declared(conn, parse_config(data), "R8")
    rows = {r.source_id: r for r in built.rows.itertuples(index=False) if r.recipe == "R8"}
    # 01t1's Name differs from its Item's, but the Name is the create's only: the pair is in sync.
    assert rows["01t1"].action == "skip"
    assert json.loads(rows["01t3"].diff)["payload"]["Name"] == "New thing"
