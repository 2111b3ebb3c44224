"""`sfxero.yaml`: what to extract and how, validated on load with errors that name the key.

Read from `$SFXERO_CONFIG` or `./sfxero.yaml`; every key is optional and defaults to SPEC §2's
recipes and the objects they touch. Unknown keys are errors (a typo must not silently fall back to
a default). Later stages add their own sections (mapping, ownership, schedules) to this model.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from .config_model import StrictModel
from .errors import ConfigError
from .push.settings import NotifyConfig, PushConfig, SchedulesConfig
from .reconcile.settings import MappingConfig, Recipes, check_references

DEFAULT_CONFIG_PATH = Path("sfxero.yaml")

DEFAULT_SALESFORCE_OBJECTS = [
    "Account", "Contact", "Opportunity", "OpportunityLineItem", "Product2", "Pricebook2", "PricebookEntry",
    "Lead", "Campaign", "CampaignMember", "Order", "OrderItem",
]
XeroObject = Literal[
    "contacts", "invoices", "bills", "credit_notes", "bank_transactions", "payments",
    "items", "accounts", "tax_rates", "currencies",
]
DEFAULT_XERO_OBJECTS: list[str] = list(XeroObject.__args__)


class SalesforceExtract(StrictModel):
    #: API names; custom objects (`Invoice_Run__c`) work too: fields come from describe.
    objects: list[str] = Field(default_factory=lambda: list(DEFAULT_SALESFORCE_OBJECTS))
    #: REST page size (Sforce-Query-Options batchSize): 200..2000.
    batch_size: int = Field(2000, ge=200, le=2000)
    #: Windows expected to be larger than this use Bulk API 2.0 instead of REST query.
    bulk_threshold: int = Field(50_000, ge=2_000)
    #: Describe results are reused for this long, so an unchanged incremental run costs one call.
    describe_ttl_hours: float = Field(24, ge=0)
    #: How often to ask /deleted for records purged from the recycle bin (invisible to queryAll).
    deleted_check_hours: float = Field(24, ge=0)

    @field_validator("objects")
    @classmethod
    def _api_names(cls, objects: list[str]) -> list[str]:
        for name in objects:
            if not name.replace("_", "").isalnum() or not name[0].isalpha():
                raise ValueError(f"'{name}' is not a Salesforce object API name")
        if len(set(objects)) != len(objects):
            raise ValueError("an object is listed twice")
        return objects


class XeroExtract(StrictModel):
    objects: list[XeroObject] = Field(default_factory=lambda: list(DEFAULT_XERO_OBJECTS))
    page_size: int = Field(1000, ge=1, le=1000)


class ExtractConfig(StrictModel):
    #: First daily partition: a backfill from here is the historical sync.
    start_date: dt.date = Field(dt.date(2024, 1, 1), strict=False)
    #: Incremental reads start this far before the saved cursor: late commits and same-second
    #: writes land behind a cursor, and the upsert makes re-reading them harmless.
    lookback_seconds: int = Field(300, ge=0, le=86_400)
    salesforce: SalesforceExtract = SalesforceExtract()
    xero: XeroExtract = XeroExtract()

    @field_validator("start_date")
    @classmethod
    def _not_in_future(cls, start: dt.date) -> dt.date:
        # Partitions are UTC days from start_date: a later start leaves no partition for today, so
        # no sync could run at all.
        today = dt.datetime.now(dt.timezone.utc).date()
        if start > today:
            raise ValueError(f"{start.isoformat()} is in the future (today is {today.isoformat()} UTC): "
                             "the first daily partition must be today or earlier")
        return start


class ChecksConfig(StrictModel):
    """Data-quality checks in front of reconciliation and push (`sfxero_pipelines/checks`)."""

    #: Share of a table's rows failing record-level expectations above which the whole table blocks
    #: (below it, the bad records are held and the rest proceed).
    max_bad_share: float = Field(0.1, ge=0, le=1)
    #: Rounding allowed between an invoice's Total and the sum of its lines (+ tax).
    total_tolerance: float = Field(0.01, ge=0)
    #: Dates before this, or more than `max_future_days` ahead, are out of range.
    min_date: dt.date = Field(dt.date(2000, 1, 1), strict=False)
    max_future_days: int = Field(3650, ge=1)
    #: WARN when a table's newest extract is older than this.
    freshness_hours: float = Field(26, gt=0)
    #: WARN when a table's row count fell by more than this share since the previous extract run.
    row_count_drop: float = Field(0.2, gt=0, le=1)
    #: WARN about Salesforce describe drift recorded within this many hours.
    schema_drift_hours: float = Field(24, gt=0)
    #: Failing ids shown per check result in the Dagster UI.
    sample_size: int = Field(20, ge=1, le=500)


class SfxeroConfig(StrictModel):
    extract: ExtractConfig = ExtractConfig()
    checks: ChecksConfig = ChecksConfig()
    #: Field mappings, value maps and ownership (reconcile; see reconcile/settings.py).
    mapping: MappingConfig = MappingConfig()
    #: Which recipes run and their options (SPEC §2).
    recipes: Recipes = Recipes()
    #: Batch sizes of the writes (push/settings.py).
    push: PushConfig = PushConfig()
    #: When the extract → check → reconcile cycle runs.
    schedules: SchedulesConfig = SchedulesConfig()
    #: Where failed runs are reported (logged when neither is set).
    notify: NotifyConfig = NotifyConfig()


#: What each recipe reads from staging (its reconcile step stops without these tables), so a
#: configuration that leaves one out is refused on load rather than failing the reconcile run.
RECIPE_SALESFORCE_OBJECTS = {"R1": ("Account",), "R4": ("Account",), "R5": ("Account",),
                             "R2": ("Opportunity",), "R3": ("Opportunity",), "R7": ("Order",)}
RECIPE_XERO_OBJECTS = {"R1": ("contacts",), "R4": ("contacts",), "R5": ("contacts",),
                       "R6": ("contacts", "invoices")}


def _check_recipe_objects(config: SfxeroConfig) -> None:
    for system, needs in (("salesforce", RECIPE_SALESFORCE_OBJECTS), ("xero", RECIPE_XERO_OBJECTS)):
        listed = set(getattr(config.extract, system).objects)
        missing: dict[str, list[str]] = {}
        for recipe, objects in needs.items():
            if getattr(config.recipes, recipe).enabled:
                for obj in objects:
                    if obj not in listed:
                        missing.setdefault(obj, []).append(recipe)
        if missing:
            obj, recipes = next(iter(missing.items()))
            raise KeyError(f"extract.{system}.objects", f"must include {obj} (read by {', '.join(recipes)}; "
                           "or disable those recipes under recipes:)")


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_config(data: dict | None, source: str = "sfxero.yaml") -> SfxeroConfig:
    try:
        config = SfxeroConfig.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key"
        raise ConfigError(f"{source}: {_key_path(first['loc'])}", message) from None
    try:
        check_references(config.mapping, config.recipes)
        _check_recipe_objects(config)
    except KeyError as exc:
        raise ConfigError(f"{source}: {exc.args[0]}", exc.args[1]) from None
    return config


def config_path() -> Path:
    return Path(os.environ.get("SFXERO_CONFIG") or DEFAULT_CONFIG_PATH)


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> SfxeroConfig:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(path, f"not valid YAML{where}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(path, "expected a mapping at the top level")
    return parse_config(data, source=path)


def load_config() -> SfxeroConfig:
    path = config_path()
    if not path.exists():
        if os.environ.get("SFXERO_CONFIG"):
            raise ConfigError("SFXERO_CONFIG", f"{path} does not exist")
        return SfxeroConfig()
    return _load(str(path), path.stat().st_mtime)
