"""What one push did, for run metadata, the CLI summary and the benches."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .budget import WAITS, amount


@dataclass
class PushReport:
    target: str
    planned: int = 0          # pushable rows in the latest plans
    written: int = 0          # writes that succeeded in this run
    already_done: int = 0     # rows the ledger shows succeeded in an earlier run (not resent)
    found_by_lookup: int = 0  # unknown outcomes resolved by finding the record in the target
    held: list[dict] = field(default_factory=list)  # {recipe, source_id, target_object, reason}
    links_recorded: int = 0
    write_backs: int = 0
    unknown: int = 0          # still unknown at the end (the target kept failing): resolved next run
    api_calls: Counter = field(default_factory=Counter)
    by_recipe: Counter = field(default_factory=Counter)
    #: Rows left in the plan for the next day's API budget: {recipe, source_id, target_object, amount}.
    waiting: list[dict] = field(default_factory=list)
    waiting_reason: str | None = None

    def wait_for_budget(self, rows, calls_left: int) -> None:
        self.waiting += [{"recipe": r.recipe, "source_id": r.source_id, "target_object": r.target_object,
                          "action": r.action, "amount": round(amount(r), 2)} for r in rows]
        self.waiting_reason = WAITS.format(n=max(0, calls_left))

    def metadata(self) -> dict:
        return {"planned": self.planned, "written": self.written, "already_done": self.already_done,
                "found_by_lookup": self.found_by_lookup, "held": len(self.held), "links_recorded": self.links_recorded,
                "write_backs": self.write_backs, "unknown": self.unknown,
                "api_calls_total": sum(self.api_calls.values()), "waiting_for_budget": len(self.waiting),
                **({"waiting_reason": self.waiting_reason} if self.waiting_reason else {})}
