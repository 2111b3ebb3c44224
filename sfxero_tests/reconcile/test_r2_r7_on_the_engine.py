"""R2 and R7 on the declared-recipe engine: their declarations (config/invoice_declared.py) planned on
their own read and match, with their code for what no declaration expresses (the lines, the amount as
Xero rounds it, an approved invoice, the create's body) at the engine's extension point
(`declared.DocumentCode`). Their rows keep the ledger keys the code planner gave them, so a sync that
converged before the move has nothing to write after it. Staged fixtures on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.config.declared import DeclaredRecipe
from sfxero_pipelines.config.invoice_declared import invoice_as_declared
from sfxero_pipelines.push.rows import PushRow
from sfxero_pipelines.reconcile import declared, plan
from sfxero_pipelines.reconcile.build import build_plan
from sfxero_pipelines.reconcile.match import MatchResult

from .test_invoices_plan import won
from ..test_cli import sfxero

#: The ledger keys and reasons the code planner (reconcile/invoices.py at 77eb1bc, the last commit before
#: the move) gave the rows of `_world`, got by running that commit's code on it: the same on both backends.
BEFORE_THE_MOVE = {
    "R2 sf_to_xero conflict 006000000000000K01": (
        "sfx-d4987b0368dc0ba918505be366d41a8bfab35644",
        "invoice is AUTHORISED in Xero and can no longer be edited; amount or currency differs — raise a credit note or correct by hand"),
    "R2 sf_to_xero conflict 006000000000000M01": (
        "sfx-0fb70a577f77dc0d8d99f7b9f9f1165a131a1242",
        "ambiguous reference match: Xero invoices x-m1, x-m2"),
    "R2 sf_to_xero create 006000000000000C01": (
        "sfx-b23be59acc52de700e01b8d8e1b732b2ed73d061",
        "won Opportunity has no Xero invoice (link, Reference)"),
    "R2 sf_to_xero create 006000000000000C02": (
        "sfx-90b514ad3338b9724524b099ee438004ecd5eb7f",
        "won Opportunity has no Xero invoice (link, Reference)"),
    "R2 sf_to_xero held 006000000000000B01": (
        "sfx-fa79a51b8d9709a59a8a5051a655e476b139bcc0",
        "linked Xero invoice x-gone not found in staging"),
    "R2 sf_to_xero held 006000000000000H01": (
        "sfx-8f33e5d7b11c38e723fc91d0999aba0ac8079b20",
        "line 00k000000000000H01: ProductCode 'ODD' has no Xero Item"),
    "R2 sf_to_xero held 006000000000000H02": (
        "sfx-9641c905a734c1721763af8cc176bd8bfa978f1e",
        "won Opportunity has no line items to invoice"),
    "R2 sf_to_xero skip 006000000000000S01": (
        "sfx-a6ad3d83c558c77f39070e012506936c8f4d73ef",
        "in sync (matched by reference)"),
    "R2 sf_to_xero update 006000000000000U01": (
        "sfx-ab25b875ea5bf62d4a722871c013de221cf61274",
        "amount or currency changed; invoice is still editable"),
    "R2 xero_to_sf update x-k1": (
        "sfx-03c2b84e23bcabf3c1c83204eb20986b8c615109",
        "write the Xero invoice id/number back to the Opportunity"),
    "R2 xero_to_sf update x-s1": (
        "sfx-2553f89ec48c1d5b8a3c7e68d2f0cb009d0fb751",
        "write the Xero invoice id/number back to the Opportunity"),
    "R2 xero_to_sf update x-u1": (
        "sfx-7f75d17d698b7bc096614472bbb3abc693ea40bf",
        "write the Xero invoice id/number back to the Opportunity"),
    "R7 sf_to_xero create 801000000000000R01": (
        "sfx-8b380330d72542c59801a5a32efcc8a4200b78fb",
        "activated Order has no Xero invoice (link, Reference)"),
}


def _world(world) -> None:
    """One row of each kind R2 and R7 plan, on fixed ids (a key hashes the ids)."""
    world.xero("Items", Code="PRO", Name="Pro", SalesDetails={"AccountCode": "200", "TaxType": "OUTPUT2"})
    pro = world.sf("Product2", Name="Pro", ProductCode="PRO", Id="01t000000000000P01")
    odd = world.sf("Product2", Name="Odd", ProductCode="ODD", Id="01t000000000000P02")
    world.xero("Contacts", ContactID="c1", Name="Acme", ContactStatus="ACTIVE")
    a = world.sf("Account", Name="Acme", Id="001000000000000A01")
    world.link("R1", a, "c1")
    b = world.sf("Account", Name="Beta", Id="001000000000000A02")  # no Xero Contact yet: by ContactNumber

    def line(o, product=pro, price=100):
        world.sf("OpportunityLineItem", OpportunityId=o, Product2Id=product, Quantity=1, UnitPrice=price, SortOrder="1",
                 Id="00k" + o[3:])

    def invoice(x, o, status="DRAFT", sub_total=100.0, **kw):
        world.xero("Invoices", InvoiceID=x, Type="ACCREC", Reference=o, Contact={"ContactID": "c1"}, Status=status,
                   SubTotal=sub_total, Total=sub_total * 1.2, CurrencyCode="GBP", **kw)

    for o, account in (("006000000000000C01", a), ("006000000000000C02", b)):  # creates
        won(world, account, amount=100.0, Id=o)
        line(o)
    won(world, a, amount=100.0, Id="006000000000000H01")  # held: a line without an Item
    line("006000000000000H01", product=odd)
    won(world, a, amount=100.0, Id="006000000000000H02")  # held: no lines
    o = won(world, a, amount=150.0, Id="006000000000000U01", Xero_Invoice_Id__c="x-u1")  # update: DRAFT differs
    line(o, price=150)
    world.link("R2", o, "x-u1")
    invoice("x-u1", o, InvoiceNumber="INV-U1")
    o = won(world, a, amount=150.0, Id="006000000000000K01", Xero_Invoice_Id__c="x-k1")  # conflict: approved
    line(o, price=150)
    world.link("R2", o, "x-k1")
    invoice("x-k1", o, status="AUTHORISED", InvoiceNumber="INV-K1")
    o = won(world, a, amount=100.0, Id="006000000000000S01")  # skip, new link, id and number written back
    line(o)
    invoice("x-s1", o, InvoiceNumber="INV-S1")
    o = won(world, a, amount=100.0, Id="006000000000000B01")  # a broken link
    world.link("R2", o, "x-gone")
    o = won(world, a, amount=100.0, Id="006000000000000M01")  # two invoices by Reference: ambiguous
    invoice("x-m1", o)
    invoice("x-m2", o)
    o = world.sf("Order", AccountId=a, Status="Activated", EffectiveDate="2025-02-10", TotalAmount=100.0,
                 CurrencyIsoCode="GBP", Id="801000000000000R01")  # R7: a create
    world.sf("OrderItem", OrderId=o, Product2Id=pro, Quantity=1, UnitPrice=100, OrderItemNumber="1",
             Id="802000000000000R01")


def _rows(world, cfg: dict | None = None) -> list[tuple[PushRow, str]]:
    """R2's and R7's rows of the invoices family (R7 on), each with its reason."""
    with world.db.engine.connect() as conn:
        cfg = {"recipes": {"R7": {"enabled": True}}} if cfg is None else cfg
        rows = build_plan(conn, parse_config(cfg), families=("invoices",)).rows
    return [(PushRow("", 0, r["recipe"], r["direction"], r["action"], r["source_id"], r["target_id"],
                     json.loads(r["diff"]) if isinstance(r["diff"], str) else (r["diff"] or {})), r["reason"])
            for r in rows.to_dict("records") if r["recipe"] in ("R2", "R7")]


def test_r2s_and_r7s_rows_keep_their_ledger_keys_and_reasons_from_before_the_move(world):
    _world(world)
    got = {f"{r.recipe} {r.direction} {r.action} {r.source_id}": (r.key, why) for r, why in _rows(world)}
    assert got == BEFORE_THE_MOVE


def test_r2_with_r7_off_plans_no_r7_row_and_r7s_settings_reach_its_rows(world):
    _world(world)
    assert {r.recipe for r, _ in _rows(world, {})} == {"R2"}
    [(create, _)] = [(r, why) for r, why in _rows(world, {"recipes": {"R7": {"enabled": True, "status": "AUTHORISED"}}})
                     if r.recipe == "R7"]
    assert create.payload["Status"] == "AUTHORISED" and create.payload["Reference"] == "801000000000000R01"


# ---- the extension point, on hand-made frames (pure logic: no database) --------------------------

def _frame(**cols) -> pd.DataFrame:
    return pd.DataFrame(cols, dtype="object")


class _Code:
    """A recipe's code at the extension point: decides the pair `s2` (its own update), creates `s9`."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def decide(self, ok: pd.DataFrame) -> declared.Decided:
        self.seen = ok.sf_id.tolist()
        rows = [i for i, s in enumerate(ok.sf_id) if s == "s2"]
        return {"update": (rows, [{"fields": {"Total": {"old": 1, "new": 2}}}], ["the code's reason"])}

    def creates(self, unmatched: pd.Series) -> pd.DataFrame:
        return plan.rows("RX", "sf_to_xero", "create", list(unmatched), None, None, "the code's create")


