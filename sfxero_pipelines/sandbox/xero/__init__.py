"""Emulated xero (placeholder until its issue lands: serves only the introspection routes)."""

from __future__ import annotations

from ..emulator import Emulator


class XeroEmulator(Emulator):
    system = "xero"

    def __init__(self, *, world, credentials, faults=None, clock=None, fixtures=None, **_settings) -> None:
        super().__init__(faults=faults, clock=clock)

    def api_routes(self):
        return []

    def records(self, object_name):
        return None

    def seed_data(self) -> None:
        pass

    def load_fixtures(self, fixtures: dict) -> None:
        pass
