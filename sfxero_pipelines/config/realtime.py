"""The `realtime:` section of sfxero.yaml: the real-time lane beside the scheduled cycle (on by default;
`enabled: false` registers its sensor STOPPED).

```yaml
realtime:
  enabled: true                  # default: webhooks (`sfxero webhooks`) and Salesforce polling feed the lane
  salesforce_budget_share: 0.05  # at most this share of the daily API allocation goes to change polling
  salesforce_objects: [Account, Opportunity]   # polled in one call (<= 25); default: those extract reads
  poll_limit: 200                # changes per object per poll (more waiting: poll again at once)
```
The poll interval follows from the share and the budget left (`clients/salesforce_changes.poll_interval_s`):
never below 10 s, stretching as the remaining daily budget falls.
"""

from __future__ import annotations

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
