"""The mass-change guard's rules (`push/guard.py`, pure logic) on plans built the way reconcile builds
them: deletes over `max_deletes`, an amount shift over `max_amount_shift` (share and absolute), the
record floor that lets small plans through, and what counts as a linked record."""

from __future__ import annotations

import pytest

from sfxero_pipelines.config import MappingConfig, PushConfig, parse_config
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.push.guard import GuardInputs, assess, mapped_fields
from sfxero_pipelines.reconcile import plan as P

INPUTS = GuardInputs(mapped=mapped_fields(MappingConfig()), invoiced={"GBP": 100_000.0, "USD": 50_000.0},
                     invoice_currency={f"inv{i}": "GBP" for i in range(100)})


def _contacts(updates: int, in_sync: int, match: str = "link") -> list:
    ids = [f"a{i}" for i in range(updates + in_sync)]
    return [
        P.rows("R1", "sf_to_xero", "update", ids[:updates], [f"c{i}" for i in range(updates)],
               [{"match": match, "link": match != "link", "target_object": "Contact",
                 "fields": {"Name": {"old": "x", "new": "y"}}, "payload": {"Name": "y"}}] * updates, "differs"),
        P.rows("R1", "sf_to_xero", "skip", ids[updates:], [f"c{i}" for i in range(updates, updates + in_sync)],
               None, "in sync"),
    ]


def _invoices(n: int, old: float, new: float, in_sync: int = 0) -> list:
    return [
        P.rows("R2", "sf_to_xero", "update", [f"o{i}" for i in range(n)], [f"inv{i}" for i in range(n)],
               [{"match": "link", "target_object": "Invoice", "fields": {"SubTotal": {"old": old, "new": new}},
                 "payload": {"InvoiceID": f"inv{i}"}} for i in range(n)], "amount changed"),
        P.rows("R2", "sf_to_xero", "skip", [f"s{i}" for i in range(in_sync)], [f"inv{50 + i}" for i in range(in_sync)],
               None, "in sync"),
    ]


def _verdicts(parts: list, **cfg) -> dict:
    return assess(P.finalize(parts), PushConfig(**cfg), INPUTS)


def test_rewriting_every_linked_contact_is_held_with_its_figures():
    v = _verdicts(_contacts(updates=30, in_sync=10))["R1"]
    assert v.blocked
    assert v.figures["updates"] == 30 and v.figures["linked"] == 40 and v.figures["change_share"] == 0.75
    assert "updates 30 of 40 linked records (75%)" in v.line() and v.line().startswith(v.plan_id)


def test_a_plan_within_the_share_passes():
    assert not _verdicts(_contacts(updates=30, in_sync=170))["R1"].blocked  # 15%


def test_small_plans_pass_whatever_their_share():
    assert not _verdicts(_contacts(updates=19, in_sync=0))["R1"].blocked
    assert _verdicts(_contacts(updates=19, in_sync=0), guard_min_records=5)["R1"].blocked


def test_new_matches_of_a_first_sync_are_not_a_mass_change():
    # Matched by name for the first time: the push makes the link; nothing linked is rewritten.
    assert not _verdicts(_contacts(updates=40, in_sync=0, match="name"))["R1"].blocked


def test_updates_of_unmapped_fields_do_not_count():
    rows = P.rows("R1", "sf_to_xero", "update", [f"a{i}" for i in range(30)], [f"c{i}" for i in range(30)],
                  [{"match": "link", "fields": {"Website": {"old": 1, "new": 2}}}] * 30, "x")
    assert _verdicts([rows])["R1"].figures["updates"] == 0


def test_deletes_over_max_deletes_are_held_even_in_a_small_plan():
    rows = P.rows("R6", "xero_to_sf", "delete", ["x1", "x2"], ["m1", "m2"],
                  [{"target_object": "CampaignMember", "payload": {"CampaignMember": {"Id": "m1"}}}] * 2, "paid")
    v = _verdicts([rows])["R6"]
    assert v.blocked and v.figures["deletes"] == 2
    assert "2 delete(s)/void(s)/archive(s), more than push.max_deletes 0" in v.line()
    assert not _verdicts([rows], max_deletes=2)["R6"].blocked


def test_an_update_that_voids_counts_as_a_delete():
    rows = P.rows("R2", "sf_to_xero", "update", ["o1"], ["inv1"],
                  [{"match": "link", "fields": {"Status": {"old": "DRAFT", "new": "VOIDED"}},
                    "payload": {"InvoiceID": "inv1", "Status": "VOIDED"}}], "voided")
    assert _verdicts([rows])["R2"].figures["deletes"] == 1


def test_amount_shift_over_the_share_is_held():
    # 25 invoices each +1,000: +25,000 of 100,000 GBP invoiced (25%); 25 of 100 linked (25%) too.
    v = _verdicts(_invoices(25, 1000.0, 2000.0, in_sync=75), max_change_share=1.0)["R2"]
    assert v.blocked
    assert v.figures["amount_shift"]["GBP"] == {"invoiced": 100_000.0, "shift": 25_000.0, "share": 0.25}
    assert "moves the total invoiced in GBP by +25,000.00 of 100,000.00 (25%)" in v.line()
    assert not _verdicts(_invoices(25, 1000.0, 1100.0, in_sync=75), max_change_share=1.0)["R2"].blocked


def test_amount_shift_as_an_absolute_figure():
    parts = _invoices(25, 1000.0, 1100.0, in_sync=75)  # +2,500 GBP
    assert _verdicts(parts, max_change_share=1.0, max_amount_shift=2000)["R2"].blocked
    assert not _verdicts(parts, max_change_share=1.0, max_amount_shift=3000)["R2"].blocked


def test_bad_guard_settings_name_the_key():
    with pytest.raises(ConfigError, match=r"push\.max_change_share"):
        parse_config({"push": {"max_change_share": 0}})
    with pytest.raises(ConfigError, match=r"push\.max_deletes"):
        parse_config({"push": {"max_deletes": -1}})
    with pytest.raises(ConfigError, match=r"push\.max_amount_shif: unknown key"):
        parse_config({"push": {"max_amount_shif": 0.1}})
