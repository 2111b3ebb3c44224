"""Declared recipes: the part of `recipes:` a team writes itself (docs/architecture.md §5.3, README
"Write your own recipe"). Any key under `recipes:` other than the built-in codes R1..R7 is one.

```yaml
recipes:
  R8:                                   # the code: plan rows, links, ledger and assets (sync_plan_r8) say it
    title: Products → Xero Items
    from: {salesforce: Product2, where: "IsActive = true"}     # or {xero: Contacts, filter: "IsCustomer = true"}
    to: {xero: Items}                                          # or {salesforce: Xero_Credit_Note__c} (from Xero)
    match: [link, {Code: ProductCode}]  # in order: link, key pairs {target: source}, {email: {t: s}}, {name: {t: s}}
    fields:                             # target field: source field, or a spec
      Code: ProductCode
      Name: {from: Name, transform: truncate(50)}
      Description: {template: "{Name} ({ProductCode})", default: "(no description)"}
      SalesDetails.UnitPrice: {lookup: PricebookEntry.UnitPrice, where: "Pricebook2.IsStandard = true", transform: money(2)}
      IsTrackedAsInventory: {value: false}
      # Contact.ContactID: {ref: AccountId, via: R1}   # an id through another recipe's links
      # (from Xero: Account__c: {ref: Contact.ContactID, via: R1}, the ContactID's linked Account)
    write_back: {Xero_Item_Id__c: ItemID}              # Salesforce field: path in Xero's answer to the create
    deletes: ignore                                    # archive | hold_for_approval | ignore: the source deleted
    # deletes: {salesforce: archive, xero: hold_for_approval}  → two-way: each side's deleted record removes the other's
    # filtered_out: delete   → a linked record that no longer meets where: goes as a deleted one does
    # sync: two_way   → every field names its owner: salesforce | xero | last_writer
    # route: AccountId  → with several Xero organisations, the Account whose routing a record follows (or all)
```

This module is the declaration's language: the models (pydantic, errors naming the key), the
`where`/`filter` condition parser, the catalogue of transforms with the kinds of value each accepts
(`TRANSFORMS`; `reconcile/transforms.py` implements exactly these), and the checks that need more than
one field: `static_problems` (on load: Xero fields and kinds against `xero_fields.json`, built from
Xero's OpenAPI spec by scripts/xero_fields.py; owners of two-way fields; value maps; references;
cycles of write-backs) and `salesforce_problems` (against a describe: the staged one in production,
the sandbox's schema offline). Each problem is one line: `recipes.<name>.<key path>: <what is wrong>`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_serializer, field_validator, model_validator

from ..recipes import R1, R2, R7, RECIPES
from .base import StrictModel
from .deletes import DeletePolicies
from .mapping import typed_element

Owner = Literal["salesforce", "xero", "last_writer"]
#: `route: all`: a recipe whose records every Xero organisation's plan takes.
ROUTE_ALL = "all"
#: A declared recipe's code: a plan's `recipe` column and sync_link's hold 16 characters.
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,15}$")
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
#: Xero collections the engine writes (an upsert keyed on the attribute named here; push/to_xero.py reads
#: it by object for the lookup-before-create).
XERO_TARGETS = {"Items": ("Item", "ItemID", "Code"), "Contacts": ("Contact", "ContactID", "ContactNumber"),
                "Quotes": ("Quote", "QuoteID", "Reference")}
#: Collections only a built-in recipe writes, its code doing what a declaration cannot express (R2's and
#: R7's ACCREC invoices: lines, tax, an approved invoice left alone; config/invoice_declared.py): the
#: engine plans their declarations (`model_validate(..., context={"builtin": True})`); sfxero.yaml's
#: recipes cannot name them.
CODE_TARGETS = {"Invoices": ("Invoice", "InvoiceID", "Reference")}
#: What the engine writes: (object, id attribute, what a create is found again by) per collection.
ENGINE_TARGETS = {**XERO_TARGETS, **CODE_TARGETS}
#: What Xero refuses a create without, beyond the key a create is found again by (Xero's docs: a
#: contact needs a Name; the OpenAPI spec marks an Item's Code): a create without it is held at plan,
#: not sent to be rejected.
XERO_REQUIRED = {"Contacts": ("Name",), "Items": ("Code",)}
#: Xero collection → its `extract.xero.objects` key (the staged table is `xero_<singular>`). `Bills` are
#: Xero's ACCPAY Invoices, which extract stages apart (`bills`, table xero_bill).
XERO_SOURCES = {"Contacts": "contacts", "Invoices": "invoices", "Bills": "bills", "CreditNotes": "credit_notes",
                "BankTransactions": "bank_transactions", "Payments": "payments", "Items": "items",
                "Accounts": "accounts", "TaxRates": "tax_rates", "Currencies": "currencies", "Quotes": "quotes",
                "PurchaseOrders": "purchase_orders", "Overpayments": "overpayments", "Prepayments": "prepayments",
                "ManualJournals": "manual_journals", "BankTransfers": "bank_transfers",
                "ContactGroups": "contact_groups", "TrackingCategories": "tracking_categories"}
#: A source read under another name than its schema's (fields are checked against the schema's).
XERO_SCHEMA = {"Bills": "Invoices"}
#: Built-in recipes whose links a `ref` may go through (Salesforce id ↔ Xero id in sync_link).
LINKED_BUILTINS = {R1: ("Account", "Contacts"), R2: ("Opportunity", "Invoices"), R7: ("Order", "Invoices")}

# ---- transforms: the catalogue ------------------------------------------------------------------
#: Kinds of value: what a Salesforce field type or a Xero schema type is, for transform checks.
KINDS = ("text", "number", "integer", "bool", "date", "datetime", "object", "array")
SF_KINDS = {"int": "integer", "double": "number", "currency": "number", "percent": "number", "boolean": "bool",
            "date": "date", "datetime": "datetime", "address": "object", "location": "object"}
_TEXTUAL = frozenset({"text"})
_ANY = frozenset({"text", "number", "integer", "bool", "date", "datetime"})


@dataclass(frozen=True)
class TransformSpec:
    #: Kinds of value it accepts.
    accepts: frozenset[str]
    #: Arguments: "int", "str", "region" (an ISO 3166 alpha-2 code, or a field of the record in braces:
    #: `{BillingCountry}`, a `FieldArg`) or "map" (a `mapping.value_maps` name).
    args: tuple[str, ...] = ()
    #: How many of `args` may be left out.
    optional: int = 0
    #: Kind of its result.
    gives: str = "text"


TRANSFORMS: dict[str, TransformSpec] = {
    "text": TransformSpec(_ANY),
    "upper": TransformSpec(_TEXTUAL),
    "lower": TransformSpec(_TEXTUAL),
    "truncate": TransformSpec(_TEXTUAL, ("int",)),
    "email": TransformSpec(_TEXTUAL),
    "phone": TransformSpec(_TEXTUAL, ("region",), optional=1),
    "country": TransformSpec(_TEXTUAL),
    "currency": TransformSpec(_TEXTUAL),
    "date": TransformSpec(frozenset({"date", "datetime"}), ("str",), optional=1, gives="date"),
    "datetime": TransformSpec(frozenset({"datetime"}), ("str",), optional=1, gives="datetime"),
    "money": TransformSpec(frozenset({"number", "integer"}), ("int",), optional=1, gives="number"),
    "number": TransformSpec(frozenset({"number", "integer", "text"}), gives="number"),
    "bool": TransformSpec(frozenset({"bool", "text"}), gives="bool"),
    "map": TransformSpec(_ANY, ("map",)),
}
_CALL = re.compile(r"^([a-z]+)(?:\((.*)\))?$")
_FIELD_ARG = re.compile(r"^\{([A-Za-z][A-Za-z0-9_.]*)\}$")


@dataclass(frozen=True)
class FieldArg:
    """A transform argument read per record from a field of the record the value comes from:
    `phone({BillingCountry})` parses each phone in its own record's country, as R1 does."""

    field: str


