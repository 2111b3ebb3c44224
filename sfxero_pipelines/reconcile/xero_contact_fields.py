"""A Xero Contact's typed arrays as plain field names, read and written one way for R1 and the declared
recipes into Contacts (docs/architecture.md §5.3): `Phones.<TYPE>` (DEFAULT, MOBILE, FAX, DDI) is that
phone's whole number, `Addresses.<TYPE>.<Part>` (POBOX, STREET) one part of that address. Xero keeps one
element per type; a write sends the elements of the types it changes, an address whole (Xero replaces
the address of that type, so the parts not changed come from the current record).
"""

from __future__ import annotations

from ..config.mapping import typed_element


def xero_path(raw: dict, xero_field: str):
    """A field's value in a staged Contact's raw record (what `contacts._xero_expr` reads in SQL on PostgreSQL)."""
    parts = xero_field.split(".")
    if parts[0] == "Phones":
        for p in raw.get("Phones") or []:
            if p.get("PhoneType") == parts[1] and p.get("PhoneNumber"):
                cc = p.get("PhoneCountryCode") or ""
                return " ".join(x for x in ("+" + cc if cc else "", p.get("PhoneAreaCode") or "", p["PhoneNumber"]) if x)
        return None
    if parts[0] == "Addresses":
        for a in raw.get("Addresses") or []:
            if a.get("AddressType") == parts[1]:
                v = a.get(parts[2])
                return None if v is None else str(v)
        return None
    v = raw.get(xero_field)
    return None if v is None else str(v)


def xero_payload(fields: dict[str, object], current: dict[str, object] | None = None) -> dict:
    """Plan field names → Xero Contact API body. Addresses are sent whole (Xero replaces the
    address of that type), so unchanged parts come from `current`."""
    body: dict = {}
    phones: dict[str, dict] = {}
    addresses: dict[str, dict] = {}
    for key, value in sorted(fields.items()):
        parts = key.split(".")
        if parts[0] == "Phones":
            phones[parts[1]] = {"PhoneType": parts[1], "PhoneNumber": value or ""}
        elif parts[0] == "Addresses":
            addresses.setdefault(parts[1], {"AddressType": parts[1]})[parts[2]] = value or ""
        else:
            body[key] = value
    for atype, addr in addresses.items():
        for key, value in sorted((current or {}).items()):
            p = key.split(".")
            if p[0] == "Addresses" and p[1] == atype and p[2] not in addr and value is not None:
                addr[p[2]] = value
    if phones:
        body["Phones"] = [phones[k] for k in sorted(phones)]
    if addresses:
        body["Addresses"] = [addresses[k] for k in sorted(addresses)]
    return body


def split_typed(flat: dict[str, object]) -> tuple[dict[str, object], dict[str, object]]:
    """(plain fields, typed-array fields) of a row's values."""
    typed = {k: v for k, v in flat.items() if typed_element(k)}
    return {k: v for k, v in flat.items() if k not in typed}, typed
