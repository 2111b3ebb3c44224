"""The built-in recipes planned by the declared-recipe engine, as the package ships them
(`builtin_recipes.yaml`, docs/architecture.md §5.3), and how `recipes.<code>` in sfxero.yaml overrides
one: each key given replaces the shipped key of that name (`fields:` whole, so a team starts from
`sfxero recipes show R3`); `enabled: false` turns it off.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import yaml

from ..recipes import R3, R4
from .declared import DeclaredRecipe

#: The built-ins whose behaviour is their shipped declaration.
ENGINE_BUILTINS: tuple[str, ...] = (R3, R4)
#: What a team may change of one: the rest (its ends, its match) is how its family plans it, on the
#: pairs of that family's pass.
OVERRIDABLE = frozenset({"enabled", "title", "fields"})


@lru_cache(maxsize=1)
def _shipped() -> dict[str, dict]:
    return yaml.safe_load(Path(__file__).with_name("builtin_recipes.yaml").read_text())


def with_shipped(name: str, given) -> dict:
    """The declaration `recipes.<name>` stands for: the shipped one, each key of `given` replacing its own."""
    base = copy.deepcopy(_shipped()[name])
    if not isinstance(given, dict):
        return base if given is None else given  # not a mapping: the model names the problem
    given = dict(given)
    if given.get("filters") == []:
        # R3's options took `filters:` before it was a declaration (they never filtered it): an empty
        # list loads as before; a real one is an unknown key (filter invoices under `from:`).
        given.pop("filters")
    return {**base, **given}


def override_problems(recipes) -> list[tuple[str, str]]:
    """(key, problem) of each key given under a built-in declaration that may not change."""
    out = []
    for name in ENGINE_BUILTINS:
        given, shipped = getattr(recipes, name), DeclaredRecipe.model_validate(with_shipped(name, None))
        for key, info in DeclaredRecipe.model_fields.items():
            if key not in OVERRIDABLE and getattr(given, key) != getattr(shipped, key):
                out.append((f"recipes.{name}.{info.alias or key}",
                            f"{name} is planned on {shipped.pairs_via}'s pairs in their pass: only fields:, title: and "
                            f"enabled: change here (to match or write otherwise, turn {name} off and declare a recipe "
                            "of your own)"))
    return out