def transform_fields(texts: list[str]) -> list[str]:
    """The fields transforms read as arguments (`phone({BillingCountry})` → BillingCountry)."""
    return [a.field for t in texts for a in parse_transform(t)[1] if isinstance(a, FieldArg)]


def parse_transform(text: str) -> tuple[str, tuple]:
    """"truncate(50)" → ("truncate", (50,)); raises ValueError with the reason."""
    m = _CALL.match(text.strip())
    if not m or m.group(1) not in TRANSFORMS:
        raise ValueError(f"unknown transform '{text}' (one of: {', '.join(TRANSFORMS)})")
    name, raw = m.group(1), m.group(2)
    spec = TRANSFORMS[name]
    parts = [p.strip() for p in raw.split(",")] if raw not in (None, "") else []
    if not len(spec.args) - spec.optional <= len(parts) <= len(spec.args):
        want = ", ".join(spec.args) or "no arguments"
        raise ValueError(f"transform {name} takes {want}{' (optional)' if spec.optional else ''}, not '{text}'")
    args: list = []
    for kind, part in zip(spec.args, parts):
        part = part.strip("'\"")
        if kind == "int":
            if not part.isdigit() or not 0 <= int(part) <= 100_000:
                raise ValueError(f"transform {name} needs a whole number, not '{part}'")
            args.append(int(part))
        elif kind == "region":
            if field := _FIELD_ARG.match(part):
                args.append(FieldArg(field.group(1)))
                continue
            if not re.match(r"^[A-Z]{2}$", part):
                raise ValueError(f"transform {name} needs a two-letter region code (GB) or a field in braces "
                                 f"({{BillingCountry}}), not '{part}'")
            args.append(part)
        else:
            args.append(part)
    return name, tuple(args)


# ---- where / filter: conditions on the source ---------------------------------------------------

@dataclass(frozen=True)
class Condition:
    field: str      # API name or path (Pricebook2.IsStandard: a field of the record a reference points to)
    op: str         # = != < > <= >= in
    value: Any      # str | float | bool | None | tuple


_COND = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_.]*)\s*(!=|<>|<=|>=|=|<|>|\bIN\b|\bin\b)\s*(.+?)\s*$")
_AND = re.compile(r"\s+AND\s+", re.I)


def _literal(text: str):
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    if t.lower() == "null":
        return None
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1]
    try:
        return float(t)
    except ValueError:
        raise ValueError(f"'{t}' is not a value (quote text: 'Customer'; or true, false, null, a number)") from None


def parse_where(text: str) -> tuple[Condition, ...]:
    """`Field = value AND Other IN ('a', 'b') AND Rel.Field != null` → conditions (all must hold)."""
    out = []
    for part in _AND.split(text.strip()):
        m = _COND.match(part)
        if not m:
            raise ValueError(f"cannot read condition '{part}' (write Field = value, joined by AND)")
        name, op, raw = m.group(1), m.group(2).lower(), m.group(3)
        op = "!=" if op == "<>" else op
        if op == "in":
            if not (raw.startswith("(") and raw.endswith(")")):
                raise ValueError(f"IN needs a list in brackets: {part}")
            value = tuple(_literal(v) for v in raw[1:-1].split(",") if v.strip())
        else:
            value = _literal(raw)
        out.append(Condition(name, op, value))
    return tuple(out)


# ---- the models ---------------------------------------------------------------------------------

class _Model(StrictModel):
    # `from` is a Python keyword: the attribute is `source`, the YAML key `from`.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)


class Side(_Model):
    """One end of a recipe: a Salesforce object or a Xero collection, with a condition on the source."""

    salesforce: str | None = None
    xero: str | None = None
    #: Source condition on Salesforce fields (`IsActive = true AND Type IN ('Customer')`).
    where: str | None = None
    #: Source condition on the Xero records' fields (`ContactStatus = 'ACTIVE'`).
    filter: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Side:
        if (self.salesforce is None) == (self.xero is None):
            raise ValueError("name exactly one of salesforce: OBJECT or xero: COLLECTION")
        if self.salesforce is not None and not _API_NAME.match(self.salesforce):
            raise ValueError(f"'{self.salesforce}' is not a Salesforce object API name")
        if self.xero is not None and self.xero not in XERO_SOURCES:
            raise ValueError(f"unknown Xero collection '{self.xero}' (one of: {', '.join(sorted(XERO_SOURCES))})")
        if self.where is not None and self.salesforce is None:
            raise ValueError("where: is a condition on Salesforce fields; a Xero source takes filter:")
        if self.filter is not None and self.xero is None:
            raise ValueError("filter: is a condition on Xero fields; a Salesforce source takes where:")
        for text in (self.where, self.filter):
            if text is not None:
                parse_where(text)
        return self

    @property
    def system(self) -> str:
        return "salesforce" if self.salesforce else "xero"

    @property
    def name(self) -> str:
        return self.salesforce or self.xero or ""

    @property
    def conditions(self) -> tuple[Condition, ...]:
        text = self.where or self.filter
        return parse_where(text) if text else ()


