"""`sfxero sync`: run stages headless as real Dagster runs on the persisted instance."""

from __future__ import annotations

from . import NotAvailableYet


def run_sync(stage: str) -> int:
    raise NotAvailableYet(f"sync --stage {stage}")
