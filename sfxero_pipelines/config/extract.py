"""The `extract:` section of sfxero.yaml: what to stage from each system, from when, and how.

```yaml
extract:
  start_date: "2024-01-01"     # first daily partition (default: the day the staging database was set up)
  lookback_seconds: 300        # incremental reads start this far before the saved cursor
  salesforce: {objects: [Account, Contact, ...], batch_size: 2000, bulk_threshold: 50000}
  xero: {objects: [contacts, invoices, ...], page_size: 1000}   # journals: opt in (needs the journals scope)
```
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator

from .base import StrictModel

DEFAULT_SALESFORCE_OBJECTS = [
    "Account", "Contact", "Opportunity", "OpportunityLineItem", "Product2", "Pricebook2", "PricebookEntry",
    "Lead", "Campaign", "CampaignMember", "Order", "OrderItem",
]
XeroObject = Literal[
    "contacts", "invoices", "bills", "credit_notes", "bank_transactions", "payments",
    "items", "accounts", "tax_rates", "currencies",
    "quotes", "purchase_orders", "overpayments", "prepayments", "manual_journals", "journals",
    "bank_transfers", "contact_groups", "tracking_categories",
]
#: Everything but `journals`: Xero grants the journals scope to fewer apps (connections made since
#: April 2026 get granular scopes without it), so reading them is opted into.
DEFAULT_XERO_OBJECTS: list[str] = [o for o in XeroObject.__args__ if o != "journals"]


class SalesforceExtract(StrictModel):
    #: API names; custom objects (`Invoice_Run__c`) work too: fields come from describe.
    objects: list[str] = Field(default_factory=lambda: list(DEFAULT_SALESFORCE_OBJECTS))
    #: REST page size (Sforce-Query-Options batchSize): 200..2000.
    batch_size: int = Field(2000, ge=200, le=2000)
    #: Windows expected to be larger than this use Bulk API 2.0 instead of REST query.
    bulk_threshold: int = Field(50_000, ge=2_000)
    #: Describe results are reused for this long, so an unchanged incremental run costs one call.
    describe_ttl_hours: float = Field(24, ge=0)
    #: How often to ask /deleted for records purged from the recycle bin (invisible to queryAll).
    deleted_check_hours: float = Field(24, ge=0)

    @field_validator("objects")
    @classmethod
    def _api_names(cls, objects: list[str]) -> list[str]:
        for name in objects:
            if not name.replace("_", "").isalnum() or not name[0].isalpha():
                raise ValueError(f"'{name}' is not a Salesforce object API name")
        if len(set(objects)) != len(objects):
            raise ValueError("an object is listed twice")
        return objects


class XeroExtract(StrictModel):
    objects: list[XeroObject] = Field(default_factory=lambda: list(DEFAULT_XERO_OBJECTS))
    page_size: int = Field(1000, ge=1, le=1000)


class ExtractConfig(StrictModel):
    #: First daily partition. None: the day the staging database was set up (`defs/partitions.py`).
    start_date: dt.date | None = Field(None, strict=False)
    #: Incremental reads start this far before the saved cursor: late commits and same-second
    #: writes land behind a cursor, and the upsert makes re-reading them harmless.
    lookback_seconds: int = Field(300, ge=0, le=86_400)
    salesforce: SalesforceExtract = SalesforceExtract()
    xero: XeroExtract = XeroExtract()

    @field_validator("start_date")
    @classmethod
    def _not_in_future(cls, start: dt.date | None) -> dt.date | None:
        # Partitions are UTC days from start_date: a later start leaves no partition for today, so
        # no sync could run at all.
        today = dt.datetime.now(dt.timezone.utc).date()
        if start is not None and start > today:
            raise ValueError(f"{start.isoformat()} is in the future (today is {today.isoformat()} UTC): "
                             "the first daily partition must be today or earlier")
        return start