class MatchRule(_Model):
    """`link`, a key pair `{TargetField: SourceField}`, `{email: {TargetField: SourceField}}` or
    `{name: {TargetField: SourceField}}` (normalised email / company name); or `{link: R1}` alone: the
    pairs another recipe links, updated and never created (R4's balances onto R1's Accounts)."""

    kind: Literal["link", "key", "email", "name"]
    target: str | None = None
    source: str | None = None
    #: `{link: R1}`: the recipe whose links (and pairs planned in the same pass) are the pairs.
    via: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value):
        if value == "link":
            return {"kind": "link"}
        if isinstance(value, dict) and set(value) == {"link"}:
            if not isinstance(value["link"], str) or not value["link"]:
                raise ValueError("{link: CODE} names the recipe whose links pair the records (link: R1)")
            return {"kind": "link", "via": value["link"]}
        if isinstance(value, dict) and "kind" not in value and len(value) == 1:
            (k, v), = value.items()
            if k in ("email", "name"):
                if not (isinstance(v, dict) and len(v) == 1):
                    raise ValueError(f"{k} takes one pair {{TargetField: SourceField}}")
                (t, s), = v.items()
                return {"kind": k, "target": t, "source": s}
            return {"kind": "key", "target": k, "source": v}
        if isinstance(value, str):
            raise ValueError(f"'{value}' is not a match rule: link, {{TargetField: SourceField}}, "
                             "{email: {TargetField: SourceField}} or {name: {TargetField: SourceField}}")
        return value

    @model_validator(mode="after")
    def _pair(self) -> MatchRule:
        if self.kind != "link":
            for f in (self.target, self.source):
                if not isinstance(f, str) or not _PATH.match(f):
                    raise ValueError(f"'{f}' is not a field name")
        return self


class FieldSpec(_Model):
    """How one target field gets its value: exactly one of `from`, `value`, `template`, `lookup`, `ref`."""

    source: str | None = Field(None, alias="from")
    value: Any = None
    #: "{Name} ({BillingCity})": source fields in braces.
    template: str | None = None
    #: `Object.Field` of a related Salesforce record pointing at the source record (PricebookEntry.UnitPrice).
    lookup: str | None = None
    #: Condition on the looked-up records (with `lookup`): `Pricebook2.IsStandard = true`.
    where: str | None = None
    #: A source field holding the Salesforce id of another recipe's record; `via` names that recipe,
    #: whose link gives the Xero id written here.
    ref: str | None = None
    via: str | None = None
    #: One transform or a list applied in order (`truncate(50)`, [text, upper]).
    transform: str | list[str] | None = None
    #: Written when the source value is empty.
    default: Any = None
    #: Two-way recipes: who wins when both sides differ.
    owner: Owner | None = None
    #: What the field carries, in words: plan rows name its rule "<recipe>: <rule> → <field>" (R3's
    #: "invoice status"). Without it, the rule says how the value is made ("<recipe> Status→<field>").
    rule: str | None = Field(None, min_length=1, max_length=80)
    #: Sent on a create only, never compared or updated (a Campaign member's Status, which moves on in
    #: Salesforce once the member is added; an Item's opening description). One-way recipes.
    create_only: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        given = [k for k in ("source", "value", "template", "lookup", "ref") if
                 (k in self.model_fields_set if k == "value" else getattr(self, k) is not None)]
        if len(given) != 1:
            names = {"source": "from"}
            raise ValueError("give exactly one of from, value, template, lookup, ref" +
                             (f" (not {' and '.join(names.get(g, g) for g in given)})" if given else ""))
        if self.where is not None and self.lookup is None:
            raise ValueError("where: here filters a lookup; add lookup: Object.Field")
        if self.where is not None:
            parse_where(self.where)
        if self.lookup is not None and not re.match(r"^[A-Za-z][A-Za-z0-9_]*\.[A-Za-z][A-Za-z0-9_]*$", self.lookup):
            raise ValueError(f"lookup '{self.lookup}' must be Object.Field (PricebookEntry.UnitPrice)")
        if (self.ref is None) != (self.via is None):
            raise ValueError("ref: and via: go together (ref: AccountId, via: R1)")
        if self.template is not None and not template_fields(self.template):
            raise ValueError(f"template '{self.template}' names no field ({{Name}})")
        for t in self.transforms:
            parse_transform(t)
        return self

    @property
    def transforms(self) -> list[str]:
        return [self.transform] if isinstance(self.transform, str) else list(self.transform or [])

    @property
    def reads(self) -> list[str]:
        """The source record's fields this value is made from: `from`, `ref`, a template's fields and
        the fields its transforms take as arguments (`phone({BillingCountry})`)."""
        return [*(f for f in (self.source, self.ref) if f), *template_fields(self.template or ""),
                *transform_fields(self.transforms)]

    def label(self, recipe: str, field: str, how: str) -> str:
        """The rule plan rows name for this field (its ledger key hashes it: keep it stable)."""
        if self.rule:
            return f"{recipe}: {self.rule} → {field}"
        return f"{recipe} {how}" + (f" ({', '.join(self.transforms)})" if self.transforms else "")

    @property
    def is_constant(self) -> bool:
        return "value" in self.model_fields_set


_PLACEHOLDER = re.compile(r"\{([A-Za-z][A-Za-z0-9_.]*)\}")


def template_fields(template: str) -> list[str]:
    return _PLACEHOLDER.findall(template)


def short_field_specs(value):
    """`Name: ProductCode` is short for `Name: {from: ProductCode}`."""
    if isinstance(value, dict):
        return {k: ({"from": v} if isinstance(v, str) else v) for k, v in value.items()}
    return value


class LinesSpec(_Model):
    """A Xero array of records (`LineItems`) filled from a Salesforce child object: one element per live
    child record of the source record (by Id), each field mapped like a recipe's own fields."""

    source: str = Field(alias="from")    # the child object: OpportunityLineItem
    #: The child's field holding the source record's Id: OpportunityId.
    parent: str
    where: str | None = None
    fields: dict[str, FieldSpec]

    @field_validator("fields", mode="before")
    @classmethod
    def _short_fields(cls, value):
        return short_field_specs(value)

    @model_validator(mode="after")
    def _check(self) -> LinesSpec:
        for name in (self.source, self.parent):
            if not _API_NAME.match(name):
                raise ValueError(f"'{name}' is not a Salesforce API name")
        if self.where is not None:
            parse_where(self.where)
        if not self.fields:
            raise ValueError("map at least one field of each line")
        return self

    @property
    def conditions(self) -> tuple[Condition, ...]:
        return parse_where(self.where) if self.where else ()

    def reads(self) -> set[str]:
        """The child fields a line reads (its parent reference, sources, templates, conditions)."""
        out = {self.parent} | {c.field for c in self.conditions}
        for spec in self.fields.values():
            out |= set(spec.reads)
        return out


