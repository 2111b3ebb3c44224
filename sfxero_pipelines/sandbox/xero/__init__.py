"""Emulated Xero organisation (docs/sandbox.md): identity, Accounting API, rate limits, webhooks, seed data."""

from __future__ import annotations

from .app import XeroEmulator

__all__ = ["XeroEmulator"]
