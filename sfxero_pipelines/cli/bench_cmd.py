"""`sfxero bench`: measure a stage against its floor (SPEC §9)."""

from __future__ import annotations

from . import NotAvailableYet


def run_bench(which: str, *, size: int, staging_url: str | None, as_json: bool) -> int:
    raise NotAvailableYet(f"bench {which}")
