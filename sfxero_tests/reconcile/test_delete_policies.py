"""Delete policies (reconcile/deletes.py, config/deletes.py) for R1, R2 and R7, on hand-staged pairs: each
policy on each direction (R7: the Order deleted; Salesforce does not delete an activated Order), the `posted` override for an AUTHORISED invoice or a Contact with a balance, a
paid invoice held whatever the policy, row approvals turning a held row into a write (in the plan and in
the push rows), and the mass-change guard counting `archive` deletes but not approved ones."""

from __future__ import annotations

import pytest

from sfxero_pipelines.config import PushConfig, parse_config
from sfxero_pipelines.push.guard import GuardInputs, assess
from sfxero_pipelines.push.rows import load_rows
from sfxero_pipelines.reconcile import plan as P
from sfxero_pipelines.reconcile.build import build_family
from sfxero_pipelines.reconcile.deletes import waiting_rows
from sfxero_pipelines.reconcile.hold_sentences import explain_reason
from sfxero_pipelines.staging.state import approvals
from sfxero_pipelines.staging.state.plans import write_plan

from .conftest import Stager, diff_of


@pytest.fixture
def sworld(sqlite_staging) -> Stager:
    return Stager(sqlite_staging)


def _cfg(recipe: str, deletes) -> object:
    return parse_config({"recipes": {recipe: {"deletes": deletes}}})


def _contact_pair(w: Stager, *, sf_deleted=False, archived=False, balance=0.0) -> tuple[str, str]:
    a = w.sf("Account", Name="Gone Co", deleted=sf_deleted)
    x = w.xero("Contacts", Name="Gone Co", ContactStatus="ARCHIVED" if archived else "ACTIVE",
               Balances={"AccountsReceivable": {"Outstanding": balance, "Overdue": 0.0}})
    w.link("R1", a, x)
    return a, x


def _invoice_pair(w: Stager, *, sf_deleted=False, status="AUTHORISED", paid=0.0) -> tuple[str, str]:
    o = w.sf("Opportunity", Name="Deal", StageName="Closed Won", IsWon=True, CloseDate="2025-03-01", deleted=sf_deleted)
    x = w.xero("Invoices", Type="ACCREC", Reference=o, InvoiceNumber="INV-9", Contact={"ContactID": "c1"},
               Status=status, SubTotal=100.0, Total=100.0, AmountDue=100.0 - paid, AmountPaid=paid, CurrencyCode="USD")
    w.link("R2", o, x)
    return o, x


def _order_pair(w: Stager, *, sf_deleted=False, status="AUTHORISED") -> tuple[str, str]:
    o = w.sf("Order", Status="Activated", EffectiveDate="2025-03-01", TotalAmount=100.0, deleted=sf_deleted)
    x = w.xero("Invoices", Type="ACCREC", Reference=o, InvoiceNumber="INV-7", Contact={"ContactID": "c1"},
               Status=status, SubTotal=100.0, Total=100.0, AmountDue=100.0, AmountPaid=0.0, CurrencyCode="USD")
    w.link("R7", o, x)
    return o, x


def _rows(w: Stager, cfg, recipe: str) -> list:
    """The recipe's rows its delete policies planned (their diff says what `delete` was decided), as its
    family's plan has them: the engine plans them with the pass's other rows."""
    family = {"R1": "contacts", "R2": "invoices", "R7": "invoices"}[recipe]
    with w.db.engine.connect() as conn:
        rows = build_family(conn, cfg, family).rows
    return [r for r in rows.drop(columns=["plan_id", "row_no"]).itertuples(index=False)
            if r.recipe == recipe and "delete" in (diff_of(r) or {})]


# -- each policy, each direction ---------------------------------------------------------------------

