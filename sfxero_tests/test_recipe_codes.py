"""Recipe codes and titles are named once (sfxero_pipelines/recipes.py): no R1..R7 string literal in the
production code (the sandbox, which imports nothing from production, aside), and no one-letter
module aliases (`import ... as L`) in reconcile."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from sfxero_pipelines import recipes
from sfxero_pipelines.reconcile.build import FAMILIES

PACKAGE = Path(recipes.__file__).parent
CODE = re.compile(r"^R[1-9][0-9]*$")


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def test_no_recipe_code_literal_outside_the_recipes_module():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "sandbox" or rel == Path("recipes.py"):
            continue
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        found += [f"{rel}:{n.lineno} {n.value!r}" for n in ast.walk(tree)
                  if isinstance(n, ast.Constant) and isinstance(n.value, str) and CODE.match(n.value)
                  and id(n) not in docs]
    assert found == []


def test_every_recipe_has_a_title_and_a_family():
    assert set(recipes.RECIPE_TITLES) == set(recipes.RECIPES) == {c for f in FAMILIES.values() for c in f}
    assert [getattr(recipes, c) for c in recipes.RECIPES] == list(recipes.RECIPES)


def test_reconcile_has_no_one_letter_module_aliases():
    aliased = []
    for path in sorted((PACKAGE / "reconcile").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                aliased += [f"{path.name}:{node.lineno} as {a.asname}" for a in node.names
                            if a.asname and len(a.asname) == 1 and a.asname.isupper()]
    assert aliased == []
