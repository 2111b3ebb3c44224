"""The `schedules:` section of sfxero.yaml: when a sync cycle starts (validated on load; errors name the key).

```yaml
schedules:
  cycle_cron: "0 * * * *"        # extract -> check -> reconcile, then the push sensors take over
  timezone: UTC
  enabled: true                  # the default status of the schedule and sensors in `make dev`
```
"""

from __future__ import annotations

from croniter import croniter
from pydantic import field_validator

from .base import StrictModel


class SchedulesConfig(StrictModel):
    cycle_cron: str = "0 * * * *"
    timezone: str = "UTC"
    #: Whether the schedule and sensors start running when the code location loads.
    enabled: bool = True

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. UTC, Europe/London)") from None
        return value

    @field_validator("cycle_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        # Five fields only: Dagster schedules have no seconds field, which croniter would accept.
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"'{value}' is not a cron expression (five fields, e.g. '0 * * * *')")
        return value