@pytest.mark.parametrize("policy,action", [("archive", "delete"), ("hold_for_approval", "held"), ("ignore", None)])
def test_r1_deleted_account_archives_its_contact_by_policy(sworld, policy, action):
    a, x = _contact_pair(sworld, sf_deleted=True)
    rows = _rows(sworld, _cfg("R1", {"salesforce": policy}), "R1")
    assert [(r.direction, r.action, r.source_id, r.target_id) for r in rows] == \
        ([("sf_to_xero", action, a, x)] if action else [])
    if action:
        d = diff_of(rows[0])
        assert d["payload"] == {"ContactID": x, "ContactStatus": "ARCHIVED"} and d["target_object"] == "Contact"
        assert d["fields"] == {"ContactStatus": {"old": "ACTIVE", "new": "ARCHIVED"}}
        assert ("approval" in d) == (policy == "hold_for_approval")


@pytest.mark.parametrize("policy,action", [("archive", "delete"), ("hold_for_approval", "held"), ("ignore", None)])
def test_r1_archived_contact_deletes_its_account_by_policy(sworld, policy, action):
    a, x = _contact_pair(sworld, archived=True)
    rows = _rows(sworld, _cfg("R1", {"xero": policy}), "R1")
    assert [(r.direction, r.action, r.source_id, r.target_id) for r in rows] == \
        ([("xero_to_sf", action, x, a)] if action else [])
    if action:
        assert diff_of(rows[0])["payload"] == {"Account": {"Id": a}}


@pytest.mark.parametrize("policy,action", [("archive", "delete"), ("hold_for_approval", "held"), ("ignore", None)])
def test_r2_deleted_opportunity_deletes_its_draft_invoice_by_policy(sworld, policy, action):
    o, x = _invoice_pair(sworld, sf_deleted=True, status="DRAFT")
    rows = _rows(sworld, _cfg("R2", {"salesforce": policy}), "R2")
    assert [(r.direction, r.action, r.source_id, r.target_id) for r in rows] == \
        ([("sf_to_xero", action, o, x)] if action else [])
    if action:
        assert diff_of(rows[0])["payload"] == {"InvoiceID": x, "Status": "DELETED"}


@pytest.mark.parametrize("policy,action", [("archive", "delete"), ("hold_for_approval", "held"), ("ignore", None)])
def test_r2_voided_invoice_deletes_its_opportunity_by_policy(sworld, policy, action):
    o, x = _invoice_pair(sworld, status="VOIDED")
    rows = _rows(sworld, _cfg("R2", {"xero": policy}), "R2")
    assert [(r.direction, r.action, r.source_id, r.target_id) for r in rows] == \
        ([("xero_to_sf", action, x, o)] if action else [])
    if action:
        assert diff_of(rows[0])["payload"] == {"Opportunity": {"Id": o}}


# -- defaults and posted records -------------------------------------------------------------------------

def test_defaults_leave_r1_alone_and_hold_a_deleted_opportunitys_invoice(sworld):
    _contact_pair(sworld, sf_deleted=True)
    _contact_pair(sworld, archived=True)
    _invoice_pair(sworld, status="VOIDED")
    o, x = _invoice_pair(sworld, sf_deleted=True, status="DRAFT")
    cfg = parse_config({})
    assert _rows(sworld, cfg, "R1") == []
    [row] = _rows(sworld, cfg, "R2")
    assert (row.action, row.source_id, row.target_id) == ("held", o, x)


@pytest.mark.parametrize("posted,action", [("hold_for_approval", "held"), ("archive", "delete")])
def test_an_authorised_invoice_and_a_contact_with_a_balance_follow_posted(sworld, posted, action):
    o, x = _invoice_pair(sworld, sf_deleted=True, status="AUTHORISED")
    a, c = _contact_pair(sworld, sf_deleted=True, balance=250.0)
    _contact_pair(sworld, sf_deleted=True)  # no balance: archived under `archive` whatever `posted` says
    [inv] = _rows(sworld, _cfg("R2", {"salesforce": "archive", "posted": posted}), "R2")
    assert (inv.action, diff_of(inv)["payload"]) == (action, {"InvoiceID": x, "Status": "VOIDED"})
    contacts = {r.source_id: r.action for r in _rows(sworld, _cfg("R1", {"salesforce": "archive", "posted": posted}), "R1")}
    assert contacts.pop(a) == action and list(contacts.values()) == ["delete"]
    if action == "held":
        assert inv.reason.startswith("waits for approval to void AUTHORISED Xero invoice INV-9: run `sfxero approve row-")
        explained = explain_reason(inv.reason)
        assert explained.recognised and "sfxero approve row-" in explained.sentence


