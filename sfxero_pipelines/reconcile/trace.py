"""One record's story, for `sfxero trace ID` (a Salesforce or Xero id): every trace the sync left of it.

`trace(conn, record_id)` returns its events, newest first: the staged rows that hold the id (which
table, modified_at, extracted_at, invalid_reason), its holds (stage, reason as a sentence, opened and
released), the stored plan rows naming it (source or target: action, reason, field diffs), the ledger's
writes (outcome, the values written, the write-back), and its links. The sync-state tables are read
through their owners in `staging/state/`; only the staged object tables are read here. Reads only.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa

from ..staging.timestamps import aware as _aware
from ..staging.state.holds import holds_of
from ..staging.state.ledger import writes_of
from ..staging.state.links import links_naming
from ..staging.state.plans import rows_naming
from .hold_sentences import explain_hold

STAGED_PREFIXES = ("sf_", "xero_")


@dataclass
class Event:
    at: dt.datetime | None
    kind: str  # staged | held | released | planned | write | linked
    summary: str
    details: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        out = asdict(self)
        out["at"] = self.at.isoformat() if self.at else None
        return out


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def staged_rows(conn: sa.Connection, record_id: str) -> list[dict]:
    """The staged rows (any `sf_*` / `xero_*` object table) whose id is `record_id`."""
    inspector = sa.inspect(conn)
    out = []
    for name in sorted(inspector.get_table_names()):
        if not name.startswith(STAGED_PREFIXES):
            continue
        columns = {c["name"] for c in inspector.get_columns(name)}
        if not {"id", "modified_at", "extracted_at", "invalid_reason", "is_deleted"} <= columns:
            continue
        table = sa.table(name, *(sa.column(c) for c in ("id", "modified_at", "extracted_at", "invalid_reason",
                                                         "is_deleted")))
        for row in conn.execute(sa.select(table).where(table.c.id == record_id)).mappings():
            out.append({"table": name, **row})
    return out


def trace(conn: sa.Connection, record_id: str, sf_url: str | None = None) -> list[Event]:
    """Every event of `record_id`, newest first (ties: the order the sync makes them)."""
    events: list[Event] = []
    for row in staged_rows(conn, record_id):
        state = "deleted" if row["is_deleted"] in (True, 1, "1", "true") else "live"
        invalid = f"; invalid: {row['invalid_reason']}" if row["invalid_reason"] else ""
        events.append(Event(_aware(row["extracted_at"]), "staged",
                            f"staged in {row['table']} ({state}, modified {_aware(row['modified_at'])}){invalid}",
                            {"table": row["table"], "modified_at": str(_aware(row["modified_at"])),
                             "invalid_reason": row["invalid_reason"], "is_deleted": state == "deleted"}))
    for hold in holds_of(conn, record_id):
        explained = explain_hold(hold, sf_url)
        base = {"stage": hold["stage"], "table": hold["table_name"], "rule": hold["reason"], "run_id": hold["run_id"],
                "sentence": explained.sentence, "links": [list(link) for link in explained.links]}
        events.append(Event(_aware(hold["held_at"]), "held", f"held at {hold['stage']}: {explained.sentence}",
                            {**base, "open": hold["released_at"] is None}))
        if hold["released_at"] is not None:
            events.append(Event(_aware(hold["released_at"]), "released",
                                f"hold at {hold['stage']} released ({hold['reason'][:120]})", base))
    for row in rows_naming(conn, record_id):
        diff = _json(row["diff"]) or {}
        role = "source" if row["source_id"] == record_id else "target"
        fields = diff.get("fields") or {}
        changes = ", ".join(f"{k}: {v.get('old')!r} → {v.get('new')!r}" for k, v in sorted(fields.items()))
        events.append(Event(_aware(row["created_at"]), "planned",
                            f"{row['recipe']} {row['action']} ({role}) in plan {row['plan_id']}: {row['reason']}"
                            + (f" [{changes}]" if changes else ""),
                            {"plan_id": row["plan_id"], "recipe": row["recipe"], "direction": row["direction"],
                             "action": row["action"], "source_id": row["source_id"], "target_id": row["target_id"],
                             "reason": row["reason"], "fields": fields}))
    for write in writes_of(conn, record_id):
        response = write["response"] or {}
        what = response.get("written") or {}
        at = _aware(write["completed_at"]) or _aware(write["attempted_at"])
        text = (f"{write['recipe']} write to {write['target_system']} {write['target_object']} {write['outcome']}"
                + (f" → {write['target_id']}" if write["target_id"] else "")
                + (f": {response['error']}" if response.get("error") else "")
                + (f" [{', '.join(sorted(what))}]" if what else ""))
        events.append(Event(at, "write", text, {
            "recipe": write["recipe"], "target_system": write["target_system"], "target_object": write["target_object"],
            "outcome": write["outcome"], "target_id": write["target_id"], "run_id": write["run_id"],
            "attempted_at": str(_aware(write["attempted_at"])), "written": what,
            "write_back": response.get("write_back"), "error": response.get("error")}))
        if response.get("write_back"):
            events.append(Event(at, "write_back", f"written back to Salesforce: {response['write_back']}",
                                {"write_back": response["write_back"]}))
    for link in links_naming(conn, record_id):
        events.append(Event(_aware(link["updated_at"]), "linked",
                            f"{link['recipe']} link: Salesforce {link['sf_id']} ↔ Xero {link['xero_id']}",
                            {"recipe": link["recipe"], "sf_id": link["sf_id"], "xero_id": link["xero_id"]}))
    order = {k: i for i, k in enumerate(("staged", "held", "planned", "released", "write", "write_back", "linked"))}
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    events.sort(key=lambda e: (e.at or epoch, order.get(e.kind, 0)), reverse=True)
    return events