class DeclaredRecipe(_Model):
    title: str | None = None
    enabled: bool = True
    source: Side = Field(alias="from")
    to: Side
    match: list[MatchRule] = Field(default_factory=lambda: [MatchRule(kind="link")])
    fields: dict[str, FieldSpec]
    sync: Literal["one_way", "two_way"] = "one_way"
    #: Salesforce field → path in Xero's answer to the create (ItemID, Balances.AccountsReceivable.Outstanding).
    write_back: dict[str, str] = Field(default_factory=dict)
    #: What a record deleted on one side does to the record linked on the other (config/deletes.py, R1's
    #: form): `deletes: archive` is the source's side alone (a one-way recipe writes only its target);
    #: a two-way recipe may set each side, `{salesforce: …, xero: …, posted: …}`.
    deletes: DeletePolicies = DeletePolicies()
    #: A linked source record that no longer meets `from.where`/`filter`: `keep` its target as it is, or
    #: `delete` (the `deletes` policy applies as if the source were deleted: a deactivated Product's Item).
    filtered_out: Literal["keep", "delete"] = "keep"
    #: Xero array (LineItems) → the Salesforce child records that fill it.
    lines: dict[str, LinesSpec] = Field(default_factory=dict)
    #: With several Xero organisations (`routing:`), the source field holding the Account whose routing
    #: a record follows (`AccountId`; `Id` on Account), or `all`: every organisation plans every record.
    #: Unset: `routed_by` says (docs/architecture.md §4.4).
    route: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _is_declaration(cls, data):
        # `R9: {}` or a misspelt built-in (`R2x: {...}`) is named as a whole, not by its first missing key.
        if isinstance(data, dict) and not {"from", "source", "to", "fields"} & set(data):
            raise ValueError(f"not a built-in recipe ({', '.join(RECIPES)}); a declared recipe needs from:, to: and "
                             "fields:")
        return data

    @field_validator("fields", mode="before")
    @classmethod
    def _short_fields(cls, value):
        return short_field_specs(value)

    @field_validator("deletes", mode="before")
    @classmethod
    def _source_side(cls, value, info: ValidationInfo):
        # One policy is the source's side: read as both, an Account deleted would archive its Contact
        # and a Contact archived would delete its Account, which a one-line `deletes:` never asked for.
        source = info.data.get("source")
        if isinstance(value, str) and source is not None:
            return {source.system: value}
        return value

    @field_serializer("deletes")
    def _deletes_shown(self, d: DeletePolicies):
        # The effective policies (`recipes show`), as a team would write them back: a one-way recipe's is
        # its source's side, one word unless `posted` is set; a two-way recipe's names both sides.
        sides = ("salesforce", "xero") if self.sync == "two_way" else (self.source.system,)
        if len(sides) == 1 and d.posted == "hold_for_approval":
            return self.delete_policy(sides[0])
        return {**{side: self.delete_policy(side) for side in sides}, "posted": d.posted}

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: dict) -> dict:
        if not value:
            raise ValueError("map at least one field")
        for name in value:
            if not (_PATH.match(name) or group_of(name)):
                raise ValueError(f"'{name}' is not a field name or path")
        return value

    @field_validator("match")
    @classmethod
    def _match(cls, rules: list[MatchRule]) -> list[MatchRule]:
        if not rules or rules[0].kind != "link":
            raise ValueError("must start with link (an existing link always wins)")
        if len(set(rules)) != len(rules):
            raise ValueError("a rule is listed twice")
        if rules[0].via and len(rules) > 1:
            raise ValueError(f"{{link: {rules[0].via}}} pairs records by {rules[0].via}'s links alone: no rule "
                             "after it")
        if any(m.via for m in rules[1:]):
            raise ValueError("{link: CODE} stands alone: the pairs another recipe links")
        return rules

    @model_validator(mode="after")
    def _ends(self, info: ValidationInfo) -> DeclaredRecipe:
        if self.to.where is not None or self.to.filter is not None:
            raise ValueError("to: names where records go; conditions belong under from:")
        if self.source.system == self.to.system:
            raise ValueError("from: and to: must be one Salesforce object and one Xero collection")
        builtin = self.to.xero in CODE_TARGETS and bool((info.context or {}).get("builtin"))
        if self.to.xero is not None and self.to.xero not in XERO_TARGETS and not builtin:
            raise ValueError(f"sfxero writes these Xero collections from a declaration: "
                             f"{', '.join(sorted(XERO_TARGETS))}; not {self.to.xero}")
        if self.lines and self.to.xero is None:
            raise ValueError("lines: fills a Xero array (LineItems) from Salesforce child records; this recipe "
                             "writes to Salesforce")
        if self.write_back and self.to.xero is None:
            raise ValueError("write_back: sets Salesforce fields from Xero's answer to a create; this recipe "
                             "writes to Salesforce")
        if self.filtered_out == "delete" and not self.source.conditions:
            raise ValueError("filtered_out: delete removes what leaves the source's condition; from: has no "
                             "where: (or filter:)")
        if self.filtered_out == "delete" and self.delete_policy(self.source.system) == "ignore":
            raise ValueError("filtered_out: delete applies the deletes: policy, which is ignore: set deletes: "
                             "archive or hold_for_approval")
        if self.route is not None and self.source.xero is not None:
            raise ValueError("route: sends Salesforce records to the organisation their Account is routed to; "
                             "this recipe reads Xero, whose records are already one organisation's")
        if self.route not in (None, ROUTE_ALL) and not _PATH.match(self.route):
            raise ValueError(f"route: '{self.route}' is not a field name: the field holding the record's Account "
                             f"(AccountId), or {ROUTE_ALL}")
        return self

    @property
    def routed_by(self) -> str | None:
        """The source field naming the Account whose routing each record follows (None: every
        organisation's plan has every record). Unset `route:` on Account is its own `Id`; on a recipe
        with a field referenced through R1's links, that field (an Opportunity's `AccountId` follows
        the Account whose Contact it names); otherwise none, as Products are every organisation's Items."""
        if self.source.xero is not None or self.route == ROUTE_ALL:
            return None
        if self.route is not None:
            return self.route
        if self.source.salesforce == "Account":
            return "Id"
        return next((spec.ref for spec in self.fields.values() if spec.ref and spec.via == R1), None)

    @property
    def direction(self) -> str:
        return "sf_to_xero" if self.to.xero else "xero_to_sf"

    def delete_policy(self, deleted_in: str, *, posted: bool = False) -> str:
        """What a record deleted (voided, archived) in `deleted_in` ("salesforce" | "xero") does to the one
        linked on the other side, that one being (`posted`) or not an AUTHORISED/PAID accounting record."""
        return self.deletes.policy("", deleted_in, posted=posted)

    @property
    def writes_to(self) -> frozenset[str]:
        """The systems this recipe's plan writes into: its target, and its source too when two-way."""
        return frozenset({self.to.system, self.source.system} if self.sync == "two_way" else {self.to.system})

    @property
    def key_rule(self) -> MatchRule | None:
        """The first key pair: what a create is looked up by after a crash (lookup-before-create)."""
        return next((r for r in self.match if r.kind == "key"), None)

    @property
    def pairs_via(self) -> str | None:
        """The recipe whose links are this one's pairs (`match: [{link: R1}]`): it updates, never creates."""
        return self.match[0].via


