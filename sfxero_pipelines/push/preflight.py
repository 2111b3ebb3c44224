"""What must hold of a stored plan before any of it is pushed (the `ready_to_push` blocking checks).

A plan row that would send a write the push cannot make correctly is a bug upstream, not a record
problem: the whole push stops instead of writing part of a plan that is wrong.
- every create/update/delete row says what it writes (`target_object`, `payload`);
- an update or delete names its target record; a create does not (it would be an update);
- no two rows of one recipe write the same target record (the second would overwrite the first).
"""

from __future__ import annotations

from .rows import PushRow


def plan_problems(rows: list[PushRow]) -> list[str]:
    problems: list[str] = []
    seen: dict[tuple, int] = {}
    for r in rows:
        where = f"{r.recipe} row {r.row_no} ({r.action} {r.source_id})"
        if not r.target_object:
            problems.append(f"{where}: no target_object")
        if not r.payload:
            problems.append(f"{where}: no payload")
        if r.action in ("update", "delete") and not (r.target_id or _payload_ids(r)):
            problems.append(f"{where}: an {r.action} without a target record id")
        if r.action == "create" and r.target_id:
            problems.append(f"{where}: a create that already names its target {r.target_id}")
        target = (r.recipe, r.direction, r.target_object, r.target_id or r.source_id, r.action)
        if target in seen:
            problems.append(f"{where}: writes the same {r.target_object} as row {seen[target]}")
        seen.setdefault(target, r.row_no)
    return problems


def _payload_ids(r: PushRow) -> list:
    return [rec.get("Id") for rec in r.payload.values() if isinstance(rec, dict) and rec.get("Id")]
