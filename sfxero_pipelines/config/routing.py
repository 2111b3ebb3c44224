"""The `routing:` section of sfxero.yaml: which Xero organisation each Salesforce Account belongs to,
when several are connected (docs/architecture.md §4.4). Opportunities and Orders follow their Account.

```yaml
routing:
  rules:                                    # first match wins, in order
    - field: Billing_Entity__c              # any Account field (a picklist such as a billing entity)
      equals: [UK]
      tenant: Sandbox Trading UK Ltd        # organisation name as `sfxero connections` shows it, or tenant id
    - currency: [EUR]                       # Account.CurrencyIsoCode
      tenant: Sandbox Trading GmbH
    - country: [Australia, AU]              # Account.BillingCountry (compared without case)
      tenant: Sandbox Trading Pty Ltd
  default: Sandbox Trading Co               # the rest; left out: an Account matching no rule is held
```
Without a `routing:` section every Account goes to the one organisation connected (or XERO_TENANT_ID),
as before. Values are compared trimmed and without case.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from .base import StrictModel


class RoutingRule(StrictModel):
    #: An Account field's API name, with `equals`; or `currency` / `country` alone.
    field: str | None = Field(None, min_length=1)
    equals: list[str] | None = Field(None, min_length=1)
    currency: list[str] | None = Field(None, min_length=1)
    country: list[str] | None = Field(None, min_length=1)
    #: The organisation the matching Accounts go to: its name or its tenant id.
    tenant: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> "RoutingRule":
        kinds = [k for k, v in (("field", self.field), ("currency", self.currency), ("country", self.country)) if v]
        if len(kinds) != 1:
            raise ValueError("a rule takes exactly one of field (with equals), currency or country")
        if (self.field is None) != (self.equals is None):
            raise ValueError("field and equals go together")
        return self

    @property
    def account_field(self) -> str:
        """The Account field the rule reads (its API name)."""
        return self.field or ("CurrencyIsoCode" if self.currency else "BillingCountry")

    @property
    def values(self) -> frozenset[str]:
        return frozenset(v.strip().casefold() for v in (self.equals or self.currency or self.country or ()))

    def describe(self) -> str:
        return f"{self.account_field} in [{', '.join(self.equals or self.currency or self.country or ())}]"


class RoutingConfig(StrictModel):
    rules: list[RoutingRule] = Field(default_factory=list)
    #: Where an Account matching no rule goes; None: it is held until a rule or a default takes it.
    default: str | None = Field(None, min_length=1)

    @property
    def configured(self) -> bool:
        return bool(self.rules) or self.default is not None

    @property
    def account_fields(self) -> tuple[str, ...]:
        """The Account fields the rules read, in rule order, once each."""
        return tuple(dict.fromkeys(r.account_field for r in self.rules))
