"""What the sandbox seeds for a fixed (seed, size) is fixed: record counts and a checksum of every
record of every Salesforce object and Xero collection, on a pinned clock. The expected fingerprint in
`data/seed_fingerprint_42_300.json` was taken from the seeding code before start-up was made faster
(commit f92ebb5); a speed-up that changes a single value fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sfxero_pipelines.sandbox.world import World

from .sandbox_seed_fingerprint import seed_fingerprint

EXPECTED = Path(__file__).parent / "data" / "seed_fingerprint_42_300.json"


def test_seeded_records_are_unchanged_for_a_fixed_seed():
    expected = {key: tuple(value) for key, value in json.loads(EXPECTED.read_text()).items()}
    got = seed_fingerprint(42, 300)
    assert {k: v[0] for k, v in got.items()} == {k: v[0] for k, v in expected.items()}  # counts first: a clearer diff
    assert got == expected


def test_a_forgotten_company_is_generated_again_identically():
    world = World(42, 300)
    before = [world.company(i) for i in (0, 57, 299)]
    world.forget_companies()
    assert [world.company(i) for i in (0, 57, 299)] == before
    assert World(42, 300).company(57) == before[1]


NEW_COLLECTIONS = ("Quotes", "PurchaseOrders", "Overpayments", "Prepayments", "ManualJournals", "BankTransfers",
                   "ContactGroups", "TrackingCategories", "Users")


def _seeded_xero(size) -> dict[str, list[dict]]:
    from sfxero_pipelines.sandbox.runner import SandboxCredentials
    from sfxero_pipelines.sandbox.xero import XeroEmulator

    xero = XeroEmulator(world=World(42, size), credentials=SandboxCredentials())
    return {name: xero.records(name) for name in (*NEW_COLLECTIONS, "Invoices", "Journals")}


@pytest.mark.parametrize("size", ["small", "medium", pytest.param("large", marks=pytest.mark.slow)])
def test_every_new_xero_collection_is_seeded_at_every_named_size(size):
    held = _seeded_xero(size)
    assert all(held[name] for name in NEW_COLLECTIONS), {name: len(held[name]) for name in NEW_COLLECTIONS}
    numbers = [j["JournalNumber"] for j in held["Journals"]]
    assert numbers == list(range(1, len(numbers) + 1))
    invoice_numbers = {i["InvoiceNumber"] for i in held["Invoices"]}
    assert any(q["Status"] == "INVOICED" and q["Reference"] in invoice_numbers for q in held["Quotes"])
    assert any(p["Status"] == "BILLED" and p["Reference"] in invoice_numbers for p in held["PurchaseOrders"])
    months = {xero_month(m["Date"]) for m in held["ManualJournals"] if m["Status"] == "POSTED"}
    assert len(months) >= 12


@pytest.mark.parametrize("size", ["small", "medium", pytest.param("large", marks=pytest.mark.slow)])
def test_an_overpayment_is_allocated_to_an_invoice_it_names(size):
    held = _seeded_xero(size)
    invoices = {i["InvoiceID"]: i for i in held["Invoices"]}
    allocated = [o for o in held["Overpayments"] if o["Allocations"]]
    assert allocated
    for over in allocated:
        invoice = invoices[over["Allocations"][0]["Invoice"]["InvoiceID"]]
        assert over["OverpaymentID"] in {o["OverpaymentID"] for o in invoice["Overpayments"]}
        assert invoice["AmountDue"] == round(invoice["Total"] - invoice["AmountPaid"] - invoice["AmountCredited"], 2)
        assert invoice["AmountCredited"] >= over["Allocations"][0]["Amount"] > 0



def xero_month(ms_date: str) -> tuple[int, int]:
    """`/Date(1718841600000+0000)/` -> (year, month), read as the emulator reads it."""
    import datetime as dt

    from sfxero_pipelines.sandbox.xero.wire import parse_date_ms
    day = dt.datetime.fromtimestamp(parse_date_ms(ms_date) / 1000, dt.timezone.utc)
    return day.year, day.month
