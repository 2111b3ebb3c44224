"""The `push:` section of sfxero.yaml: how big each write is (validated on load; errors name the key).

```yaml
push:
  xero_batch_size: 50            # elements per Xero write request (Xero's documented maximum is 50)
  salesforce_batch_size: 200     # records per sObject Collections call (the API's maximum)
  salesforce_bulk_threshold: 10000   # more Salesforce updates than this in one push go through Bulk 2.0
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
