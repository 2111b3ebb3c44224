"""The `recipes:` section of sfxero.yaml: which recipes run and their options (docs/architecture.md §5).

Every key is optional; see mapping.py's example for both sections together. Keys other than the
built-in codes R1..R7 are recipes a team declares (declared.py); they are kept apart in
`Recipes.declared`. R3 and R4 are declarations the package ships (builtin_declared.py): `recipes.R3`
overrides its keys; `Recipes.declarations` is every recipe the declared-recipe engine plans.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..recipes import R2, R3, R4, R7
from .base import StrictModel
from .builtin_declared import ENGINE_BUILTINS, with_shipped
from .deletes import DeletePolicies, DeletePolicy
from .declared import DeclaredRecipe, split_declared
from .mapping import MappingConfig, MatchRule


class Filter(StrictModel):
    """Which records take part: `{field: Type, op: in, value: [Customer]}` (field = Salesforce API name)."""

    field: str
    op: Literal["eq", "ne", "in", "not_in", "is_null", "not_null", "gte", "lte"] = "eq"
    value: Any = None

    @field_validator("field")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", v):
            raise ValueError(f"'{v}' is not a Salesforce field API name")
        return v

    @model_validator(mode="after")
    def _value(self) -> Filter:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"op '{self.op}' needs a list value")
        if self.op not in ("is_null", "not_null") and self.value is None:
            raise ValueError(f"op '{self.op}' needs a value")
        return self


class RecipeConfig(StrictModel):
    enabled: bool = True
    filters: list[Filter] = Field(default_factory=list)


class ContactRecipe(RecipeConfig):
    match: list[MatchRule] = Field(default_factory=lambda: ["link", "contact_number", "email", "name"])
    #: A deleted Account / archived Xero Contact (config/deletes.py): nothing happens unless set.
    deletes: DeletePolicies = DeletePolicies()

    @field_validator("match")
    @classmethod
    def _order(cls, rules: list[str]) -> list[str]:
        if not rules or rules[0] != "link":
            raise ValueError("must start with 'link' (an existing link always wins)")
        if len(set(rules)) != len(rules):
            raise ValueError("a rule is listed twice")
        return rules


class InvoiceRecipe(RecipeConfig):
    status: Literal["DRAFT", "AUTHORISED"] = "DRAFT"
    #: Optional value map (in mapping.value_maps) from StageName to the invoice status.
    status_map: str | None = None
    due_days: int = Field(30, ge=0, le=365)
    line_amount_types: Literal["Exclusive", "Inclusive", "NoTax"] = "Exclusive"
    #: Used when the Xero Item has no sales account code / tax type.
    default_account_code: str = "200"
    default_tax_type: str | None = None
    #: A deleted Opportunity's (R7: Order's) invoice waits for a person by default; a voided invoice
    #: leaves the Opportunity alone (config/deletes.py). R7 has the Salesforce side only.
    deletes: DeletePolicies = DeletePolicies()


class CampaignRecipe(StrictModel):
    """R6: Xero Contacts owing at least `min_overdue_amount` (in the Xero organisation's base currency)
    on ACCREC invoices at least `min_days_overdue` days past their due date get the linked Account's
    primary Contact (or, with no Account link, the Contact or Lead with the Xero Contact's email)
    added to `campaign`; members are removed again once that is no longer true (paid)."""

    enabled: bool = False
    #: The Salesforce Campaign: its Id (701…) or its exact Name. Required when enabled.
    campaign: str | None = Field(None, min_length=1)
    min_overdue_amount: float = Field(0.01, ge=0)
    min_days_overdue: int = Field(30, ge=1, le=3650)
    #: CampaignMember Status for added members (the Campaign's default when unset); set on the add only.
    member_status: str | None = None
    #: A member whose Xero Contacts no longer owe (paid): `archive` removes it, `hold_for_approval` waits
    #: for `sfxero approve ROW_ID`, `ignore` keeps it.
    deletes: DeletePolicy = "archive"


class Recipes(StrictModel):
    R1: ContactRecipe = ContactRecipe()
    R2: InvoiceRecipe = InvoiceRecipe()
    #: Invoice status and payments → Opportunity: the shipped declaration, with the keys given here.
    R3: DeclaredRecipe = Field(default_factory=lambda: DeclaredRecipe.model_validate(with_shipped(R3, None)))
    #: Xero balances → Account: the shipped declaration, with the keys given here.
    R4: DeclaredRecipe = Field(default_factory=lambda: DeclaredRecipe.model_validate(with_shipped(R4, None)))
    R5: RecipeConfig = RecipeConfig()
    R6: CampaignRecipe = CampaignRecipe()
    #: Activated Orders → invoices; `status_map` maps Order.Status, filters take Order fields.
    R7: InvoiceRecipe = InvoiceRecipe(enabled=False)
    #: Recipes declared under their own code (declared.py), in the file's order.
    declared: dict[str, DeclaredRecipe] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _declared(cls, data):
        # Every key that is not a built-in code is a declaration: `recipes.R8.from` reads as it is
        # written, not as `recipes.declared.R8.from` (config._key_path drops the `declared` part).
        if isinstance(data, dict) and "declared" not in data:
            builtin, declared = split_declared(data)
            builtin.update({name: with_shipped(name, builtin[name]) for name in ENGINE_BUILTINS if name in builtin})
            return {**builtin, "declared": declared} if declared else builtin
        return data

    @property
    def declarations(self) -> dict[str, DeclaredRecipe]:
        """Every enabled recipe the declared-recipe engine plans: the built-ins it runs (R3, R4), then the
        team's (enabled or not, as `declared`)."""
        return {**{n: r for n in ENGINE_BUILTINS if (r := getattr(self, n)).enabled}, **self.declared}


#: Staged Xero objects (extract.xero.objects keys) each recipe reads: without them a recipe would
#: see Xero as empty and plan to create again what is already there.
def check_references(mapping: MappingConfig, recipes: Recipes) -> None:
    """Cross-section checks; raises KeyError(key path, problem) (turned into a ConfigError by config.parse_config)."""
    if recipes.R6.enabled and not recipes.R6.campaign:
        raise KeyError("recipes.R6.campaign", "required when R6 is enabled: the Campaign Id or Name to add overdue "
                                              "customers to")
    for i, f in enumerate(mapping.contact_fields):
        if f.value_map and f.value_map not in mapping.value_maps:
            raise KeyError(f"mapping.contact_fields[{i}].value_map", f"no value map named '{f.value_map}' in mapping.value_maps")
    if recipes.R7.deletes.policy(R7, "xero", posted=False) != "ignore":
        # R7 reads activated Orders, and Salesforce refuses to delete one until a person deactivates it.
        raise KeyError("recipes.R7.deletes.xero", "Salesforce does not delete an activated Order (it must be "
                                                  "deactivated first): set deletes: {salesforce: …} only")
    for name in (R2, R7):
        ref = getattr(recipes, name).status_map
        if ref and ref not in mapping.value_maps:
            raise KeyError(f"recipes.{name}.status_map", f"no value map named '{ref}' in mapping.value_maps")
        if ref:
            bad = sorted(set(mapping.value_maps[ref].values()) - {"DRAFT", "SUBMITTED", "AUTHORISED"})
            if bad:
                raise KeyError(f"mapping.value_maps.{ref}", f"invoice status must be DRAFT, SUBMITTED or AUTHORISED, not {bad[0]}")
