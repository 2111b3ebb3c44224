"""The `notify:` section of sfxero.yaml: where failed runs are reported (validated on load; errors name the key).

```yaml
notify:
  webhook_url: https://hooks.example.com/...   # JSON POST on every failed run
  smtp: {host: smtp.example.com, port: 587, sender: sfxero@example.com, to: [ops@example.com]}
```
"""

from __future__ import annotations

from pydantic import Field, field_validator

from .base import StrictModel


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
