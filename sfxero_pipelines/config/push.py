"""The `push:` section of sfxero.yaml: how big each write is (validated on load; errors name the key).

```yaml
push:
  xero_batch_size: 50            # elements per Xero write request (Xero's documented maximum is 50)
  salesforce_batch_size: 200     # records per sObject Collections call (the API's maximum)
  salesforce_bulk_threshold: 10000   # more Salesforce updates than this in one push go through Bulk 2.0
  # The mass-change guard (push/guard.py): a plan beyond these waits for `sfxero approve PLAN_ID`.
  max_change_share: 0.2          # updates of mapped fields / the target's linked records in the plan
  max_deletes: 0                 # deletes (and voids, archives) in one plan
  max_amount_shift: 0.2          # change of the total invoiced per currency: <= 1 a share of it, > 1 an amount
  guard_min_records: 20          # plans changing fewer records than this pass the share and amount rules
```
"""

from __future__ import annotations

from pydantic import Field

from .base import StrictModel


class PushConfig(StrictModel):
    #: Xero accepts at most 50 elements per write; fewer makes more calls for the same work.
    xero_batch_size: int = Field(50, ge=1, le=50)
    #: sObject Collections take at most 200 records per call.
    salesforce_batch_size: int = Field(200, ge=1, le=200)
    #: Above this many Salesforce updates in one push, Bulk API 2.0 ingest (a handful of calls per
    #: job) is cheaper than ceil(N/200) collection calls.
    salesforce_bulk_threshold: int = Field(10_000, ge=200)
    #: A plan updating more than this share of a target's linked records (in mapped fields) waits
    #: for approval: a mapping mistake must not rewrite every Contact.
    max_change_share: float = Field(0.2, gt=0, le=1)
    #: More deletes, voids or archives than this in one plan wait for approval.
    max_deletes: int = Field(0, ge=0)
    #: How far one plan may move the total invoiced in a currency: a share of that total when <= 1
    #: (0.2 = a fifth), an amount in that currency when > 1 (25000 = 25,000 in each currency).
    max_amount_shift: float = Field(0.2, gt=0)
    #: The share and amount rules only look at plans that change at least this many records, so a
    #: small dataset (the default sandbox, a first sync) is never held; deletes are counted always.
    guard_min_records: int = Field(20, ge=0)
