"""The Xero field list declared recipes are checked against (config/xero_fields.json) is what Xero's
OpenAPI spec says (scripts/xero_fields.py builds it), and names every collection extract stages."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from sfxero_pipelines.config.declared import XERO_SCHEMA, XERO_SOURCES, xero_fields
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS

from ..xero.conftest import SPEC_PATH

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_field_list_is_the_specs():
    spec = importlib.util.spec_from_file_location("xero_fields_script", ROOT / "scripts" / "xero_fields.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert json.loads(json.dumps(script.build(str(SPEC_PATH)))) == xero_fields()
    items = xero_fields()["Items"]["fields"]
    assert items["SalesDetails.UnitPrice"]["kind"] == "number" and items["IsSold"]["kind"] == "bool"
    assert "Balances.AccountsReceivable.Outstanding" in xero_fields()["Contacts"]["fields"]


def test_every_staged_collection_is_known_by_its_extract_key():
    # Bills are Xero's ACCPAY Invoices, staged apart by extract: a declared recipe names them `Bills`.
    staged = {("Bills" if o.key == "bills" else o.collection): o.key for o in XERO_OBJECTS.values()
              if o.key != "journals"}
    assert XERO_SOURCES == staged
    assert {XERO_SCHEMA.get(c, c) for c in XERO_SOURCES} <= set(xero_fields())
