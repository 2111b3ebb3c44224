"""Write-backs: Salesforce fields set from Xero's answer to a create (ids, numbers, status, balances).

A create row's diff carries `write_back: {"sobject", "id", "fields": {SF field: path}}` where a path
is a dotted path into the created record (`InvoiceID`, `Balances.AccountsReceivable.Outstanding`)
or `{"path": …, "default": …}` for a value Xero's answer may leave out.
"""

from __future__ import annotations


def resolve(record: dict, spec) -> tuple[bool, object]:
    path, default, has_default = (spec, None, False) if isinstance(spec, str) else \
        (spec.get("path", ""), spec.get("default"), "default" in spec)
    value: object = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return (True, default) if has_default else (False, None)
        value = value[part]
    return True, value


def values(write_back: dict | None, record: dict) -> dict:
    """SF field → value for the fields the answer (or a default) provides."""
    out = {}
    for field, spec in ((write_back or {}).get("fields") or {}).items():
        found, value = resolve(record, spec)
        if found:
            out[field] = value
    return out
