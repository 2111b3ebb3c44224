"""The `mapping:` section of sfxero.yaml: contact field mappings, value maps, ownership (errors name the key).

`recipes:` (recipes.py) uses the same file's example:

```yaml
mapping:
  default_phone_country: GB          # region of national numbers in records without a country
  value_maps:
    country: {"Great Britain": GB}   # extends the built-in country table
    stage_to_status: {"Closed Won": AUTHORISED}
  contact_fields:                    # R1 (sf → xero) and R5 (xero → sf), one entry per field
    - {sf: Phone, xero: Phones.DEFAULT, transform: phone, owner: xero}
    - {sf: Region__c, xero: Addresses.POBOX.Region, owner: last_writer}
recipes:
  R1: {filters: [{field: Type, op: in, value: [Customer - Direct]}]}
  R2: {status: AUTHORISED, due_days: 14}
  R6: {enabled: true, campaign: Overdue accounts follow-up, min_overdue_amount: 500, min_days_overdue: 30}
  R7: {enabled: true, status: AUTHORISED}   # invoice activated Orders (R2 can stay on or be turned off)
```
`sf` names a field of the Account (`Contact.Email` = the Account's primary Contact); `xero` a field
of the Xero Contact (`Phones.<TYPE>`, `Addresses.<TYPE>.<Part>` for nested ones).
`owner` says which system wins when both differ: `salesforce`, `xero`, or `last_writer`
(the record modified last wins; our own writes never count as a change, see the ledger).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from .base import StrictModel

Owner = Literal["salesforce", "xero", "last_writer"]
Transform = Literal["text", "email", "phone", "country", "currency", "upper", "lower", "money"]
MatchRule = Literal["link", "contact_number", "email", "name"]

_SF_FIELD = re.compile(r"^(Contact\.)?[A-Za-z][A-Za-z0-9_]*$")
XERO_CONTACT_FIELDS = {
    "Name", "ContactNumber", "AccountNumber", "EmailAddress", "FirstName", "LastName", "TaxNumber",
    "DefaultCurrency", "Website",
}
_XERO_NESTED = re.compile(r"^(Phones\.(DEFAULT|MOBILE|FAX|DDI)|Addresses\.(POBOX|STREET)\."
                          r"(AddressLine1|AddressLine2|City|Region|PostalCode|Country))$")


def typed_element(path: str) -> bool:
    """`Phones.<TYPE>` or `Addresses.<TYPE>.<Part>`: one element of a Xero Contact's typed arrays."""
    return bool(_XERO_NESTED.match(path))


class FieldMapping(StrictModel):
    sf: str
    xero: str
    transform: Transform = "text"
    #: Name of a map in `mapping.value_maps`, applied Salesforce value → Xero value (inverse back).
    value_map: str | None = None
    #: Written to Xero when the Salesforce value is empty.
    default: str | None = None
    owner: Owner = "salesforce"

    @property
    def rule(self) -> str:
        """The rule R1's and R5's plan rows name this mapping by ("Phone→Phones.DEFAULT (phone)"): their
        ledger keys hash it, so it stays as it is."""
        return f"{self.sf}→{self.xero}" + (f" ({self.transform})" if self.transform != "text" else "") + \
            (f" via value map '{self.value_map}'" if self.value_map else "")

    @field_validator("sf")
    @classmethod
    def _sf(cls, v: str) -> str:
        if not _SF_FIELD.match(v):
            raise ValueError(f"'{v}' is not a Salesforce field API name (Account field, or Contact.<Field>)")
        return v

    @field_validator("xero")
    @classmethod
    def _xero(cls, v: str) -> str:
        if v not in XERO_CONTACT_FIELDS and not typed_element(v):
            raise ValueError(f"'{v}' is not a Xero Contact field sfxero can map "
                             f"({', '.join(sorted(XERO_CONTACT_FIELDS))}, Phones.<TYPE>, Addresses.<TYPE>.<Part>)")
        return v


DEFAULT_CONTACT_FIELDS = [
    FieldMapping(sf="Name", xero="Name"),
    FieldMapping(sf="AccountNumber", xero="AccountNumber"),
    FieldMapping(sf="CurrencyIsoCode", xero="DefaultCurrency", transform="currency"),
    FieldMapping(sf="Contact.Email", xero="EmailAddress", transform="email", owner="xero"),
    FieldMapping(sf="Phone", xero="Phones.DEFAULT", transform="phone", owner="xero"),
    FieldMapping(sf="BillingStreet", xero="Addresses.POBOX.AddressLine1", owner="xero"),
    FieldMapping(sf="BillingCity", xero="Addresses.POBOX.City", owner="xero"),
    FieldMapping(sf="BillingPostalCode", xero="Addresses.POBOX.PostalCode", owner="xero"),
    FieldMapping(sf="BillingCountry", xero="Addresses.POBOX.Country", transform="country", owner="xero"),
]


class MappingConfig(StrictModel):
    default_phone_country: str = Field("US", pattern=r"^[A-Z]{2}$")
    value_maps: dict[str, dict[str, str]] = Field(default_factory=dict)
    contact_fields: list[FieldMapping] = Field(default_factory=lambda: list(DEFAULT_CONTACT_FIELDS))

    @field_validator("contact_fields")
    @classmethod
    def _unique(cls, fields: list[FieldMapping]) -> list[FieldMapping]:
        seen: set[str] = set()
        for f in fields:
            if f.xero in seen:
                raise ValueError(f"Xero field '{f.xero}' is mapped twice")
            seen.add(f.xero)
        return fields
