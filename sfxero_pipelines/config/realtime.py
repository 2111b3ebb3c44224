"""The `realtime:` section of sfxero.yaml: the real-time lane beside the scheduled cycle (on by default;
`enabled: false` registers its sensor STOPPED).

```yaml
realtime:
  enabled: true                  # default: webhooks (`sfxero webhooks`) and Salesforce polling feed the lane
  salesforce_budget_share: 0.05  # at most this share of the daily API allocation goes to change polling
  salesforce_objects: [Account, Opportunity]   # polled in one call (<= 25); default: those extract reads
  poll_limit: 200                # changes per object per poll (more waiting: poll again at once)
  xero_poll: auto                # auto: If-Modified-Since polling of Contacts and Invoices when
                                 # XERO_WEBHOOK_KEY is not set (no webhook receiver); on; off
  xero_daily_limit: 1000         # the tenant's daily call limit the polling is paced on (Starter: 1,000)
  xero_budget_share: 0.05        # at most this share of it goes to polling (two calls a poll)
```
The poll intervals follow from the shares and the budget left (`clients/salesforce_changes.poll_interval_s`,
`realtime/xero_poll.poll_interval_s`): never below 10 s, stretching as the remaining daily budget falls.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import StrictModel


class RealtimeConfig(StrictModel):
    enabled: bool = True
    salesforce_budget_share: float = Field(0.05, gt=0, le=0.5)
    #: Salesforce's /composite/batch carries at most 25 subrequests: one per object, one call per poll.
    salesforce_objects: list[str] | None = Field(None, min_length=1, max_length=25)
    poll_limit: int = Field(200, ge=1, le=2000)
    #: A floor above the built-in 10 s, for orgs that want to poll less often.
    min_poll_interval_s: float = Field(10.0, ge=10)
    #: Xero without a reachable webhook endpoint: poll Contacts and Invoices with If-Modified-Since.
    xero_poll: Literal["auto", "on", "off"] = "auto"
    xero_daily_limit: int = Field(1000, ge=1)
    xero_budget_share: float = Field(0.05, gt=0, le=0.5)
