"""Parse a page's JSON and keep each record's own text, in one pass with the C scanner.

Staging keeps every record whole in `raw`. Serializing each parsed record again cost about as much
as parsing the page; the text is already there. Both functions raise ValueError (or return None)
for anything that is not the expected shape, and the caller then takes `json.loads` and its errors.
"""

from __future__ import annotations

import json
import re

_WS = re.compile(r"[ \t\n\r]*")
_SEPARATOR = re.compile(r"[ \t\n\r]*(,|\])[ \t\n\r]*")
_SCAN = json.JSONDecoder().scan_once  # the C scanner behind raw_decode, without its Python frame


def _value(text: str, i: int):
    try:
        return _SCAN(text, i)
    except StopIteration as exc:
        raise ValueError(f"expecting a value at {exc.value}") from None


def _array(text: str, i: int) -> tuple[list, list[str], int]:
    """The array starting at text[i] ('['): its elements, their texts, and the index after it."""
    records: list = []
    raws: list[str] = []
    i = _WS.match(text, i + 1).end()
    if text[i:i + 1] == "]":
        return records, raws, i + 1
    add, add_raw, separator = records.append, raws.append, _SEPARATOR.match
    while True:
        value, j = _value(text, i)
        add(value)
        add_raw(text[i:j])
        if text[j:j + 2] == ",{":  # compact, between two objects: the usual case
            i = j + 1
            continue
        m = separator(text, j)
        if m is None:
            raise ValueError(f"expecting ',' or ']' at {j}")
        if m.group(1) == "]":
            return records, raws, j + m.group(0).index("]") + 1
        i = m.end()


def split_json_array(text: str) -> tuple[list, list[str]]:
    """The elements of a JSON array text, parsed, and each one's own text."""
    i = _WS.match(text).end()
    if text[i:i + 1] != "[":
        raise ValueError("not a JSON array")
    records, raws, end = _array(text, i)
    if text[end:].strip(" \t\n\r"):
        raise ValueError("extra data after the JSON array")
    return records, raws


def members_before(text: str, key: str) -> dict | None:
    """The members of a JSON object text that come before `key` (an API response's envelope, read
    without its records); None when the text does not start as an object or has no `key`."""
    i = _WS.match(text).end()
    if text[i:i + 1] != "{":
        return None
    members: dict = {}
    i = _WS.match(text, i + 1).end()
    try:
        while text[i:i + 1] == '"':
            name, i = _value(text, i)
            i = _WS.match(text, i).end()
            if text[i:i + 1] != ":":
                return None
            if name == key:
                return members
            members[name], i = _value(text, _WS.match(text, i + 1).end())
            i = _WS.match(text, i).end()
            if text[i:i + 1] != ",":
                return None
            i = _WS.match(text, i + 1).end()
    except ValueError:
        return None
    return None


def split_member_array(text: str, key: str) -> tuple[dict, list, list[str]] | None:
    """A JSON object text (an API response) as (its other members, the elements of the array under
    `key`, each element's text); no `key` gives no elements. None when the text is not an object
    or `key` holds something other than an array (or holds twice)."""
    i = _WS.match(text).end()
    if text[i:i + 1] != "{":
        return None
    members: dict = {}
    records: list | None = None
    raws: list[str] = []
    i = _WS.match(text, i + 1).end()
    if text[i:i + 1] == "}":
        i += 1
    else:
        while True:
            if text[i:i + 1] != '"':
                return None
            name, i = _value(text, i)
            i = _WS.match(text, i).end()
            if text[i:i + 1] != ":":
                return None
            i = _WS.match(text, i + 1).end()
            if name == key:
                if records is not None or text[i:i + 1] != "[":
                    return None
                records, raws, i = _array(text, i)
            else:
                members[name], i = _value(text, i)
            i = _WS.match(text, i).end()
            if text[i:i + 1] == ",":
                i = _WS.match(text, i + 1).end()
                continue
            if text[i:i + 1] == "}":
                i += 1
                break
            return None
    if text[i:].strip(" \t\n\r"):
        return None
    return members, records or [], raws