def _pass(code) -> tuple[declared.XeroPass, DeclaredRecipe]:
    r = DeclaredRecipe.model_validate({"from": {"salesforce": "Opportunity"}, "to": {"xero": "Invoices"},
                                       "match": ["link", {"Reference": "Id"}],
                                       "fields": {"Reference": {"from": "Id", "create_only": True}},
                                       "write_back": {"Xero_Invoice_Id__c": "InvoiceID"}}, context={"builtin": True})
    src = _frame(id=["s1", "s2", "s3", "s4", "s9"], modified_at=[None] * 5, invalid_reason=[None] * 5,
                 xero_invoice_id__c=["x1", None, None, None, None])
    xr = _frame(id=["x1", "x2", "x3"], modified_at=[None] * 3, invalid_reason=[None] * 3, **{"x:InvoiceID": ["x1", "x2", "x3"]})
    result = MatchResult(
        pairs=_frame(sf_id=["s1", "s2", "s3"], xero_id=["x1", "x2", "x3"], match=["link", "reference", "reference"],
                     link=[False, True, True]),
        unmatched=pd.Series(["s9"], dtype="object"),
        broken=_frame(sf_id=["s4"], xero_id=["x-gone"], reason=["linked Xero invoice x-gone not found in staging"]),
        conflicts=_frame(sf_id=[], rule=[], candidates=[], other_sf=[]), by_rule={"link": 1, "reference": 2})
    p = declared.XeroPass(src, [], xr, result, {},
                          checks=[("sf_id", {"s3": "Opportunity s3 held at check"}.get)], documents=code)
    return p, r


