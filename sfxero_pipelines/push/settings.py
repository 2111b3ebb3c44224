"""The `push:`, `schedules:` and `notify:` sections of sfxero.yaml (validated on load; errors name the key).

```yaml
push:
  xero_batch_size: 50            # elements per Xero write request (Xero's documented maximum is 50)
  salesforce_batch_size: 200     # records per sObject Collections call (the API's maximum)
  salesforce_bulk_threshold: 10000   # more Salesforce updates than this in one push go through Bulk 2.0
schedules:
  cycle_cron: "0 * * * *"        # extract → check → reconcile, then the push sensors take over
  timezone: UTC
  enabled: true                  # the default status of the schedule and sensors in `make dev`
notify:
  webhook_url: https://hooks.example.com/…   # JSON POST on every failed run
  smtp: {host: smtp.example.com, port: 587, sender: sfxero@example.com, to: [ops@example.com]}
```
"""

from __future__ import annotations

from pydantic import Field, field_validator

from ..config_model import StrictModel


class PushConfig(StrictModel):
    #: Xero accepts at most 50 elements per write; fewer makes more calls for the same work.
    xero_batch_size: int = Field(50, ge=1, le=50)
    #: sObject Collections take at most 200 records per call.
    salesforce_batch_size: int = Field(200, ge=1, le=200)
    #: Above this many Salesforce updates in one push, Bulk API 2.0 ingest (a handful of calls per
    #: job) is cheaper than ceil(N/200) collection calls.
    salesforce_bulk_threshold: int = Field(10_000, ge=200)


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
        from dagster._utils.schedules import is_valid_cron_string

        if not is_valid_cron_string(value):
            raise ValueError(f"'{value}' is not a cron expression (five fields, e.g. '0 * * * *')")
        return value


class SmtpConfig(StrictModel):
    host: str
    port: int = Field(587, ge=1, le=65535)
    sender: str
    to: list[str] = Field(min_length=1)
    starttls: bool = True
    #: Names of environment variables holding the login (secrets never go in sfxero.yaml).
    username_env: str | None = None
    password_env: str | None = None


class NotifyConfig(StrictModel):
    webhook_url: str | None = None
    smtp: SmtpConfig | None = None

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value
