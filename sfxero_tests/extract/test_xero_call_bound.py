"""The full-read call bound of each Xero collection, as docs/architecture.md §4.1 states it: a pageSize
of 1,000 for the paged collections, Quotes' and Journals' fixed 100, one call for an unpaged one."""

from __future__ import annotations

import pytest

from sfxero_pipelines.extract.xero import call_bound
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS


@pytest.mark.parametrize("key, rows, bound", [
    ("invoices", 0, 1), ("invoices", 1000, 2), ("invoices", 1001, 3), ("bills", 2500, 4),
    ("purchase_orders", 999, 2), ("manual_journals", 36, 2), ("overpayments", 3000, 4),
    ("quotes", 100, 2), ("quotes", 250, 4),        # 100 a page whatever pageSize is asked
    ("journals", 0, 1), ("journals", 100, 2), ("journals", 30_001, 302),  # 100 after each offset
    ("accounts", 18, 1), ("bank_transfers", 5_000, 1), ("contact_groups", 3, 1), ("tracking_categories", 2, 1),
])
def test_call_bound_per_collection(key, rows, bound):
    assert call_bound(XERO_OBJECTS[key], rows, page_size=1000) == bound


def test_a_smaller_page_size_raises_the_bound_of_pageable_collections_only():
    assert call_bound(XERO_OBJECTS["contacts"], 250, page_size=100) == 4
    assert call_bound(XERO_OBJECTS["quotes"], 250, page_size=10) == 4
    assert call_bound(XERO_OBJECTS["journals"], 250, page_size=10) == 4
