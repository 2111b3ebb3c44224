"""Parse an API page and serialize each record for `raw`, with orjson.

A page is parsed once, whole: orjson reads a Salesforce page in less than half of what the standard
library's scanner took, and serializes each record again (the `raw` text) in a little more. That was a third of a page's CPU, all of it holding the interpreter lock.

Contract:
- `loads` is `json.loads` for every text either API sends. What orjson refuses (NaN, Infinity, a
  lone surrogate, a byte-order mark) is read by `json.loads`, with its own error if it fails too.
  orjson reads an integer beyond 64 bits as a float; neither API sends one (Salesforce numbers have
  at most 18 digits, Xero's are decimals).
- `record_texts` gives each record's JSON text, the same JSON value as the record (compact,
  non-ASCII kept as UTF-8). A record orjson cannot serialize (a huge integer `json.loads` read) is
  serialized by `json.dumps`.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(body: bytes | str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, or a non-JSON value
        return json.dumps(value)


def record_texts(records: list) -> list[str]:
    try:
        return [orjson.dumps(r).decode() for r in records]
    except TypeError:
        return [dumps(r) for r in records]
