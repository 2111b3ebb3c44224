"""The daily budget planner: a push never runs into a target's daily API limit mid-batch (architecture.md §6).

Before the writes, the push asks the client how many calls it may still make today
(`day_calls_left`: Xero's `X-DayLimit-Remaining`, Salesforce's daily allocation, each less the
share kept back). `fit` picks what that many calls can write: rows by amount, highest first (an
invoice's total; rows without an amount after every row with one, in plan order), each with the
Contact row it depends on (its create, or the update that first links it), until the next one would need a call more than is left. Calls are
counted as the writer makes them: one per batch of `batch_size` rows of the same object (and, for a
row that joins or leaves Xero contact groups, one per batch of a group's new members and one per
member leaving). The rest
stay in the plan, unwritten and without a ledger entry, with WAITS: the next push (the next day's
budget) writes them, and the ledger keeps what was written from being sent again.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

from .rows import PushRow

WAITS = "waits for tomorrow's API budget ({n} calls left)"


def amount(row: PushRow) -> float:
    """What the row moves: an invoice's lines (or its planned total); 0 for rows without an amount."""
    lines = row.payload.get("LineItems") if isinstance(row.payload, dict) else None
    if lines:
        total = 0.0
        for line in lines:
            try:
                total += float(line.get("LineAmount") if line.get("LineAmount") is not None else
                               float(line.get("Quantity") or 0) * float(line.get("UnitAmount") or 0))
            except (TypeError, ValueError):
                continue
        return abs(total)
    for name in ("Total", "SubTotal"):
        change = row.fields.get(name)
        if isinstance(change, dict):
            try:
                return abs(float(change.get("new") or 0))
            except (TypeError, ValueError):
                return 0.0
    return 0.0


#: The batches a row's writes go in: one key, or several when a row costs calls of more than one kind
#: (a contact write and the contact groups it joins). Rows with the same key share a call per batch.
Batches = Callable[[PushRow], "str | tuple[str, ...]"]


def _keys(group: Batches, r: PushRow) -> tuple[str, ...]:
    k = group(r)
    return (k,) if isinstance(k, str) else k


def calls_for(rows: list[PushRow], batch_size: int, group: Batches) -> int:
    return sum(math.ceil(n / batch_size) for n in Counter(k for r in rows for k in _keys(group, r)).values())


def fit(rows: list[PushRow], calls_left: int | None, batch_size: int,
        group: Batches = lambda r: r.target_object) -> tuple[list[PushRow], list[PushRow]]:
    """(rows to write now, in their push order; rows that wait, highest amount first)."""
    if calls_left is None or calls_for(rows, batch_size, group) <= calls_left:
        return rows, []
    # An invoice names its Contact by number until the Contact's own row (a create, or the update
    # that first links it) is written in the same push: it goes with that row or not at all.
    contact_rows = {(r.recipe, r.source_id): r for r in rows if r.target_object == "Contact"}
    ranked = sorted(range(len(rows)), key=lambda i: -amount(rows[i]))  # stable: plan order among equals
    chosen: set[int] = set()
    position = {id(r): i for i, r in enumerate(rows)}
    counts: Counter[str] = Counter()
    calls = 0
    for i in ranked:
        if i in chosen:
            continue
        dep = rows[i].diff.get("depends_on") or {}
        needed = contact_rows.get((dep.get("recipe"), dep.get("source_id"))) if dep else None
        unit = [rows[i]] + ([needed] if needed is not None and position[id(needed)] not in chosen else [])
        # Calls grow only when a row opens a new batch of its object: counted as they are added.
        extra = sum(1 for g, n in Counter(k for r in unit for k in _keys(group, r)).items()
                    for k in range(n) if (counts[g] + k) % batch_size == 0)
        if calls + extra > calls_left:
            break
        calls += extra
        for r in unit:
            counts.update(_keys(group, r))
            chosen.add(position[id(r)])
    now = [r for i, r in enumerate(rows) if i in chosen]
    later = [rows[i] for i in ranked if i not in chosen]
    return now, later


def within_day_budget(rows: list[PushRow], client, batch_size: int, group: Batches, report) -> list[PushRow]:
    """The rows `client`'s remaining daily calls can write (`fit`); the rest go to `report` with WAITS."""
    if not rows:
        return rows
    left = client.day_calls_left()
    now, later = fit(rows, left, batch_size, group)
    if later:
        report.wait_for_budget(later, left - calls_for(now, batch_size, group))
    return now
