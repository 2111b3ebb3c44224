"""A fingerprint of everything both emulators seed for (seed, size) on a pinned clock: per collection,
the record count and a SHA-256 of the records (sorted, canonical JSON). Seeding may get faster; what
it seeds must not change, and this is how a test sees it."""

from __future__ import annotations

import hashlib
import json

from sfxero_pipelines.sandbox.clock import Clock
from sfxero_pipelines.sandbox.runner import SandboxCredentials
from sfxero_pipelines.sandbox.salesforce import SalesforceEmulator
from sfxero_pipelines.sandbox.salesforce.schema import OBJECTS
from sfxero_pipelines.sandbox.world import World
from sfxero_pipelines.sandbox.xero import XeroEmulator
from sfxero_pipelines.sandbox.xero.store import COLLECTIONS

#: 2026-06-01T12:00:00Z: seeded dates are laid out from the clock's day.
PINNED_EPOCH_S = 1_780_315_200.0


def pinned_clock() -> Clock:
    clock = Clock()
    clock.freeze()
    clock.advance(PINNED_EPOCH_S - clock.time())
    return clock


def _digest(records: list[dict]) -> tuple[int, str]:
    rows = sorted((json.dumps(r, sort_keys=True, default=str) for r in records))
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()


def seed_fingerprint(seed: int, size: int | str) -> dict[str, tuple[int, str]]:
    world, credentials = World(seed, size), SandboxCredentials()
    sf = SalesforceEmulator(world=world, credentials=credentials, clock=pinned_clock())
    xero = XeroEmulator(world=world, credentials=credentials, clock=pinned_clock())
    out = {f"sf.{name}": _digest(sf.records(name)) for name in OBJECTS}
    for name in (*COLLECTIONS, "Journals", "Organisation"):
        out[f"xero.{name}"] = _digest(xero.records(name))
    return out


if __name__ == "__main__":
    import sys
    print(json.dumps(seed_fingerprint(int(sys.argv[1]), sys.argv[2]), indent=1))
