"""`sfxero.yaml`, validated on load with errors that name the key: the one place configuration lives.

Read from `$SFXERO_CONFIG` or `./sfxero.yaml`; every key is optional and defaults to the built-in
recipes (docs/architecture.md §5) and the objects they touch. Unknown keys are errors (a typo must not
silently fall back to a default). One module per section (`extract.py`, `checks.py`, `mapping.py`,
`recipes.py`, `push.py`, `schedules.py`, `notify.py`, `realtime.py`, `routing.py`); this one holds the whole and its loader.
Stages import their section from here; no stage imports another stage's settings.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from ..errors import ConfigError
from ..recipes import R1, R2, R3, R4, R5, R6, R7
from .base import StrictModel
from .checks import ChecksConfig
from .builtin_declared import override_problems
from .declared import check_name, static_problems
from .extract import (DEFAULT_SALESFORCE_OBJECTS, DEFAULT_XERO_OBJECTS, ExtractConfig, SalesforceExtract,
                      XeroExtract, XeroObject)
from .mapping import MappingConfig
from .notify import NotifyConfig, SmtpConfig
from .push import PushConfig
from .realtime import RealtimeConfig
from .routing import RoutingConfig, RoutingRule
from .recipes import Recipes, check_references
from .schedules import SchedulesConfig

DEFAULT_CONFIG_PATH = Path("sfxero.yaml")

__all__ = [
    "DEFAULT_SALESFORCE_OBJECTS", "DEFAULT_XERO_OBJECTS", "ChecksConfig", "ExtractConfig", "MappingConfig",
    "NotifyConfig", "PushConfig", "RealtimeConfig", "Recipes", "RoutingConfig", "RoutingRule", "SalesforceExtract", "SchedulesConfig",
    "SfxeroConfig", "SmtpConfig", "XeroExtract", "XeroObject", "config_path", "config_problems", "load_config",
    "parse_config", "read_yaml",
]


class SfxeroConfig(StrictModel):
    extract: ExtractConfig = ExtractConfig()
    checks: ChecksConfig = ChecksConfig()
    #: Field mappings, value maps and ownership (mapping.py).
    mapping: MappingConfig = MappingConfig()
    #: Which recipes run and their options (recipes.py).
    recipes: Recipes = Recipes()
    #: Batch sizes of the writes (push.py).
    push: PushConfig = PushConfig()
    #: When the extract → check → reconcile cycle runs.
    schedules: SchedulesConfig = SchedulesConfig()
    #: Where failed runs are reported (logged when neither is set).
    notify: NotifyConfig = NotifyConfig()
    #: The real-time lane: webhooks and Salesforce change polling (realtime.py).
    realtime: RealtimeConfig = RealtimeConfig()
    #: Which Xero organisation each Account belongs to, when several are connected (routing.py).
    routing: RoutingConfig = RoutingConfig()


#: What each recipe reads from staging (its reconcile step stops without these tables), so a
#: configuration that leaves one out is refused on load rather than failing the reconcile run.
RECIPE_SALESFORCE_OBJECTS = {R1: ("Account",), R4: ("Account",), R5: ("Account",),
                             R2: ("Opportunity",), R3: ("Opportunity",), R7: ("Order",)}
# Leaving one of these out while a recipe reading it is on would make Xero look empty to it: it would plan
# duplicates. Refused on load instead.
RECIPE_XERO_OBJECTS = {R1: ("contacts",), R4: ("contacts",), R5: ("contacts",), R2: ("invoices",),
                       R3: ("invoices",), R7: ("invoices",), R6: ("contacts", "invoices")}


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
    # `recipes.declared.<code>` is spelt `recipes.<code>` in the file (config/recipes.py).
    loc = tuple(p for i, p in enumerate(loc) if not (p == "declared" and i and loc[i - 1] == "recipes"))
    for part in loc:
        # Pydantic names the branch of a union it tried (`str`, `list[str]`): not a key of the file.
        if part in ("str", "list[str]", "function-after[_short_fields(), dict[str,FieldSpec]]"):
            continue
        if isinstance(part, str) and part.startswith(("function-", "literal[")):
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _declared_problems(config: SfxeroConfig) -> list[tuple[str, str]]:
    """Problems of the declarations (the team's, and R3's and R4's as shipped or overridden) found without
    a Salesforce describe (config/declared.py, config/builtin_declared.py)."""
    named = [(f"recipes.{n}", why) for n in config.recipes.declared if (why := check_name(n))]
    return named + override_problems(config.recipes) + static_problems(config.recipes.declarations, config.mapping.value_maps,
                                   list(config.extract.xero.objects), list(config.extract.salesforce.objects))


def config_problems(data: dict | None, source: str = "sfxero.yaml") -> tuple[SfxeroConfig | None, list[str]]:
    """(the config when it loads, every problem as one line naming its key): what
    `sfxero recipes validate` prints; `parse_config` raises the first."""
    try:
        config = SfxeroConfig.model_validate(data or {})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            lines.append(f"{source}: {_key_path(err['loc'])}: {message}")
        return None, list(dict.fromkeys(lines))
    lines = []
    try:
        check_references(config.mapping, config.recipes)
        _check_recipe_objects(config)
    except KeyError as exc:
        lines.append(f"{source}: {exc.args[0]}: {exc.args[1]}")
    lines += [f"{source}: {key}: {problem}" for key, problem in _declared_problems(config)]
    return config, list(dict.fromkeys(lines))


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
    if problems := _declared_problems(config):
        raise ConfigError(f"{source}: {problems[0][0]}", problems[0][1])
    return config


def config_path() -> Path:
    return Path(os.environ.get("SFXERO_CONFIG") or DEFAULT_CONFIG_PATH)


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> SfxeroConfig:
    return parse_config(read_yaml(path), source=path)


def read_yaml(path: str | Path) -> dict | None:
    """A config file's mapping (None when empty); a ConfigError names a file that is not one."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(str(path), f"not valid YAML{where}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(str(path), "expected a mapping at the top level")
    return data


def load_config() -> SfxeroConfig:
    path = config_path()
    if not path.exists():
        if os.environ.get("SFXERO_CONFIG"):
            raise ConfigError("SFXERO_CONFIG", f"{path} does not exist")
        return SfxeroConfig()
    return _load(str(path), path.stat().st_mtime)