def split_declared(data: dict) -> tuple[dict, dict]:
    """(built-in recipe options, declared recipes) of a `recipes:` mapping."""
    builtin = {k: v for k, v in data.items() if k in RECIPES}
    declared = {k: v for k, v in data.items() if k not in RECIPES}
    return builtin, declared


def check_name(name: str) -> str | None:
    if not isinstance(name, str) or not NAME.match(name):
        return "a recipe code is a letter then letters, digits or _ (16 at most: plan rows and links store it)"
    if name.upper() in RECIPES:
        return f"{name} differs from the built-in recipe {name.upper()} only by case; choose another code"
    return None


# ---- checks needing more than one field -------------------------------------------------------

@lru_cache(maxsize=1)
def xero_fields() -> dict[str, dict]:
    """Collection → {schema, fields: {path: {kind, enum?, read_only?}}}, from Xero's OpenAPI spec."""
    return json.loads((Path(__file__).with_name("xero_fields.json")).read_text())


def xero_field(collection: str, path: str) -> dict | None:
    if collection == "Contacts" and typed_element(path):
        return {"kind": "text"}  # Phones.DEFAULT, Addresses.POBOX.City: R1's names for Xero's typed arrays
    if collection == "Contacts" and group_of(path):
        return {"kind": "bool", "group": group_of(path)}
    return xero_fields().get(XERO_SCHEMA.get(collection, collection), {}).get("fields", {}).get(path)


#: A Contacts field `ContactGroups.<group name>`: whether the contact is a member of that Xero contact
#: group (true: add it, false: take it out). Xero's schema has ContactGroups as an array the contact
#: write ignores: membership is set through /ContactGroups/{id}/Contacts, and read from each group.
GROUP_PREFIX = "ContactGroups."
#: Xero's limit on a contact group's name.
GROUP_NAME_MAX = 50


def primary_contact_path(sobject: str | None, path: str) -> bool:
    """`Contact.<Field>` on an Account: a field of its primary Contact (the earliest-created with an
    Email, else the earliest), as R1's `mapping.contact_fields` read it."""
    return sobject == "Account" and path.startswith("Contact.") and path.count(".") == 1


def group_of(path: str) -> str | None:
    """The contact group a `ContactGroups.<name>` field names (any name Xero allows, spaces too), or None."""
    name = path[len(GROUP_PREFIX):].strip() if path.startswith(GROUP_PREFIX) else ""
    return name or None


def reads_contact_groups(declared: dict[str, "DeclaredRecipe"]) -> bool:
    """Whether an enabled declared recipe maps or reads contact group membership: extract then reads each
    active group's members (one call a group), which the list of groups leaves out."""
    return any(r.enabled and (r.to.xero == "Contacts" or r.source.xero == "Contacts")
               and any(group_of(f) for f in [*r.fields, *(s.source or "" for s in r.fields.values())])
               for r in declared.values())


def _value_kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "text" if isinstance(value, str) else "object"


def _fits(kind: str, target_kind: str) -> bool:
    if kind == target_kind or target_kind == "text" and kind in ("date", "datetime"):
        return True
    return kind in ("integer", "number") and target_kind in ("number", "integer")


def transform_problems(spec: FieldSpec, kind: str | None, value_maps: dict | None) -> list[tuple[str, str]]:
    """(key suffix, problem) of a field's transforms given the kind of its source value (None: not
    known here); value map names are checked when `value_maps` is given."""
    out = []
    for i, text in enumerate(spec.transforms):
        key = "transform" if isinstance(spec.transform, str) else f"transform[{i}]"
        name, args = parse_transform(text)
        t = TRANSFORMS[name]
        if kind is not None and kind not in t.accepts:
            out.append((key, f"{name} takes {' or '.join(sorted(t.accepts))} values; the source is {kind}"))
        if value_maps is not None and "map" in t.args and args[0] not in value_maps:
            out.append((key, f"no value map named '{args[0]}' in mapping.value_maps"))
        kind = t.gives if name != "text" else "text"
    return out


def _sf_reads(r: DeclaredRecipe) -> set[str]:
    """Fields of the Salesforce side this recipe reads (source fields, match keys when from Salesforce)."""
    out: set[str] = set()
    if r.source.salesforce:
        for spec in r.fields.values():
            out |= set(spec.reads)
        out |= {c.field for c in r.source.conditions}
        out |= {m.source for m in r.match if m.source}
    else:
        out |= {name for name, spec in r.fields.items() if r.sync == "two_way"}
        out |= {m.target for m in r.match if m.target}
    return out


def _sf_writes(r: DeclaredRecipe) -> dict[str, str]:
    """Salesforce field → the key that writes it (write-backs; fields of a recipe into Salesforce)."""
    if r.to.salesforce:
        return {name: f"fields.{name}" for name in r.fields}
    writes = {name: f"write_back.{name}" for name in r.write_back}
    if r.sync == "two_way":
        writes.update({spec.source: f"fields.{name}" for name, spec in r.fields.items() if spec.source})
    return writes


