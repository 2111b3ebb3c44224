"""Two-way declared recipes into Salesforce (Xero Contacts ↔ a Salesforce object), planned on a staged
world (SQLite, no sandbox): a field Xero owns flows into Salesforce, a field Salesforce owns goes back
to the Xero path it is read from (an sf_to_xero update a push writes into Xero), `last_writer` follows
the newer side, and a value we wrote ourselves is not planned back (echo suppression). A two-way
recipe from a collection sfxero does not write, or owning a field Xero alone sets, is refused on load."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.extract.rows import COLUMN_TYPES
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS
from sfxero_pipelines.reconcile.declared import plan_declared
from sfxero_pipelines.staging.schema import column_name, extract_state, sync_link
from sfxero_pipelines.staging.state import ledger
from sfxero_pipelines.staging.tables import ensure_object_table, upsert_rows

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)
FIELDS = {"Name": "string", "Xero_Contact_Id__c": "string", "Email__c": "email", "Phone__c": "phone"}


def _config(**owners) -> dict:
    fields = {"Xero_Contact_Id__c": {"from": "ContactID", "owner": "xero"},
              "Name": {"from": "Name", "owner": owners.get("Name", "xero")},
              "Email__c": {"from": "EmailAddress", "owner": owners.get("Email__c", "salesforce")}}
    return {"extract": {"salesforce": {"objects": ["Account", "Opportunity", "Order", "Supplier__c"]}},
            "recipes": {"SUPP": {"from": {"xero": "Contacts"}, "to": {"salesforce": "Supplier__c"}, "sync": "two_way",
                                 "match": ["link", {"Xero_Contact_Id__c": "ContactID"}], "fields": fields}}}


def _stage(db, *, xero_newer: bool = False) -> None:
    spec = XERO_OBJECTS["contacts"]
    x_table, _ = ensure_object_table(db.engine, spec.table, {f.column: COLUMN_TYPES[f.kind] for f in spec.fields})
    s_table, _ = ensure_object_table(db.engine, "sf_supplier__c", {column_name(f): COLUMN_TYPES["text"] for f in FIELDS})
    x_at, s_at = (T0 + dt.timedelta(hours=1), T0) if xero_newer else (T0, T0 + dt.timedelta(hours=1))
    raw = {"ContactID": "c-1", "Name": "Acme Supplies", "EmailAddress": "old@acme.example", "ContactStatus": "ACTIVE"}
    values = {"Name": "Acme Supplies Ltd", "Xero_Contact_Id__c": "c-1", "Email__c": "new@acme.example"}
    with db.begin() as conn:
        upsert_rows(conn, x_table, [{"id": "c-1", "modified_at": x_at, "is_deleted": False, "extracted_at": T0,
                                     "invalid_reason": None, "raw": raw}])
        upsert_rows(conn, s_table, [{"id": "a05S1", "modified_at": s_at, "is_deleted": False, "extracted_at": T0,
                                     "invalid_reason": None, "raw": values,
                                     **{column_name(k): v for k, v in values.items()}}])
        conn.execute(extract_state.insert().values(table_name="sf_supplier__c", updated_at=T0, columns={
            "describe": [["Id", "id"], *[[f, t] for f, t in FIELDS.items()]]}))
        conn.execute(sync_link.insert().values(recipe="SUPP", sf_id="a05S1", xero_id="c-1", created_at=T0, updated_at=T0))


def _rows(db, data) -> dict[str, tuple]:
    with db.engine.connect() as conn:
        rows = plan_declared(conn, parse_config(data), "SUPP").rows
    return {d: (a, s, t, json.loads(x) if isinstance(x, str) else x)
            for d, a, s, t, x in zip(rows.direction, rows.action, rows.source_id, rows.target_id, rows["diff"])
            if a != "skip"}


def test_each_field_goes_the_way_its_owner_says(sqlite_staging):
    _stage(sqlite_staging)
    rows = _rows(sqlite_staging, _config())
    action, source, target, diff = rows["sf_to_xero"]
    assert (action, source, target) == ("update", "a05S1", "c-1")
    assert diff["target_object"] == "Contact" and diff["payload"] == {"ContactID": "c-1", "EmailAddress": "new@acme.example"}
    assert diff["fields"]["EmailAddress"]["old"] == "old@acme.example" and "owner salesforce" in diff["fields"]["EmailAddress"]["rule"]
    action, source, target, diff = rows["xero_to_sf"]
    assert (action, source, target) == ("update", "c-1", "a05S1")
    assert diff["payload"] == {"Supplier__c": {"Id": "a05S1", "Name": "Acme Supplies"}}


@pytest.mark.parametrize("xero_newer, direction", [(True, "xero_to_sf"), (False, "sf_to_xero")])
def test_last_writer_follows_the_newer_side(sqlite_staging, xero_newer, direction):
    _stage(sqlite_staging, xero_newer=xero_newer)
    rows = _rows(sqlite_staging, _config(Email__c="last_writer", Name="salesforce"))
    email = {d: r[3]["fields"].get("EmailAddress" if d == "sf_to_xero" else "Email__c") for d, r in rows.items()}
    assert email[direction] is not None and all(v is None for d, v in email.items() if d != direction), rows


def test_a_value_we_wrote_to_xero_is_not_planned_back(sqlite_staging):
    _stage(sqlite_staging)
    with sqlite_staging.begin() as conn:  # our own push wrote Xero's old address: Salesforce's is an echo of it
        ledger.begin(conn, [{"key": "k1", "recipe": "SUPP", "target_system": "salesforce", "target_object": "Supplier__c",
                             "source_id": "c-1", "target_id": "a05S1"}], run_id="r", request_hash="h")
        ledger.finish(conn, [{"key": "k1", "outcome": ledger.SUCCEEDED, "target_id": "a05S1",
                              "response": {"written": {"Email__c": "new@acme.example"}}}])
    rows = _rows(sqlite_staging, _config(Email__c="last_writer"))
    assert "sf_to_xero" not in rows, rows
    assert rows["xero_to_sf"][3]["fields"]["Email__c"]["new"] == "old@acme.example", "Xero's value wins: ours is an echo"


@pytest.mark.parametrize("change, key, fragment", [
    (lambda d: d["recipes"]["SUPP"].update({"from": {"xero": "CreditNotes"}, "match": ["link", {"Xero_Contact_Id__c": "CreditNoteID"}],
                                            "fields": {"Xero_Contact_Id__c": {"from": "CreditNoteID", "owner": "xero"}}}),
     "recipes.SUPP.sync", "does not write"),
    (lambda d: d["recipes"]["SUPP"]["fields"].update({"Xero_Contact_Id__c": {"from": "ContactID", "owner": "salesforce"}}),
     "recipes.SUPP.fields.Xero_Contact_Id__c.owner", "only Xero can own it"),
])
def test_a_two_way_recipe_that_cannot_write_back_is_refused(change, key, fragment):
    data = _config()
    change(data)
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    line = str(exc.value)
    assert line.startswith(f"sfxero.yaml: {key}") and fragment in line, line


def test_a_two_way_recipes_plan_is_tagged_for_both_push_jobs(sqlite_staging, tmp_path, monkeypatch):
    """Its plan has rows for both systems (the test above), so each push job runs its blocking checks before
    writing (push jobs select them by these tags, test_definitions); a one-way recipe's only the job of its
    target."""
    import yaml

    # Imported first: the module reads the configuration's declared recipes once, at import.
    from sfxero_pipelines.defs.reconciliation.assets import build_declared_asset, writes_tag

    _stage(sqlite_staging)
    data = _config()
    data["recipes"]["ONEW"] = {**data["recipes"]["SUPP"], "sync": "one_way",
                               "fields": {"Name": "Name", "Xero_Contact_Id__c": "ContactID"}}
    rows = _rows(sqlite_staging, data)
    assert set(rows) == {"sf_to_xero", "xero_to_sf"}
    config = tmp_path / "sfxero.yaml"
    config.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("SFXERO_CONFIG", str(config))
    tags = {name: next(iter(build_declared_asset(name).tags_by_key.values())) for name in ("SUPP", "ONEW")}
    assert tags["SUPP"][writes_tag("xero")] == tags["SUPP"][writes_tag("salesforce")] == "true"
    assert tags["ONEW"][writes_tag("salesforce")] == "true" and writes_tag("xero") not in tags["ONEW"]
