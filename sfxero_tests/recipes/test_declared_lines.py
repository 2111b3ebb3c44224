"""Lines of a declared recipe (R11: an Opportunity's products → a Xero quote's LineItems), planned on a
staging database built by hand (SQLite): a quote whose lines Xero answered with its own additions
(LineItemID, LineAmount, tracking ids) is in sync; a changed quantity is an update carrying the whole
lines; a new quote's lines carry `Tracking: [{Name, Option}]`; a line naming a tracking option Xero
does not have is held with the choices instead of being sent."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
import yaml

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS
from sfxero_pipelines.reconcile.build import build_declared
from sfxero_pipelines.staging.schema import object_table
from sfxero_pipelines.staging.state import links

from .test_declared_plan import _insert, _row
from .test_r11_quotes_e2e import EXAMPLE

STAGE = "Proposal/Price Quote"


def _opp(id_, account):
    return _row("sf_opportunity", id_, stagename=STAGE, accountid=account, name=f"Deal {id_}", closedate="2026-12-20",
                currencyisocode="USD")


def _line(id_, opp, code, qty, price):
    return _row("sf_opportunity_line_item", id_, opportunityid=opp, productcode=code, name=f"{code} line",
                quantity=str(qty), unitprice=str(price))


def _quote(id_, opp, contact, lines):
    raw = {"QuoteID": id_, "QuoteNumber": f"QU-{id_}", "Reference": opp, "Contact": {"ContactID": contact},
           "Title": f"Deal {opp}", "Date": "/Date(1797724800000+0000)/", "CurrencyCode": "USD",
           "LineAmountTypes": "EXCLUSIVE", "Status": "DRAFT",
           "LineItems": [{"LineItemID": f"li-{n}", "ItemCode": code, "Description": f"{code} line", "Quantity": qty,
                          "UnitAmount": price, "LineAmount": qty * price, "TaxAmount": 0.0,
                          "Tracking": [{"Name": "Department", "Option": "Sales", "TrackingCategoryID": "tc-1",
                                        "TrackingOptionID": "to-1"}]}
                         for n, (code, qty, price) in enumerate(lines)]}
    return {**_row("xero_quote", id_), "raw": raw}


def _category(id_, name, options):
    return {**_row(XERO_OBJECTS["tracking_categories"].table, id_),
            "raw": {"TrackingCategoryID": id_, "Name": name, "Status": "ACTIVE",
                    "Options": [{"Name": o, "Status": "ACTIVE"} for o in options]}}


@pytest.fixture
def staged(sqlite_staging):
    with sqlite_staging.begin() as conn:
        md = sa.MetaData()
        object_table("sf_opportunity", {c: sa.Text() for c in ("stagename", "accountid", "name", "closedate",
                                                                "currencyisocode")}, md)
        object_table("sf_opportunity_line_item", {c: sa.Text() for c in ("opportunityid", "productcode", "name",
                                                                          "quantity", "unitprice")}, md)
        object_table("xero_quote", {}, md)
        object_table(XERO_OBJECTS["tracking_categories"].table, {}, md)
        md.create_all(conn)
        _insert(conn, "sf_opportunity", [_opp("006A", "001A"), _opp("006B", "001A"), _opp("006C", "001A")])
        _insert(conn, "sf_opportunity_line_item", [
            _line("00k1", "006A", "SUB-PRO", 2, 100.0), _line("00k2", "006A", "ONB-STD", 1, 50.0),   # in sync
            _line("00k3", "006B", "SUB-PRO", 5, 100.0),                                            # Xero has 4
            _line("00k4", "006C", "SUB-ENT", 1, 900.0),                                            # no quote yet
        ])
        _insert(conn, "xero_quote", [_quote("q-a", "006A", "c-1", [("SUB-PRO", 2.0, 100.0), ("ONB-STD", 1.0, 50.0)]),
                                     _quote("q-b", "006B", "c-1", [("SUB-PRO", 4.0, 100.0)])])
        _insert(conn, XERO_OBJECTS["tracking_categories"].table, [_category("tc-1", "Department", ["Sales", "Support"])])
        links.record_links(conn, [("R1", "001A", "c-1"), ("R11", "006A", "q-a"), ("R11", "006B", "q-b")])
    return sqlite_staging


def _plan(db, option: str = "Sales"):
    data = yaml.safe_load(EXAMPLE.read_text())
    data["recipes"]["R11"]["lines"]["LineItems"]["fields"]["Tracking.Department"] = {"value": option}
    with db.begin() as conn:
        rows = build_declared(conn, parse_config(data), "R11").rows
    return {r.source_id: (r.action, r.reason, json.loads(r.diff) if isinstance(r.diff, str) else r.diff)
            for r in rows.itertuples(index=False)}


def test_lines_in_sync_change_and_new(staged):
    rows = _plan(staged)
    assert rows["006A"][0] == "skip", rows["006A"]
    action, _, diff = rows["006B"]
    assert action == "update" and list(diff["fields"]) == ["LineItems"]
    assert diff["payload"]["QuoteID"] == "q-b"
    assert [(li["ItemCode"], li["Quantity"]) for li in diff["payload"]["LineItems"]] == [("SUB-PRO", 5.0)]
    action, _, diff = rows["006C"]
    assert action == "create" and diff["payload"]["Contact"] == {"ContactID": "c-1"}
    assert diff["payload"]["LineItems"] == [{"Description": "SUB-ENT line", "ItemCode": "SUB-ENT", "Quantity": 1.0,
                                             "UnitAmount": 900.0,
                                             "Tracking": [{"Name": "Department", "Option": "Sales"}]}]


def test_a_tracking_option_xero_does_not_have_is_held_with_the_choices(staged):
    action, reason, _ = _plan(staged, option="Marketing")["006C"]
    assert action == "held"
    assert reason == ("line 1: 'Marketing' is not an active option of the Xero tracking category Department "
                      "(Sales, Support); add it in Xero or map the value")