def write_back_cycles(declared: dict[str, DeclaredRecipe]) -> list[tuple[str, str]]:
    """(key, problem) for each write-back a recipe makes that feeds, through recipes reading it, back
    into itself: each push would change what the next plan reads, and the sync never settles."""
    objects = {n: (r.source.salesforce or r.to.salesforce) for n, r in declared.items() if r.enabled}
    edges: dict[str, set[str]] = {n: set() for n in objects}
    via: dict[tuple[str, str], tuple[str, str]] = {}
    for a, ra in declared.items():
        if a not in objects:
            continue
        for field, key in _sf_writes(ra).items():
            for b, rb in declared.items():
                if b in objects and objects[b] == objects[a] and field in _sf_reads(rb):
                    edges[a].add(b)
                    via.setdefault((a, b), (key, field))
    out = []
    for start in sorted(edges):
        path = _cycle(edges, start)
        if path and any(via[(path[i], path[i + 1])][0].startswith("write_back") for i in range(len(path) - 1)):
            key, field = via[(path[0], path[1])]
            out.append((f"recipes.{start}.{key}",
                        f"write-back cycle: {objects[start]}.{field} is written by {start} and read by "
                        f"{' → '.join(path[1:])}, so every push changes the next plan's input"))
    return out


def _cycle(edges: dict[str, set[str]], start: str) -> list[str] | None:
    stack = [(start, [start])]
    seen = set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(edges[node]):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def _side_name(side: Side) -> str:
    return f"Salesforce {side.salesforce}" if side.salesforce else f"Xero {side.xero}"


def static_problems(declared: dict[str, DeclaredRecipe], value_maps: dict, xero_objects: list[str],
                    sf_objects: list[str]) -> list[tuple[str, str]]:
    """(key, problem) found without a Salesforce describe: Xero fields and their kinds against the
    spec, constants against the target's kinds, owners of two-way fields, value maps, references,
    what extract stages, write-back cycles."""
    out: list[tuple[str, str]] = []
    for name, r in declared.items():
        k = f"recipes.{name}"
        out += _pairs_via_problems(name, r, declared)
        if r.to.salesforce:
            if r.key_rule is None and not r.pairs_via:
                out.append((f"{k}.match", "a recipe into Salesforce needs a key pair after link, {ExternalIdField: "
                                          "XeroIdPath} (Xero_Id__c: InvoiceID): a create is an upsert on it, so a "
                                          "retried create never makes a second record"))
            coll_in = r.source.xero or ""
            if r.sync == "two_way" and coll_in not in XERO_TARGETS:
                out.append((f"{k}.sync", f"a two-way recipe writes Salesforce-owned fields back to Xero {coll_in}, which "
                                         f"sfxero does not write (it writes {', '.join(sorted(XERO_TARGETS))})"))
            elif r.sync == "two_way":
                for field, spec in r.fields.items():
                    info = xero_field(coll_in, spec.source or "") or {}
                    if spec.owner not in (None, "xero") and spec.source and info.get("group"):
                        out.append((f"{k}.fields.{field}.owner", f"contact group membership ({spec.source}) is "
                                                                 "written only by a recipe into Xero Contacts"))
                    elif spec.owner not in (None, "xero") and spec.source and (
                            info.get("read_only") or spec.source == XERO_TARGETS[coll_in][1]):
                        out.append((f"{k}.fields.{field}.owner", f"Xero {coll_in} {spec.source} cannot be written: "
                                                                 "only Xero can own it"))
        xero_side = r.to if r.to.xero else r.source
        coll = xero_side.xero or ""
        if r.to.xero:
            for field, spec in r.fields.items():
                info = xero_field(coll, field)
                if info is None:
                    out.append((f"{k}.fields.{field}", f"Xero {coll} have no field {field} (see Xero's {coll} schema)"))
                    continue
                if info["kind"] == "array":
                    out.append((f"{k}.fields.{field}", f"{field} is an array in Xero's schema: fill its records under "
                                                       f"lines: ({field}: {{from: ChildObject, parent: ..., fields: ...}})"))
                elif info["kind"] == "object":
                    out.append((f"{k}.fields.{field}", f"{field} is an object in Xero's schema: map its fields "
                                                       f"({field}.<Field>)"))
                elif info.get("read_only"):
                    out.append((f"{k}.fields.{field}", f"{field} is read-only in Xero"))
                elif info.get("group") and len(info["group"]) > GROUP_NAME_MAX:
                    out.append((f"{k}.fields.{field}", f"a Xero contact group name is at most {GROUP_NAME_MAX} "
                                                       "characters"))
                elif field == XERO_TARGETS[coll][1]:
                    out.append((f"{k}.fields.{field}", f"{field} is the record's id, which Xero sets (to keep it in "
                                                       "Salesforce, name it under write_back:)"))
                if spec.is_constant and spec.value is not None and not _fits(_value_kind(spec.value), info["kind"]):
                    out.append((f"{k}.fields.{field}.value", f"{spec.value!r} is not a {info['kind']} ({coll}.{field})"))
                if info.get("enum") and spec.is_constant and spec.value not in info["enum"]:
                    out.append((f"{k}.fields.{field}.value", f"{spec.value!r} is not one of {', '.join(info['enum'])}"))
            for sf_field, path in r.write_back.items():
                if xero_field(coll, path) is None:
                    out.append((f"{k}.write_back.{sf_field}", f"Xero {coll} have no field {path} to write back"))
            out += _lines_problems(k, coll, r, sf_objects)
        else:
            for field, spec in r.fields.items():
                for f in spec.reads:
                    info = xero_field(coll, f)
                    if info is None:
                        out.append((f"{k}.fields.{field}", f"Xero {coll} have no field {f}"))
                    elif f == spec.source:
                        out += [(f"{k}.fields.{field}.{s}", p) for s, p in transform_problems(spec, info["kind"], None)]
                if spec.lookup:
                    out.append((f"{k}.fields.{field}", "lookup: reads related Salesforce records; this recipe's "
                                                       "source is Xero"))
            for c in r.source.conditions:
                if xero_field(coll, c.field) is None:
                    out.append((f"{k}.from.filter", f"Xero {coll} have no field {c.field}"))
        for i, m in enumerate(r.match):
            xf = m.target if r.to.xero else m.source
            if m.kind != "link" and xero_field(coll, xf or "") is None:
                out.append((f"{k}.match[{i}]", f"Xero {coll} have no field {xf}"))
        for field, spec in r.fields.items():
            out += [(f"{k}.fields.{field}.{s}", p) for s, p in transform_problems(spec, None, value_maps)]
            if spec.create_only and r.sync == "two_way":
                out.append((f"{k}.fields.{field}.create_only", "a field sent on a create only is never kept in step: "
                                                               "it has no owner in a two-way recipe (sync: one_way)"))
            if r.sync == "two_way" and spec.owner is None:
                out.append((f"{k}.fields.{field}.owner", "a two-way recipe names who wins each field: salesforce, xero "
                                                         "or last_writer"))
            if r.sync == "two_way" and not spec.source and spec.owner not in (None, "salesforce" if r.to.xero else "xero"):
                out.append((f"{k}.fields.{field}.owner", "only a field mapped from a source field can flow back"))
            if spec.via is not None:
                if linked_ends(spec.via, declared) is None:
                    out.append((f"{k}.fields.{field}.via", f"no recipe {spec.via} keeps links to go through "
                                                           f"({', '.join(LINKED_BUILTINS)} or a declared recipe)"))
                elif spec.via in declared and declared[spec.via].source.system != "salesforce" and r.source.salesforce:
                    out.append((f"{k}.fields.{field}.via", f"{spec.via} links Xero records to Salesforce ones; a ref "
                                                           "goes from a Salesforce id to a Xero id"))
        if r.sync == "one_way" and r.delete_policy(r.to.system) != "ignore":
            out.append((f"{k}.deletes.{r.to.system}", f"a one-way recipe writes only to {_side_name(r.to)}: a record "
                                                      f"deleted there removes nothing from {_side_name(r.source)} "
                                                      "(set sync: two_way)"))
        if r.sync == "one_way":
            for field, spec in r.fields.items():
                if spec.owner is not None and spec.owner != r.source.system:
                    out.append((f"{k}.fields.{field}.owner", f"a one-way recipe's fields are owned by its source "
                                                             f"({r.source.system}); set sync: two_way"))
        staged = xero_objects if r.source.xero or r.to.xero else []
        key = XERO_SOURCES[coll] if coll in XERO_SOURCES else None
        if key and key not in staged:
            out.append((f"{k}.{'from' if r.source.xero else 'to'}.xero",
                        f"extract.xero.objects must include {key} (the recipe reads the staged {coll})"))
        if staged and "contact_groups" not in staged and reads_contact_groups({name: r}):
            out.append((f"{k}.fields", "extract.xero.objects must include contact_groups (the recipe reads "
                                       "contact group membership)"))
        sf_obj = r.source.salesforce or r.to.salesforce
        needed = [sf_obj] + [s.lookup.split(".")[0] for s in r.fields.values() if s.lookup]
        for obj in dict.fromkeys(needed):
            if obj not in sf_objects:
                out.append((f"{k}.{'from' if obj == r.source.salesforce else 'to'}.salesforce" if obj == sf_obj
                            else f"{k}.fields", f"extract.salesforce.objects must include {obj} (read by {name})"))
    out += write_back_cycles(declared)
    return out


