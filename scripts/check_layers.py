"""Fails when a module imports against the layer order of docs/architecture.md §3.

Rules, over the imports of every module in `sfxero_pipelines/` (absolute and relative, at any depth of a
function body too: a lazy import is still a dependency):
1. A top-level package imports only packages of a lower layer, or of its own layer without forming a
   cycle between top-level packages.
2. Below `defs/` and `cli/` nothing imports Dagster, and nothing anywhere imports a private `dagster._*`.
3. The sandbox imports nothing from production, and production imports the sandbox only from `cli/`.
4. Each sync-state table has one owner module (`staging/state/`): no other module imports its Table
   from the schema or has SQL naming it (FROM / JOIN / INTO / UPDATE / TABLE <name> in a string).
Run as `python scripts/check_layers.py` (`make test` runs it); prints one line per violation, exit 1.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = "sfxero_pipelines"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: Layer of each top-level module or package of sfxero_pipelines; higher may import lower.
LAYERS: dict[str, int] = {
    "definitions": 6, "defs": 6, "cli": 6, "bench": 6,
    "push": 5,
    "reconcile": 4,
    "checks": 3,
    "realtime": 5,
    "extract": 2, "notify": 2, "webhooks": 2,
    "staging": 1, "clients": 1, "config": 1, "config_model": 1, "settings": 1, "tenant_env": 1, "errors": 1, "owner": 1, "recipes": 1,
    "__init__": 0,
}
#: Where Dagster may be imported.
DAGSTER_ALLOWED = {"definitions", "defs", "cli", "bench"}
SANDBOX = "sandbox"
#: Sync-state table -> the one module that issues SQL against it (besides its definition and migrations).
STATE_OWNERS = {
    "held_record": "staging/state/holds.py", "sync_ledger": "staging/state/ledger.py",
    "sync_link": "staging/state/links.py", "sync_plan": "staging/state/plans.py",
    "webhook_inbox": "staging/state/inbox.py",
    "writer_lease": "staging/state/lease.py",
    "oauth_token": "staging/state/tokens.py",
    "approval": "staging/state/approvals.py",
}
SCHEMA_FILES = {"staging/schema.py", "staging/migrations.py"}
_SQL_ON = {t: re.compile(rf"\b(FROM|JOIN|INTO|UPDATE|TABLE)\s+{t}\b", re.I) for t in STATE_OWNERS}


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == PACKAGE and len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `path`."""
    rel = path.relative_to(ROOT.parent).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
            out += [(node.lineno, n) for n in names]
    return out


def violations() -> list[str]:
    problems: list[str] = []
    edges: dict[str, set[str]] = defaultdict(set)
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        here = rel.parts[0].removesuffix(".py")
        where = f"{PACKAGE}/{rel}"
        for line, module in _imports(path):
            if module == "dagster" or module.startswith("dagster.") or module.startswith("dagster_"):
                if module.startswith("dagster._"):
                    problems.append(f"{where}:{line}: private Dagster import {module}")
                if here not in DAGSTER_ALLOWED:
                    problems.append(f"{where}:{line}: imports {module} below defs/ and cli/")
                continue
            target = _top(module)
            if target is None or target == here:
                continue
            if here == SANDBOX:
                problems.append(f"{where}:{line}: the sandbox imports production code ({module})")
                continue
            if target == SANDBOX:
                if here != "cli":
                    problems.append(f"{where}:{line}: production imports the sandbox outside cli/ ({module})")
                continue
            if here not in LAYERS or target not in LAYERS:
                problems.append(f"{where}:{line}: {here or target} has no layer in scripts/check_layers.py")
                continue
            if LAYERS[target] > LAYERS[here]:
                problems.append(f"{where}:{line}: {here} (layer {LAYERS[here]}) imports {module} "
                                f"from a higher layer ({target}, layer {LAYERS[target]})")
            edges[here].add(target)
    problems += [f"import cycle between top-level packages: {' -> '.join(c)}" for c in _cycles(edges)]
    problems += _state_owners()
    return problems


def _state_owners() -> list[str]:
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in SCHEMA_FILES:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("schema"):
                for alias in node.names:
                    if alias.name in STATE_OWNERS and STATE_OWNERS[alias.name] != rel:
                        problems.append(f"{PACKAGE}/{rel}:{node.lineno}: imports the {alias.name} table; "
                                        f"only {STATE_OWNERS[alias.name]} may")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                for table, pattern in _SQL_ON.items():
                    if STATE_OWNERS[table] != rel and pattern.search(node.value):
                        problems.append(f"{PACKAGE}/{rel}:{node.lineno}: SQL on {table}; "
                                        f"only {STATE_OWNERS[table]} may issue it")
    return problems


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, seen = [], set()
    for start in sorted(edges):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(edges.get(node, ())):
                if nxt == start:
                    key = frozenset(path)
                    if key not in seen:
                        seen.add(key)
                        found.append(path + [start])
                elif nxt not in path and nxt > start:
                    stack.append((nxt, path + [nxt]))
    return found


def main() -> int:
    problems = violations()
    for p in problems:
        print(p)
    print(f"check_layers: {len(problems)} violation(s)" if problems else "check_layers: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
