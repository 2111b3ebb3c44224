"""Writes sfxero_pipelines/config/xero_fields.json from Xero's OpenAPI spec (xero_accounting.yaml).

Declared recipes (config/declared.py) name Xero fields by path (`SalesDetails.UnitPrice`); load-time
validation checks each path and its type against this file, so the package does not carry the 2 MB
spec. One entry per collection sfxero stages: its record schema's scalar fields and the scalar fields
of nested objects (two levels down), each with its kind (text, number, integer, bool, date, datetime,
array, object) and, for enums, the allowed values. An array of records (LineItems, Phones) is an
`array` with its records' scalar and array fields under `items`: a declaration maps into one through
`lines:` (a line's `Tracking` array through `Tracking.<Category>` fields).

Run: python scripts/xero_fields.py [SPEC] (default /work/shared/specs/xero_accounting.yaml);
`sfxero_tests/recipes/test_xero_fields.py` fails when the file and the spec disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parents[1] / "sfxero_pipelines" / "config" / "xero_fields.json"
#: API collection → its record schema in the spec (the collections `extract.xero.objects` stages).
COLLECTIONS = {
    "Contacts": "Contact", "Invoices": "Invoice", "CreditNotes": "CreditNote", "BankTransactions": "BankTransaction",
    "Payments": "Payment", "Items": "Item", "Accounts": "Account", "TaxRates": "TaxRate", "Currencies": "Currency",
    "Quotes": "Quote", "PurchaseOrders": "PurchaseOrder", "Overpayments": "Overpayment", "Prepayments": "Prepayment",
    "ManualJournals": "ManualJournal", "BankTransfers": "BankTransfer", "ContactGroups": "ContactGroup",
    "TrackingCategories": "TrackingCategory",
}


def _ref(node: dict) -> str | None:
    ref = node.get("$ref")
    return ref.rsplit("/", 1)[1] if ref else None


def _kind(node: dict, schemas: dict, expand: bool = True) -> dict:
    if _ref(node):
        target = schemas[_ref(node)]
        if "enum" in target:
            return {"kind": "text", "enum": list(target["enum"])}
        return {"kind": "object" if target.get("properties") else "text"}
    t = node.get("type")
    if t == "array":
        element = _ref(node.get("items") or {})
        if expand and element and schemas[element].get("properties"):
            return {"kind": "array", "items": {name: sub for name, sub in fields_of(element, schemas, 0, False).items()
                                               if sub["kind"] != "object"}}
        return {"kind": "array"}
    if node.get("x-is-msdate") or node.get("format") == "date":
        return {"kind": "date"}
    if node.get("x-is-msdate-time") or node.get("format") == "date-time":
        return {"kind": "datetime"}
    out = {"kind": {"number": "number", "integer": "integer", "boolean": "bool"}.get(t, "text")}
    if "enum" in node:
        out["enum"] = list(node["enum"])
    if node.get("readOnly"):
        out["read_only"] = True
    return out


def fields_of(schema: str, schemas: dict, depth: int = 2, expand: bool = True) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name, node in sorted((schemas[schema].get("properties") or {}).items()):
        if name in ("ValidationErrors", "Warnings", "StatusAttributeString", "HasValidationErrors", "HasErrors"):
            continue
        kind = _kind(node, schemas, expand)
        out[name] = kind
        if kind["kind"] == "object" and depth > 0:
            for sub, sub_kind in fields_of(_ref(node), schemas, depth - 1, expand).items():
                if sub_kind["kind"] != "object":
                    out[f"{name}.{sub}"] = sub_kind
    return out


def build(spec_path: str) -> dict:
    spec = yaml.load(Path(spec_path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    schemas = spec["components"]["schemas"]
    return {collection: {"schema": schema, "fields": fields_of(schema, schemas)}
            for collection, schema in sorted(COLLECTIONS.items())}


if __name__ == "__main__":
    data = build(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/specs/xero_accounting.yaml")
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT} ({sum(len(c['fields']) for c in data.values())} fields in {len(data)} collections)")