def paired_write_backs(declared: dict[str, DeclaredRecipe], via: str, sobject: str) -> dict[str, object]:
    """Salesforce field → path (or {path, default}) in Xero's answer to `via`'s create, for the enabled
    declared recipes that update the `sobject` records `via` links (`match: [{link: via}]`): written back
    with the create (push/writeback.py), so their next plan finds the new record in sync instead of
    updating it a cycle later. A field with a transform is left to that plan: the answer's raw value is
    not what it writes. Xero's answer to a Contact write carries no `Balances`: a contact created a
    moment ago owes nothing, so a balance with no default of its own is written back as 0."""
    out: dict[str, object] = {}
    for r in declared.values():
        if r.enabled and r.pairs_via == via and r.to.salesforce == sobject:
            for field, spec in r.fields.items():
                default = spec.default
                if default is None and r.source.xero == "Contacts" and (spec.source or "").startswith("Balances."):
                    default = 0.0
                if spec.source and not spec.transforms:
                    out.setdefault(field, spec.source if default is None else {"path": spec.source, "default": default})
    return out


def linked_ends(via: str, declared: dict[str, DeclaredRecipe]) -> tuple[str, str] | None:
    """(Salesforce object, Xero collection) the links of recipe `via` join, a built-in's or a declared one's;
    None when no recipe of that code keeps links."""
    if via in LINKED_BUILTINS:
        return LINKED_BUILTINS[via]
    other = declared.get(via)
    return None if other is None else (other.source.salesforce or other.to.salesforce,
                                       other.source.xero or other.to.xero)


def _pairs_via_problems(name: str, r: DeclaredRecipe, declared: dict[str, DeclaredRecipe]) -> list[tuple[str, str]]:
    """`match: [{link: VIA}]`: VIA must link this recipe's two ends, into Salesforce, and deletes stay VIA's."""
    via, k = r.pairs_via, f"recipes.{name}"
    if via is None:
        return []
    out = []
    if r.to.xero:
        out.append((f"{k}.match[0]", f"{{link: {via}}} updates the Salesforce records {via} links; this recipe "
                                     "writes to Xero (pair with link and a key pair instead)"))
    ends = linked_ends(via, declared) if via != name else None
    if ends is None:
        return out + [(f"{k}.match[0]", f"no recipe {via} keeps links to pair through ({', '.join(LINKED_BUILTINS)} "
                                        "or another declared recipe)")]
    mine = (r.source.salesforce or r.to.salesforce, r.source.xero or r.to.xero)
    if tuple(ends) != mine:
        out.append((f"{k}.match[0]", f"{via} links Salesforce {ends[0]} to Xero {ends[1]}, not {mine[0]} to "
                                     f"{mine[1]}"))
    if any(r.delete_policy(side) != "ignore" for side in ("salesforce", "xero")):
        out.append((f"{k}.deletes", f"the records belong to {via}, which decides their deletes: ignore"))
    return out


#: A line field `Tracking.<Category>`: the line's option in that Xero tracking category (Xero allows two).
TRACKING_PREFIX = "Tracking."


def _lines_problems(k: str, coll: str, r: DeclaredRecipe, sf_objects: list[str]) -> list[tuple[str, str]]:
    out = []
    for array, spec in r.lines.items():
        key = f"{k}.lines.{array}"
        info = xero_field(coll, array)
        if info is None or info["kind"] != "array" or "items" not in info:
            out.append((key, f"Xero {coll} have no array of records named {array}"))
            continue
        if array in r.fields:
            out.append((key, f"{array} is filled by lines: and also mapped under fields:"))
        if spec.source not in sf_objects:
            out.append((f"{key}.from", f"extract.salesforce.objects must include {spec.source} (read by "
                                       f"{k.split('.', 1)[1]})"))
        for field, fs in spec.fields.items():
            line = info["items"].get(field)
            if field.startswith(TRACKING_PREFIX) and "Tracking" in info["items"]:
                line = {"kind": "text"}  # Tracking.<Category>: the option's name in that tracking category
            if line is None or line["kind"] == "array":
                out.append((f"{key}.fields.{field}", f"Xero {coll} {array} have no field {field}"
                                                     + (" (name a category: Tracking.Region)" if field == "Tracking" else "")))
                continue
            if fs.lookup or fs.ref:
                out.append((f"{key}.fields.{field}", "a line field takes from:, value: or template: (a path such as "
                                                     "Product2.ProductCode reads a related record)"))
            if line.get("read_only"):
                out.append((f"{key}.fields.{field}", f"{field} is read-only in Xero"))
            if fs.is_constant and fs.value is not None and not _fits(_value_kind(fs.value), line["kind"]):
                out.append((f"{key}.fields.{field}.value", f"{fs.value!r} is not a {line['kind']} ({array}.{field})"))
    return out