def test_a_paid_invoice_is_held_with_its_reason_whatever_the_policy(sworld):
    o, x = _invoice_pair(sworld, sf_deleted=True, status="AUTHORISED", paid=40.0)
    for deletes in ("archive", {"salesforce": "archive", "posted": "archive"}, "hold_for_approval"):
        [row] = _rows(sworld, _cfg("R2", deletes), "R2")
        assert row.action == "held" and "approval" not in diff_of(row)
        assert row.reason.startswith("Xero invoice INV-9 of the deleted Opportunity has payments")
    assert _rows(sworld, _cfg("R2", "ignore"), "R2") == []
    assert explain_reason(row.reason).kind == "reconcile: paid invoice of a deleted record"


def test_an_already_voided_or_archived_target_plans_nothing(sworld):
    _invoice_pair(sworld, sf_deleted=True, status="VOIDED")
    _contact_pair(sworld, sf_deleted=True, archived=True)
    assert _rows(sworld, _cfg("R2", "archive"), "R2") == [] and _rows(sworld, _cfg("R1", "archive"), "R1") == []


# -- approvals, push rows and the guard ------------------------------------------------------------------

def test_a_row_approval_lets_exactly_that_change_through(world):
    """Both staging backends: held → approved → the push rows carry the void; the next plan lists it as an
    approved delete the guard does not count; the same id never approves the invoice once it changed."""
    o, x = _invoice_pair(world, sf_deleted=True, status="AUTHORISED")
    cfg = parse_config({})
    with world.db.begin() as conn:
        built = build_family(conn, cfg, "invoices").rows
        write_plan(conn, built)
    held = waiting_rows(built)
    [(row_id, info)] = held.items()
    assert info["recipe"] == "R2" and info["source_id"] == o and row_id.startswith("row-")
    with world.db.engine.connect() as conn:
        writes, _ = load_rows(conn, "xero")
    assert writes == [], "held for approval: nothing to push"

    with world.db.begin() as conn:
        approvals.approve(conn, approvals.ROW, [row_id], by="test")
    with world.db.engine.connect() as conn:
        [write], _ = load_rows(conn, "xero")
    assert (write.action, write.payload, write.diff["approved"]) == ("delete", {"InvoiceID": x, "Status": "VOIDED"}, row_id)

    with world.db.begin() as conn:
        again = build_family(conn, cfg, "invoices").rows
    [row] = list(again[again.source_id == o].itertuples(index=False))
    assert row.action == "delete" and diff_of(row)["approved"] == row_id
    inputs = GuardInputs(mapped=frozenset(), invoiced={}, invoice_currency={})
    assert assess(again, PushConfig(), inputs)["R2"].figures["deletes"] == 0
    with world.db.engine.connect() as conn:
        [same], _ = load_rows(conn, "xero", plan=P.finalize([again.drop(columns=["plan_id", "row_no"])]))
    assert same.key == write.key, "one write, whichever plan pushes it"

    # Paid since the approval: another change, another id, held again.
    world.xero("Invoices", InvoiceID=x, Type="ACCREC", Reference=o, InvoiceNumber="INV-9", Contact={"ContactID": "c1"},
               Status="PAID", SubTotal=100.0, Total=100.0, AmountDue=0.0, AmountPaid=100.0, CurrencyCode="USD")
    with world.db.begin() as conn:
        paid = build_family(conn, cfg, "invoices").rows
    [row] = list(paid[paid.source_id == o].itertuples(index=False))
    assert row.action == "held" and "has payments" in row.reason


def test_the_guard_counts_archive_deletes(sworld):
    _contact_pair(sworld, sf_deleted=True)
    with sworld.db.engine.connect() as conn:
        rows = P.finalize([build_family(conn, _cfg("R1", "archive"), "contacts").rows.drop(columns=["plan_id", "row_no"])])
    verdict = assess(rows, PushConfig(), GuardInputs(mapped=frozenset(), invoiced={}, invoice_currency={}))["R1"]
    assert verdict.blocked and verdict.figures["deletes"] == 1
    assert assess(rows, PushConfig(max_deletes=1), GuardInputs(frozenset(), {}, {}))["R1"].blocked is False