def test_the_engine_plans_what_a_recipes_code_decides_and_the_rest_itself():
    from sfxero_pipelines.config.wording import Wording

    code = _Code()
    p, r = _pass(code)
    rows = declared.plan_xero_pass(None, parse_config({}), "RX", r, Wording("RX", marks=False, broken_link_match=False),
                                   p).rows
    got = {(a, s): (t, why) for a, s, t, why in zip(rows.action, rows.source_id, rows.target_id, rows.reason)}
    assert code.seen == ["s1", "s2"], "the code sees the compared pairs only, not the held one"
    assert got == {
        ("update", "s2"): ("x2", "the code's reason"),                 # the code's
        ("skip", "s1"): ("x1", "in sync (matched by link)"),           # the engine's: nothing declared differs
        ("held", "s3"): ("x3", "Opportunity s3 held at check"),        # the pass's own check
        ("held", "s4"): ("x-gone", "linked Xero invoice x-gone not found in staging"),
        ("create", "s9"): (None, "the code's create"),
        ("update", "x2"): ("s2", "1 Xero-side field(s) to bring back"),  # the id written back, by the engine
    }
    broken = json.loads(rows["diff"][(rows.source_id == "s4").to_numpy()].iloc[0] or "null")
    assert broken is None, "broken_link_match=False: a broken link's row names no match (R2's never did)"


def test_a_teams_recipe_cannot_write_invoices_only_a_builtins_code_does():
    data = invoice_as_declared("R2", parse_config({}).recipes.R2)
    with pytest.raises(ValueError, match="Contacts, Items, Quotes; not Invoices"):
        DeclaredRecipe.model_validate(data)
    with pytest.raises(Exception, match="not Invoices"):
        parse_config({"recipes": {"my_invoices": data}})
    assert DeclaredRecipe.model_validate(data, context={"builtin": True}).to.xero == "Invoices"


def test_recipes_show_prints_r2s_declaration_and_what_its_code_does(tmp_path):
    (tmp_path / "sfxero.yaml").write_text(yaml.safe_dump({"recipes": {"R2": {"line_amount_types": "Inclusive",
                                                                             "deletes": {"xero": "archive"}}}}))
    res = sfxero("recipes", "show", "R2", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    shown = yaml.safe_load(res.stdout)["recipes"]["R2"]
    assert shown["from"] == {"salesforce": "Opportunity", "where": "IsWon = true"} and shown["to"] == {"xero": "Invoices"}
    assert shown["match"] == ["link", {"Reference": "Id"}]
    # Inclusive lines: the amount is compared with the invoice Total.
    assert shown["fields"]["Total"] == {"from": "Amount"} and "SubTotal" not in shown["fields"]
    assert shown["write_back"] == {"Xero_Invoice_Id__c": "InvoiceID", "Xero_Invoice_Number__c": "InvoiceNumber"}
    assert set(shown["code"]) == {"LineItems", "compare", "approved", "create"} and shown["due_days"] == 30
    # Both sides of its delete policies, R2's default filled in for the one not set.
    assert shown["deletes"] == {"salesforce": "hold_for_approval", "xero": "archive", "posted": "hold_for_approval"}
    res = sfxero("recipes", "show", "R7", cwd=tmp_path)
    assert yaml.safe_load(res.stdout)["recipes"]["R7"]["from"]["salesforce"] == "Order"
