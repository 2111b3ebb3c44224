"""`Contact.<Field>` on an Account in a declared recipe is its primary Contact's field, as R1 reads it (the
earliest-created Contact with an Email, else the earliest): read for a create and a match by email, held
with that Contact, and, when Xero owns the field in a two-way recipe, written back onto that Contact
(the R5 way). Both staging backends; a recipe into Salesforce naming one is refused against the describe."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
import yaml

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.config.declared import salesforce_problems
from sfxero_pipelines.reconcile import primary_contact
from sfxero_pipelines.reconcile.build import build_declared
from sfxero_pipelines.staging.migrations import migrate
from sfxero_pipelines.staging.schema import object_table
from sfxero_pipelines.staging.state import holds
from sfxero_pipelines.staging.state.links import links_of
from sfxero_pipelines.staging.state.plans import load_latest

from ..conftest import FAST_XERO
from ..extract.conftest import xero_resource
from ..push.conftest import records
from .test_finance_example_e2e import _writes, run_cycle

AT = dt.datetime(2026, 12, 1, 10, tzinfo=dt.timezone.utc)
RECIPE = {"from": {"salesforce": "Account"}, "to": {"xero": "Contacts"}, "sync": "two_way",
          "match": ["link", {"ContactNumber": "Id"}, {"email": {"EmailAddress": "Contact.Email"}}],
          "fields": {"Name": {"from": "Name", "owner": "salesforce"},
                     "ContactNumber": {"from": "Id", "owner": "salesforce"},
                     "EmailAddress": {"from": "Contact.Email", "transform": "email", "owner": "xero"}}}
#: Account → its Contacts (id, Email, created minutes after AT).
CONTACTS = {"A1": [("c1", None, 1), ("c2", "alpha@example.com", 2), ("c3", "zed@example.com", 3)],
            "A2": [("c4", "old@beta.example", 1)],
            "A3": [("c5", "gamma@example.com", 1)],
            "A4": [("c6", "delta@example.com", 1)],
            "A5": []}
#: Xero Contacts: id → (ContactNumber, EmailAddress).
XERO = {"x2": ("A2", "new@beta.example"), "x3": (None, " GAMMA@example.com"), "x4": ("A4", "delta@example.com"),
        "x5": ("A5", "eps@example.com")}


def _staged(conn) -> None:
    md = sa.MetaData()
    t = {"sf_account": object_table("sf_account", {"name": sa.Text()}, md),
         "sf_contact": object_table("sf_contact", {"accountid": sa.Text(), "email": sa.Text(),
                                                   "createddate": sa.DateTime(timezone=True)}, md),
         "xero_contact": object_table("xero_contact", {"name": sa.Text()}, md)}
    md.create_all(conn)
    base = {"modified_at": AT, "is_deleted": False, "extracted_at": AT, "invalid_reason": None, "raw": {}}
    conn.execute(t["sf_account"].insert(), [{**base, "id": a, "name": f"Account {a}"} for a in CONTACTS])
    conn.execute(t["sf_contact"].insert(), [
        {**base, "id": c, "accountid": a, "email": e, "createddate": AT + dt.timedelta(minutes=m)}
        for a, people in CONTACTS.items() for c, e, m in people])
    conn.execute(t["xero_contact"].insert(), [
        {**base, "id": x, "name": f"Account {n or 'A3'}", "raw": {
            "ContactID": x, "Name": f"Account {n or 'A3'}", "EmailAddress": e, "ContactStatus": "ACTIVE",
            **({"ContactNumber": n} if n else {})}} for x, (n, e) in XERO.items()])
    holds.hold(conn, [{"table_name": "sf_contact", "record_id": "c6", "reason": "failed check email_valid",
                       "detail": {}}], run_id=None)


@pytest.fixture
def rows(staging) -> dict[str, list]:
    cfg = parse_config({"recipes": {"ACCTS": RECIPE}})
    with staging.begin() as conn:
        _staged(conn)
        built = build_declared(conn, cfg, "ACCTS").rows
    out: dict[str, list] = {}
    for r in built.itertuples(index=False):
        out.setdefault(r.source_id, []).append(r)
    return out


def _one(rows, source_id: str, action: str):
    found = [r for r in rows.get(source_id, []) if r.action == action]
    assert len(found) == 1, (source_id, action, [(r.action, r.reason) for r in rows.get(source_id, [])])
    return found[0], json.loads(found[0].diff) if found[0].diff else None


def test_the_primary_contacts_email_is_created_matched_held_and_written_back(rows):
    # A1: the earliest Contact with an Email, not the earliest Contact (which has none).
    _, create = _one(rows, "A1", "create")
    assert create["payload"]["EmailAddress"] == "alpha@example.com"
    # A2: matched by ContactNumber; Xero owns the email, so it goes onto A2's primary Contact.
    row, back = _one(rows, "x2", "update")
    assert row.target_id == "A2" and row.direction == "xero_to_sf"
    assert back["payload"] == {"Contact": {"Id": "c4", "Email": "new@beta.example"}}
    assert back["fields"]["Contact.Email"]["old"] == "old@beta.example"
    # A3: matched by the primary Contact's email (normalised, so the email is in sync); Xero is given
    # the ContactNumber it lacks.
    row, diff = _one(rows, "A3", "update")
    assert row.target_id == "x3" and diff["match"] == "email" and set(diff["fields"]) == {"ContactNumber"}
    # A4: its primary Contact is held, so the pair is.
    row, _ = _one(rows, "A4", "held")
    assert row.reason.startswith("primary Contact c6 ") and "failed check email_valid" in row.reason
    # A5: no Contact to write Xero's email to: nothing planned but the pair in sync.
    assert [r.action for r in rows["A5"]] == ["skip"] and "x5" not in rows


def test_a_new_contact_named_like_one_in_xero_or_in_the_same_plan_is_held(sqlite_staging):
    """Xero keeps contact names unique and takes a POSTed Contact with an existing name for that Contact:
    such a create is held with the reason, never sent to overwrite another customer."""
    cfg = parse_config({"recipes": {"ACCTS": RECIPE}})
    with sqlite_staging.begin() as conn:
        _staged(conn)
        t = sa.Table("sf_account", sa.MetaData(), autoload_with=conn)
        base = {"modified_at": AT, "is_deleted": False, "extracted_at": AT, "invalid_reason": None, "raw": {}}
        conn.execute(t.insert(), [{**base, "id": "A6", "name": "  account a2 "},      # Xero's x2, A2's pair
                                  {**base, "id": "A7", "name": "Twin Ltd"}, {**base, "id": "A8", "name": "TWIN LTD"}])
        built = build_declared(conn, cfg, "ACCTS").rows
    why = dict(zip(built[built.action == "held"].source_id, built[built.action == "held"].reason))
    assert why["A6"].startswith("Xero already has a Contact named 'Account A2' (x2); Xero would update it")
    assert why["A8"].startswith("another new Xero Contact of this plan is named 'TWIN LTD' (Account A7)")
    assert set(built[built.action == "create"].source_id) == {"A1", "A7"}


def test_a_recipe_into_salesforce_naming_a_primary_contact_field_is_refused():
    into_sf = parse_config({"recipes": {"BACK": {
        "from": {"xero": "Contacts"}, "to": {"salesforce": "Account"}, "match": ["link", {"Xero_Id__c": "ContactID"}],
        "fields": {"Xero_Id__c": "ContactID", "Contact.Email": "EmailAddress"}}}}).recipes.declared
    fields = {"Account": {"Id": "id", "Name": "string", "Xero_Id__c": "string"},
              "Contact": {"Id": "id", "Email": "email", "AccountId": "reference"}}
    assert salesforce_problems(into_sf, fields.get) == [
        ("recipes.BACK.fields.Contact.Email", "a recipe into Salesforce writes the Account's own fields; its primary "
                                              "Contact's (Contact.Email) come back through a two-way recipe from "
                                              "Account (owner: xero)")]
    # From Account, Contact.<Field> is checked against Contact's describe.
    typo = parse_config({"recipes": {"ACCTS": {**RECIPE, "fields": {
        **RECIPE["fields"], "EmailAddress": {"from": "Contact.Emial", "owner": "xero"}}}}}).recipes.declared
    assert salesforce_problems(typo, fields.get) == [("recipes.ACCTS.fields.EmailAddress",
                                                      "Salesforce Account has no field Contact.Emial")]
    assert salesforce_problems(parse_config({"recipes": {"ACCTS": RECIPE}}).recipes.declared, fields.get) == []


def _held(engine) -> list[str]:
    with engine.connect() as conn:
        latest = load_latest(conn, "ACCTS")
    return latest[latest.action == "held"].reason.tolist()


@pytest.mark.slow
def test_on_the_sandbox_an_email_changed_in_xero_reaches_the_primary_contact_once(make_sandbox, staging, tmp_path,
                                                                                  monkeypatch):
    """R1's and R5's Accounts ↔ Contacts with the email, declared (R1..R5 off): one cycle converges, an
    email changed in Xero is written onto the Account's primary Contact in Salesforce, and the cycle after
    writes nothing (our own write is not read back as a change)."""
    server = make_sandbox(size="30", seed=11, xero_limits=FAST_XERO)
    config = tmp_path / "accounts.yaml"
    config.write_text(yaml.safe_dump({"recipes": {**{r: {"enabled": False} for r in ("R1", "R2", "R3", "R4", "R5")},
                                                  "ACCTS": RECIPE}}))
    monkeypatch.setenv("SFXERO_CONFIG", str(config))
    engine = staging.engine
    migrate(engine)
    first = run_cycle(server, engine, "p1")
    assert first["plan"]["ACCTS"]["create"] > 0 and first["xero"].held == [], first["plan"]
    # A create named like another Account's Xero Contact is held (Xero would update that one), not written.
    assert any("Xero would update it instead of creating one" in h for h in _held(engine)), _held(engine)
    assert _writes(run_cycle(server, engine, "p2")["plan"]) == 0

    contacts = [c for c in records(server, "sf", "Contact") if not c.get("IsDeleted") and c.get("AccountId")]
    with staging.engine.connect() as conn:
        linked = links_of(conn, "ACCTS")
        primary = primary_contact.read(conn, ["Email"])
    account = next(a for a in sorted(linked) if a in primary.index and primary.loc[a, "Email"])
    contact_id = primary.loc[account, "id"]
    assert len([c for c in contacts if c["AccountId"] == account]) >= 1
    with xero_resource(server).get_client() as x:
        x.write("Contacts", [{"ContactID": linked[account], "EmailAddress": "Changed.In.Xero@example.com"}],
                idempotency_key="primary-contact-email")
    third = run_cycle(server, engine, "p3")
    assert third["plan"]["ACCTS"].get("update", 0) == 1, third["plan"]
    by_id = {c["Id"]: c for c in records(server, "sf", "Contact")}
    # Xero owns it: its value, in the form the field's `email` transform gives (as R5 writes it).
    assert by_id[contact_id]["Email"] == "changed.in.xero@example.com"
    others = [c for c in contacts if c["AccountId"] == account and c["Id"] != contact_id]
    assert all(by_id[c["Id"]].get("Email") == c.get("Email") for c in others), "only the primary Contact is written"
    assert _writes(run_cycle(server, engine, "p4")["plan"]) == 0
