"""Every third-party package the code imports is declared, and the lock pins every declared one.

The package's imports must be in `[project].dependencies`; the tests' may also come from the `dev` extra.
The lock (`requirements.lock`, what `make install` installs with hashes) must pin each of them, so a fresh
machine gets the versions CI tested.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWN = {"sfxero_pipelines", "sfxero_tests"}


def _name(requirement: str) -> str:
    """The distribution name of a requirement string, normalised as packaging does."""
    return re.sub(r"[-_.]+", "-", re.match(r"\s*([A-Za-z0-9._-]+)", requirement).group(1)).lower()


def _top_level_imports(folder: Path) -> set[str]:
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in OWN}


def _distributions(modules: set[str]) -> dict[str, set[str]]:
    installed = packages_distributions()
    missing = sorted(m for m in modules if m not in installed)
    assert not missing, f"imported but not installed: {missing}"
    return {m: {_name(d) for d in installed[m]} for m in modules}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_package_imports_are_declared_dependencies():
    declared = {_name(r) for r in _project()["dependencies"]}
    undeclared = {m: d for m, d in _distributions(_top_level_imports(ROOT / "sfxero_pipelines")).items()
                  if not d & declared}
    assert not undeclared, f"imported by sfxero_pipelines but not in [project].dependencies: {undeclared}"


def test_test_imports_are_declared_dependencies_or_dev_extras():
    project = _project()
    declared = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    undeclared = {m: d for m, d in _distributions(_top_level_imports(ROOT / "sfxero_tests")).items()
                  if not d & declared}
    assert not undeclared, f"imported by sfxero_tests but not declared (dependencies or the dev extra): {undeclared}"


def test_lock_pins_every_declared_dependency_with_hashes():
    lock = (ROOT / "requirements.lock").read_text()
    pinned = {_name(m.group(1)) for m in re.finditer(r"^([A-Za-z0-9._-]+)==", lock, re.M)}
    project = _project()
    declared = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    assert declared - pinned == set(), f"declared but not pinned in requirements.lock: {sorted(declared - pinned)}"
    blocks = re.split(r"\n(?=[A-Za-z0-9._-]+==)", lock.split("\n", 2)[-1])
    unhashed = [b.split()[0] for b in blocks if "==" in b.split()[0] and "--hash=sha256:" not in b]
    assert not unhashed, f"pins without hashes: {unhashed}"
