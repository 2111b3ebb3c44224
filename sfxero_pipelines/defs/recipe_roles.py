"""Which recipe each asset serves, in words, for the asset descriptions the UI shows.

`FAMILY_TABLES`: the staged tables each recipe family reads (the plan assets' deps). `serves(table)`:
the sentence an extract asset's description ends with; `plan_description(recipe)` says what a plan
asset is, and that it is disabled when sfxero.yaml turns its recipe off (the asset stays, so its
history does; it plans nothing).
"""

from __future__ import annotations

from ..config import load_config
from ..recipes import RECIPE_TITLES
from ..reconcile.build import FAMILIES, FAMILY_TABLES


def enabled(recipe: str) -> bool:
    return getattr(load_config().recipes, recipe).enabled


def serves(table: str) -> str:
    """"Read by R1 (…) and R4 (…)." for the enabled recipes reading `table`, or what it is for otherwise."""
    recipes = sorted({r for family, tables in FAMILY_TABLES.items() if table in tables for r in FAMILIES[family]
                      if enabled(r)})
    if not recipes:
        return "No enabled recipe reads it: staged for the checks and for your own queries."
    return "Read by " + ", ".join(f"{r} ({RECIPE_TITLES[r]})" for r in recipes) + "."


def plan_description(recipe: str) -> str:
    text = (f"The {recipe} sync plan ({RECIPE_TITLES[recipe]}): what the next push creates, updates, deletes or "
            f"holds, record by record with the fields that differ, stored in sync_plan.")
    if enabled(recipe):
        return text
    return f"Disabled: recipes.{recipe}.enabled is false in sfxero.yaml, so this plan stays empty. " + text
