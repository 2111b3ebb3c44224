"""The Xero push of a declared recipe's rows against the sandbox: an Item create is written once, its
link recorded and its write-back sent to Salesforce; a create whose answer was lost (ledger still
`pending`) is found by the row's `lookup_by` field instead of being created twice; a rerun writes
nothing (the ledger)."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from sfxero_pipelines.config import PushConfig
from sfxero_pipelines.push.rows import load_rows
from sfxero_pipelines.push.run import push_to_xero
from sfxero_pipelines.reconcile import plan
from sfxero_pipelines.staging.state import ledger, links
from sfxero_pipelines.staging.state.plans import write_plan

from ..conftest import FAST_XERO
from ..extract.conftest import salesforce_resource, xero_resource
from ..push.conftest import live, records
from .test_r8_items_e2e import EXAMPLE


def _create(product: dict, code: str) -> dict:
    return {"target_object": "Item", "source_table": "sf_product2", "engine": "declared", "match": None, "link": True,
            "lookup_by": "Code", "fields": {"Code": {"old": None, "new": code, "rule": "R8 ProductCode→Code"}},
            "payload": {"Code": code, "Name": product["Name"][:50], "SalesDetails": {"UnitPrice": 12.5}},
            "write_back": {"sobject": "Product2", "id": product["Id"], "fields": {"Description": "ItemID"}}}


def test_item_creates_are_written_once_linked_and_written_back(make_sandbox, sqlite_staging, monkeypatch):
    monkeypatch.setenv("SFXERO_CONFIG", str(EXAMPLE))  # R8 declared: its stored plan is current
    server = make_sandbox(size="30", seed=3, xero_limits=FAST_XERO)
    products = [p for p in records(server, "sf", "Product2")][:2]
    fresh, lost = products
    rows = plan.rows("R8", "sf_to_xero", "create", [fresh["Id"], lost["Id"]], None,
                     [_create(fresh, "ENG-FRESH-1"), _create(lost, "ENG-LOST-2")], "no Xero Items record matches")
    with sqlite_staging.begin() as conn:
        write_plan(conn, plan.finalize([rows]), recipes=("R8",))
        pushed, _ = load_rows(conn, "xero")
        # The second create went out in an earlier push whose answer was lost: pending in the ledger,
        # and Xero already has the Item.
        key = next(r.key for r in pushed if r.source_id == lost["Id"])
        ledger.begin(conn, [{"key": key, "recipe": "R8", "target_system": "xero", "target_object": "Item",
                             "source_id": lost["Id"], "target_id": None}], run_id="lost", request_hash="h")
    with xero_resource(server).get_client() as x:
        x.write("Items", [{"Code": "ENG-LOST-2", "Name": lost["Name"][:50]}], method="POST", idempotency_key="other-app-1")
    cfg = PushConfig()
    with xero_resource(server).get_client() as x, salesforce_resource(server).get_client() as s:
        report = push_to_xero(sqlite_staging.engine, x, s, cfg=cfg, run_id="r1")
    assert (report.written, report.found_by_lookup, report.held, report.write_backs) == (1, 1, [], 2)
    items = [i for i in live(records(server, "xero", "Items")) if i["Code"].startswith("ENG-")]
    assert sorted(i["Code"] for i in items) == ["ENG-FRESH-1", "ENG-LOST-2"], "each created once"
    ids = {i["Code"]: i["ItemID"] for i in items}
    described = {p["Id"]: p.get("Description") for p in records(server, "sf", "Product2")}
    assert described[fresh["Id"]] == ids["ENG-FRESH-1"] and described[lost["Id"]] == ids["ENG-LOST-2"]
    with sqlite_staging.engine.connect() as conn:
        assert links.links_of(conn, "R8") == {fresh["Id"]: ids["ENG-FRESH-1"], lost["Id"]: ids["ENG-LOST-2"]}
        outcomes = pd.read_sql(sa.text("SELECT outcome FROM sync_ledger WHERE recipe = 'R8' AND target_system = 'xero'"), conn).outcome.tolist()
    assert sorted(outcomes) == ["succeeded", "succeeded"]

    with xero_resource(server).get_client() as x, salesforce_resource(server).get_client() as s:
        again = push_to_xero(sqlite_staging.engine, x, s, cfg=cfg, run_id="r2")
    assert (again.written, again.already_done) == (0, 2)
    assert len([i for i in live(records(server, "xero", "Items")) if i["Code"].startswith("ENG-")]) == 2


def test_a_removed_recipes_stored_plan_is_not_pushed(make_sandbox, sqlite_staging, monkeypatch, tmp_path):
    server = make_sandbox(size="30", seed=3, xero_limits=FAST_XERO)
    product = records(server, "sf", "Product2")[0]
    rows = plan.rows("R8", "sf_to_xero", "create", [product["Id"]], None, [_create(product, "ENG-STALE-1")], "new")
    with sqlite_staging.begin() as conn:
        write_plan(conn, plan.finalize([rows]), recipes=("R8",))
    config = tmp_path / "sfxero.yaml"
    config.write_text("recipes: {R6: {enabled: false}}\n")  # R8 no longer declared
    monkeypatch.setenv("SFXERO_CONFIG", str(config))
    with xero_resource(server).get_client() as x, salesforce_resource(server).get_client() as s:
        report = push_to_xero(sqlite_staging.engine, x, s, cfg=PushConfig(), run_id="r1")
    assert (report.planned, report.written) == (0, 0)
    assert not [i for i in live(records(server, "xero", "Items")) if i["Code"] == "ENG-STALE-1"]


def _credit_note_create(cn_id: str, account: str) -> dict:
    record = {"Xero_Credit_Note_Id__c": cn_id, "Name": cn_id.upper(), "Account__c": account, "Total__c": 40.0}
    return {"target_object": "Xero_Credit_Note__c", "source_table": "xero_credit_note", "engine": "declared",
            "match": None, "link": True, "lookup_by": "Xero_Credit_Note_Id__c",
            "fields": {k: {"old": None, "new": v, "rule": "R9"} for k, v in record.items()},
            "payload": {"Xero_Credit_Note__c": record}}


def test_a_create_into_salesforce_lost_after_the_write_is_found_by_its_external_id(make_sandbox, sqlite_staging,
                                                                                   monkeypatch):
    """The crash between Salesforce's answer and the ledger entry: the create stays `pending`; the next
    push looks the record up by the row's external id and records it (and its link) instead of
    creating it again. A rerun writes nothing."""
    from sfxero_pipelines.push.run import push_to_salesforce

    from .test_finance_example_e2e import EXAMPLE as FINANCE

    monkeypatch.setenv("SFXERO_CONFIG", str(FINANCE))
    server = make_sandbox(size="30", seed=3, xero_limits=FAST_XERO)
    account = records(server, "sf", "Account")[0]["Id"]
    rows = plan.rows("R9", "xero_to_sf", "create", ["cn-lost", "cn-fresh"], None,
                     [_credit_note_create("cn-lost", account), _credit_note_create("cn-fresh", account)], "new")
    with sqlite_staging.begin() as conn:
        write_plan(conn, plan.finalize([rows]), recipes=("R9",))
        pushed, _ = load_rows(conn, "salesforce")
        key = next(r.key for r in pushed if r.source_id == "cn-lost")
        ledger.begin(conn, [{"key": key, "recipe": "R9", "target_system": "salesforce",
                             "target_object": "Xero_Credit_Note__c", "source_id": "cn-lost", "target_id": None}],
                     run_id="lost", request_hash="h")
    with salesforce_resource(server).get_client() as s:
        earlier = s.upsert_collection("Xero_Credit_Note__c", "Xero_Credit_Note_Id__c",
                                      [{"Xero_Credit_Note_Id__c": "cn-lost", "Name": "CN-LOST", "Account__c": account}])
        report = push_to_salesforce(sqlite_staging.engine, s, cfg=PushConfig(), run_id="r1")
    assert (report.found_by_lookup, report.held, report.links_recorded) == (1, [], 2)
    notes = {r["Xero_Credit_Note_Id__c"]: r["Id"] for r in records(server, "sf", "Xero_Credit_Note__c")
             if r.get("Xero_Credit_Note_Id__c", "").startswith("cn-")}
    assert sorted(notes) == ["cn-fresh", "cn-lost"] and notes["cn-lost"] == earlier[0]["id"], "each created once"
    with sqlite_staging.engine.connect() as conn:
        assert links.links_of(conn, "R9") == {notes["cn-lost"]: "cn-lost", notes["cn-fresh"]: "cn-fresh"}
    with salesforce_resource(server).get_client() as s:
        again = push_to_salesforce(sqlite_staging.engine, s, cfg=PushConfig(), run_id="r2")
    assert (again.written, again.already_done) == (0, 2)


def test_an_item_delete_is_sent_once_and_a_resent_one_ends_on_xeros_404(make_sandbox, sqlite_staging, monkeypatch):
    """R8 under `deletes: archive`: the linked Item of a deleted Product is removed with Xero's DELETE; a
    delete whose answer was lost (ledger `pending`) is sent again and Xero's 404 ends it, as done."""
    monkeypatch.setenv("SFXERO_CONFIG", str(EXAMPLE))
    server = make_sandbox(size="30", seed=3, xero_limits=FAST_XERO)
    product_a, product_b = records(server, "sf", "Product2")[:2]
    with xero_resource(server).get_client() as x:
        made = x.write("Items", [{"Code": "ENG-DEL-1", "Name": "a"}, {"Code": "ENG-DEL-2", "Name": "b"}], method="POST",
                       idempotency_key="setup-del")
    ids = [m["ItemID"] for m in made]
    delete = {"target_object": "Item", "source_table": "sf_product2", "engine": "declared", "fields": {},
              "delete": {"op": "delete", "policy": "archive", "target_status": "ACTIVE", "posted": False}}
    rows = plan.rows("R8", "sf_to_xero", "delete", [product_a["Id"], product_b["Id"]], ids,
                     [{**delete, "payload": {"ItemID": i}} for i in ids], "Product2 deleted in Salesforce")
    with sqlite_staging.begin() as conn:
        write_plan(conn, plan.finalize([rows]), recipes=("R8",))
        pushed, _ = load_rows(conn, "xero")
        lost = next(r for r in pushed if r.target_id == ids[1])
        ledger.begin(conn, [{"key": lost.key, "recipe": "R8", "target_system": "xero", "target_object": "Item",
                             "source_id": lost.source_id, "target_id": ids[1]}], run_id="lost", request_hash="h")
    with xero_resource(server).get_client() as x:
        assert x.delete_item(ids[1]) is True  # the lost call had reached Xero
        before = x.api_calls["DELETE Items"]
        with salesforce_resource(server).get_client() as s:
            report = push_to_xero(sqlite_staging.engine, x, s, cfg=PushConfig(), run_id="r1")
        assert x.api_calls["DELETE Items"] - before == 2, "one call per Item, the resent one included"
    assert (report.written, report.held) == (2, [])
    assert not [i for i in live(records(server, "xero", "Items")) if i["Code"].startswith("ENG-DEL-")]
    with sqlite_staging.engine.connect() as conn:
        outcomes = pd.read_sql(sa.text("SELECT outcome, target_id FROM sync_ledger WHERE recipe = 'R8'"), conn)
    assert sorted(outcomes.values.tolist()) == sorted([["succeeded", i] for i in ids])

    with xero_resource(server).get_client() as x, salesforce_resource(server).get_client() as s:
        again = push_to_xero(sqlite_staging.engine, x, s, cfg=PushConfig(), run_id="r2")
        assert x.api_calls["DELETE Items"] == 0, "the ledger keeps a done delete from being sent again"
    assert (again.written, again.already_done) == (0, 2)
