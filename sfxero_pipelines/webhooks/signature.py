"""Xero's webhook signature: `x-xero-signature` = base64(HMAC-SHA256(signing key as UTF-8, raw body)).

Always over the raw bytes received: Xero's intent-to-receive bodies are irregularly spaced, so a
re-serialised payload would not verify. Compared in constant time so the answer leaks nothing about
how much of a forged signature was right.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def xero_signature(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def verify_xero_signature(key: str, body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(xero_signature(key, body).encode("ascii"), signature.strip().encode("utf-8"))
