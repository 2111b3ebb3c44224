"""Emulated Salesforce org (docs/sandbox.md): see `app.py` for the wire contract."""

from __future__ import annotations

from .app import SalesforceEmulator

__all__ = ["SalesforceEmulator"]