#: A Salesforce describe as the checks need it: object → {field API name: describe type} (None: no such object).
Describe = dict[str, dict[str, str] | None]


def salesforce_problems(declared: dict[str, DeclaredRecipe], describe) -> list[tuple[str, str]]:
    """(key, problem) against a describe: `describe(object)` → {field: type} or None when the org has
    no such object. Unknown objects and fields on the Salesforce side, and transforms on the wrong kind."""
    out: list[tuple[str, str]] = []
    for name, r in declared.items():
        k = f"recipes.{name}"
        sf_obj = r.source.salesforce or r.to.salesforce
        fields = describe(sf_obj)
        side = "from" if r.source.salesforce else "to"
        if fields is None:
            out.append((f"{k}.{side}.salesforce", f"unknown Salesforce object {sf_obj}"))
            continue
        lower = {f.lower(): t for f, t in fields.items()}

        def kind_of(obj_fields: dict[str, str], path: str, obj: str | None = None) -> str | None | bool:
            """The field's kind; False when the object has no such field; a path follows a reference (or,
            on an Account, `Contact.` names its primary Contact)."""
            low = {f.lower(): t for f, t in obj_fields.items()}
            head, _, rest = path.partition(".")
            if primary_contact_path(obj, path):
                contact = describe("Contact")
                return False if contact is None else kind_of(contact, rest, "Contact")
            if not rest:
                t = low.get(head.lower())
                # anyType: a field whose kind is not known (staged without a cached describe): not checked.
                return False if t is None else None if t == "anyType" else SF_KINDS.get(t, "text")
            ref = head + "Id" if not head.endswith("__r") else head[:-3] + "__c"
            if ref.lower() not in low:
                return False
            related = describe(head if not head.endswith("__r") else head[:-3] + "__c")
            return "text" if related is None else kind_of(related, rest)

        def check(key: str, path: str, obj_fields=lower, obj=sf_obj) -> str | None | bool:
            kind = kind_of(obj_fields, path, obj)
            if kind is False:
                out.append((key, f"Salesforce {obj} has no field {path}"))
            return kind

        for c in r.source.conditions if r.source.salesforce else ():
            check(f"{k}.from.where", c.field)
        for i, m in enumerate(r.match):
            if m.kind != "link":
                check(f"{k}.match[{i}]", m.source if r.source.salesforce else m.target)
        for field, spec in r.fields.items():
            key = f"{k}.fields.{field}"
            if r.to.salesforce:
                if primary_contact_path(sf_obj, field):
                    out.append((key, f"a recipe into Salesforce writes the Account's own fields; its primary Contact's "
                                     f"({field}) come back through a two-way recipe from Account (owner: xero)"))
                    continue
                kind = check(key, field)
                if kind is not False and spec.is_constant and spec.value is not None and \
                        not _fits(_value_kind(spec.value), kind or "text"):
                    out.append((f"{key}.value", f"{spec.value!r} is not a {kind} ({sf_obj}.{field})"))
                continue
            if spec.source:
                kind = check(key, spec.source)
                if kind is not False:
                    out += [(f"{key}.{s}", p) for s, p in transform_problems(spec, kind, None)]
            for f in template_fields(spec.template or ""):
                check(f"{key}.template", f)
            for f in transform_fields(spec.transforms):
                check(f"{key}.transform", f)
            if spec.ref:
                check(f"{key}.ref", spec.ref)
            if spec.lookup:
                obj, lf = spec.lookup.split(".")
                other = describe(obj)
                if other is None:
                    out.append((f"{key}.lookup", f"unknown Salesforce object {obj}"))
                    continue
                kind = check(f"{key}.lookup", lf, other, obj)
                if not any(f.lower() == f"{sf_obj.lower()}id" or f.lower() == f"{sf_obj.lower()}" for f in other):
                    out.append((f"{key}.lookup", f"Salesforce {obj} has no reference to {sf_obj} ({sf_obj}Id)"))
                for c in parse_where(spec.where) if spec.where else ():
                    check(f"{key}.where", c.field, {f: t for f, t in other.items()}, obj)
                if kind is not False:
                    out += [(f"{key}.{s}", p) for s, p in transform_problems(spec, kind, None)]
        for f in r.write_back:
            check(f"{k}.write_back.{f}", f)
        if r.route is not None and r.routed_by is not None:
            check(f"{k}.route", r.routed_by)
        for array, spec in r.lines.items():
            key = f"{k}.lines.{array}"
            child = describe(spec.source)
            if child is None:
                out.append((f"{key}.from", f"unknown Salesforce object {spec.source}"))
                continue
            low = {f.lower(): t for f, t in child.items()}
            check(f"{key}.parent", spec.parent, low, spec.source)
            for c in spec.conditions:
                check(f"{key}.where", c.field, low, spec.source)
            for field, fs in spec.fields.items():
                if fs.source:
                    kind = check(f"{key}.fields.{field}", fs.source, low, spec.source)
                    if kind is not False:
                        out += [(f"{key}.fields.{field}.{s}", p) for s, p in transform_problems(fs, kind, None)]
                for f in template_fields(fs.template or ""):
                    check(f"{key}.fields.{field}.template", f, low, spec.source)
                for f in transform_fields(fs.transforms):
                    check(f"{key}.fields.{field}.transform", f, low, spec.source)
    return out


def item_code_sources(declared: dict[str, DeclaredRecipe]) -> list[tuple[str, str]]:
    """(Salesforce object, field) whose values enabled declared recipes write as Xero Item codes:
    the invoice checks count those codes as items the same push creates (before the invoices)."""
    return [(r.source.salesforce, r.fields["Code"].source) for r in declared.values()
            if r.enabled and r.to.xero == "Items" and r.source.salesforce and "Code" in r.fields
            and r.fields["Code"].source and "." not in r.fields["Code"].source]