@pytest.mark.parametrize("policy,action", [("archive", "delete"), ("hold_for_approval", "held"), ("ignore", None)])
def test_r7_deleted_order_deletes_its_draft_invoice_by_policy(sworld, policy, action):
    o, x = _order_pair(sworld, sf_deleted=True, status="DRAFT")
    _order_pair(sworld, status="DRAFT")  # live: nothing
    cfg = parse_config({"recipes": {"R7": {"enabled": True, "deletes": {"salesforce": policy}}}})
    rows = _rows(sworld, cfg, "R7")
    assert [(r.direction, r.action, r.source_id, r.target_id) for r in rows] == \
        ([("sf_to_xero", action, o, x)] if action else [])
    if action == "delete":
        assert diff_of(rows[0])["payload"] == {"InvoiceID": x, "Status": "DELETED"}
        assert rows[0].reason == ("Order deleted in Salesforce: delete DRAFT Xero invoice INV-7 "
                                  "(recipes.R7.deletes: archive)")


def test_r7_holds_a_deleted_orders_authorised_invoice_by_default(sworld):
    o, x = _order_pair(sworld, sf_deleted=True, status="AUTHORISED")
    [row] = _rows(sworld, parse_config({"recipes": {"R7": {"enabled": True}}}), "R7")
    assert (row.action, row.source_id, row.target_id) == ("held", o, x)
    assert diff_of(row)["payload"] == {"InvoiceID": x, "Status": "VOIDED"}
    assert row.reason.startswith("waits for approval to void AUTHORISED Xero invoice INV-7: run `sfxero approve row-")


def test_r7_never_plans_deleting_an_activated_order():
    """Salesforce refuses to delete an activated Order (it must be deactivated first), and R7 reads activated
    Orders only: a voided invoice's Order cannot go by policy, so that side is refused on load."""
    from sfxero_pipelines.errors import ConfigError

    for deletes in ({"xero": "archive"}, "archive"):
        with pytest.raises(ConfigError, match=r"recipes\.R7\.deletes\.xero: Salesforce does not delete an activated Order"):
            parse_config({"recipes": {"R7": {"deletes": deletes}}})
    assert parse_config({"recipes": {"R7": {"deletes": {"salesforce": "archive", "xero": "ignore"}}}})
    with pytest.raises(ConfigError, match="recipes.R1.deletes.salesforce"):
        parse_config({"recipes": {"R1": {"deletes": {"salesforce": "void"}}}})


def test_approve_takes_row_ids_held_in_the_latest_plans_only(sworld, monkeypatch, capsys):
    import click

    from sfxero_pipelines.cli.approve_cmd import run_approve

    _invoice_pair(sworld, sf_deleted=True, status="AUTHORISED")
    monkeypatch.setenv("SFXERO_STAGING_URL", sworld.db.url)
    monkeypatch.chdir(sworld.db.url.removeprefix("sqlite:///").rsplit("/", 1)[0])  # no sfxero.yaml here: defaults
    monkeypatch.delenv("SFXERO_CONFIG", raising=False)
    with sworld.db.begin() as conn:
        built = build_family(conn, parse_config({}), "invoices").rows
        write_plan(conn, built)
    [row_id] = waiting_rows(built)
    with pytest.raises(click.UsageError, match="row-0000000000000000 is not a row held for approval"):
        run_approve(("row-0000000000000000",))
    assert run_approve((row_id,)) == 0 and run_approve((row_id,)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"approved: {row_id} (R2 void AUTHORISED Xero invoice INV-9)"
    assert out[2] == f"already approved: {row_id} (R2 void AUTHORISED Xero invoice INV-9)"
    with sworld.db.engine.connect() as conn:
        assert approvals.approval_of(conn, approvals.ROW, row_id)["approved_by"].endswith("(sfxero approve)")
