"""Hand-written staging fixtures for reconciliation tests, on SQLite and the real PostgreSQL.

`world(db)` returns a Stager: `.sf("Account", Id=..., Name=...)`, `.xero("Contacts", ContactID=..., ...)`
write staged rows exactly as the extract would (typed columns from the real specs, raw JSON kept);
`.link(recipe, sf_id, xero_id)`, `.hold(table, id, reason)`, `.ledger(...)` write sync state.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
import sqlalchemy as sa

from sfxero_pipelines.defs.staging.resources import StagingDatabase
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS
from sfxero_pipelines.extract.rows import COLUMN_TYPES
from sfxero_pipelines.staging.schema import column_name, held_record, sync_ledger, sync_link
from sfxero_pipelines.staging.tables import ensure_object_table, upsert_rows

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)

SF_KINDS = {
    "Account": {"Xero_Outstanding__c": "money", "Xero_Overdue__c": "money", "AnnualRevenue": "money"},
    "Opportunity": {"Amount": "money", "IsWon": "bool", "CloseDate": "date", "Xero_Amount_Paid__c": "money",
                    "Xero_Amount_Due__c": "money", "Xero_Fully_Paid_On__c": "date"},
    "OpportunityLineItem": {"Quantity": "float", "UnitPrice": "money", "TotalPrice": "money", "Discount": "float"},
    "Order": {"TotalAmount": "money", "EffectiveDate": "date"},
    "OrderItem": {"Quantity": "float", "UnitPrice": "money"},
    "Lead": {"IsConverted": "bool"},
    "Campaign": {"IsActive": "bool"},
}
SF_FIELDS = {
    "Account": ["Name", "Type", "AccountNumber", "Phone", "BillingStreet", "BillingCity", "BillingPostalCode",
                "BillingCountry", "CurrencyIsoCode", "Xero_Contact_Id__c", "Xero_Outstanding__c", "Xero_Overdue__c",
                "SystemModstamp"],
    "Contact": ["AccountId", "FirstName", "LastName", "Email", "Phone", "CreatedDate"],
    "Opportunity": ["Name", "AccountId", "StageName", "CloseDate", "Amount", "IsWon", "CurrencyIsoCode",
                    "Xero_Invoice_Id__c", "Xero_Invoice_Number__c", "Xero_Invoice_Status__c", "Xero_Amount_Paid__c",
                    "Xero_Amount_Due__c", "Xero_Fully_Paid_On__c"],
    "OpportunityLineItem": ["OpportunityId", "Product2Id", "ProductCode", "Name", "Quantity", "UnitPrice",
                            "TotalPrice", "Discount", "Description", "SortOrder"],
    "Product2": ["Name", "ProductCode"],
    "Order": ["AccountId", "OpportunityId", "Status", "EffectiveDate", "TotalAmount", "CurrencyIsoCode",
              "Xero_Invoice_Id__c", "Xero_Invoice_Number__c"],
    "OrderItem": ["OrderId", "Product2Id", "Quantity", "UnitPrice", "Description", "OrderItemNumber"],
    "Lead": ["FirstName", "LastName", "Company", "Email", "Status", "IsConverted"],
    "Campaign": ["Name", "IsActive"],
    "CampaignMember": ["CampaignId", "ContactId", "LeadId", "Status"],
}
SF_TABLES = {"Account": "sf_account", "Contact": "sf_contact", "Opportunity": "sf_opportunity",
             "OpportunityLineItem": "sf_opportunity_line_item", "Product2": "sf_product2", "Order": "sf_order",
             "OrderItem": "sf_order_item", "Lead": "sf_lead", "Campaign": "sf_campaign",
             "CampaignMember": "sf_campaign_member"}
SF_PREFIXES = {"Account": "001", "Contact": "003", "Opportunity": "006", "Lead": "00Q", "Campaign": "701",
               "CampaignMember": "00v", "Order": "801", "OrderItem": "802"}
XERO_TABLES = {"Contacts": "contacts", "Invoices": "invoices", "Items": "items"}
_ids = itertools.count(1)


def sf_id(prefix: str = "001") -> str:
    return f"{prefix}{next(_ids):015d}"


class Stager:
    def __init__(self, db: StagingDatabase) -> None:
        self.db = db
        for obj in SF_FIELDS:
            self._sf_table(obj)
        for key in XERO_TABLES.values():
            spec = XERO_OBJECTS[key]
            ensure_object_table(db.engine, spec.table, {f.column: COLUMN_TYPES[f.kind] for f in spec.fields})

    def _sf_table(self, obj: str) -> sa.Table:
        kinds = SF_KINDS.get(obj, {})
        cols = {column_name(f): COLUMN_TYPES[kinds.get(f, "text")] for f in SF_FIELDS[obj]}
        table, _ = ensure_object_table(self.db.engine, SF_TABLES[obj], cols)
        return table

    def sf(self, obj: str, *, modified: dt.datetime = T0, deleted: bool = False, invalid: str | None = None, **fields) -> str:
        fields.setdefault("Id", sf_id(SF_PREFIXES.get(obj, "00X")))
        table = self._sf_table(obj)
        kinds = SF_KINDS.get(obj, {})
        row = {"id": fields["Id"], "modified_at": modified, "is_deleted": deleted, "extracted_at": T0,
               "invalid_reason": invalid, "raw": fields}
        for f in SF_FIELDS[obj]:
            v = fields.get(f)
            if v is not None and kinds.get(f) == "date":
                v = dt.date.fromisoformat(v)
            row[column_name(f)] = v
        with self.db.begin() as conn:
            upsert_rows(conn, table, [row])
        return fields["Id"]

    def xero(self, collection: str, *, modified: dt.datetime = T0, invalid: str | None = None, **record) -> str:
        spec = XERO_OBJECTS[XERO_TABLES[collection]]
        record.setdefault(spec.id_field, f"{next(_ids):08d}-0000-4000-8000-{collection[:4].lower():0>12}")
        table, _ = ensure_object_table(self.db.engine, spec.table, {f.column: COLUMN_TYPES[f.kind] for f in spec.fields})
        row = {"id": record[spec.id_field], "modified_at": modified, "is_deleted": spec.is_deleted(record),
               "extracted_at": T0, "invalid_reason": invalid, "raw": record}
        for f in spec.fields:
            v = record
            for part in f.source.split("."):
                v = v.get(part) if isinstance(v, dict) else None
            if f.kind in ("msdate", "date") and isinstance(v, str):
                v = dt.date.fromisoformat(v[:10])
            elif f.kind in ("msdatetime",):
                v = modified
            row[f.column] = v
        with self.db.begin() as conn:
            upsert_rows(conn, table, [row])
        return record[spec.id_field]

    def link(self, recipe: str, sf: str, xero: str) -> None:
        with self.db.begin() as conn:
            conn.execute(sync_link.insert().values(recipe=recipe, sf_id=sf, xero_id=xero, created_at=T0, updated_at=T0))

    def hold(self, table: str, record_id: str, reason: str, released: bool = False) -> None:
        with self.db.begin() as conn:
            conn.execute(held_record.insert().values(stage="check", table_name=table, record_id=record_id, reason=reason,
                                                     held_at=T0, released_at=T0 if released else None))

    def ledger(self, target_system: str, target_id: str, written: dict, *, recipe: str = "R1", key: str | None = None) -> None:
        with self.db.begin() as conn:
            conn.execute(sync_ledger.insert().values(
                idempotency_key=key or f"k{next(_ids)}", recipe=recipe, target_system=target_system,
                target_object="Contact", source_id=None, target_id=target_id, request_hash="h",
                outcome="succeeded", response={"written": written}, run_id="r", attempted_at=T0, completed_at=T0))


@pytest.fixture
def world(staging) -> Stager:
    return Stager(staging)


def diff_of(row) -> dict:
    d = row["diff"] if isinstance(row, dict) else row.diff
    return json.loads(d) if isinstance(d, str) else d
