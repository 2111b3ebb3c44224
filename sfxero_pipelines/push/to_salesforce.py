"""Writes to Salesforce: plan rows (R1 write-backs, R3, R4, R5, R6, declared recipes into Salesforce)
and the write-backs of Xero creates.

- Updates go through sObject Collections (≤200 records per call, `allOrNone=false` so one bad
  record never blocks the rest); above `push.salesforce_bulk_threshold` records, one Bulk 2.0
  upsert job on `Id` per object. Updating by Id is idempotent: resending an update whose outcome
  is unknown sets the same values again.
- Several rows that touch the same record (a write-back, balances and Xero-owned fields of one
  Account) are merged into one record per call: Salesforce refuses the same Id twice in a request.
- Creates (R6 CampaignMembers) whose earlier outcome is unknown are looked up first (SOQL on the
  fields the create sets) and only created when absent; deletes of a record already gone succeed.
- A declared recipe's creates are upserts on their external id (`upsert_by`, sObject Collections
  upsert): one whose earlier outcome is unknown is looked up by that id first, and even a create
  resent blind finds the record instead of making a second. Its succeeded writes record their
  `sync_link` (recipe, Salesforce id, Xero id) in the transaction that records the outcome.
- A record Salesforce rejects is held with Salesforce's message; the rest are written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from ..errors import ApiError
from ..staging.state import holds, ledger, links
from .report import PushReport
from ..config import PushConfig

SYSTEM = "salesforce"
#: Answers that mean the intended state already holds (a duplicate member, a record already deleted).
_ALREADY = {"create": {"DUPLICATE_VALUE"}, "delete": {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"}}


@dataclass
class SfWrite:
    key: str
    recipe: str
    action: str                       # create | update | delete
    records: list[tuple[str, dict]]   # (sobject, record); updates and deletes carry "Id"
    hold_table: str
    hold_record: str
    source_id: str | None = None
    target_id: str | None = None
    written: dict = field(default_factory=dict)
    note: dict = field(default_factory=dict)  # extra ledger response (plan id, …)
    tenant_id: str = ""  # the Xero organisation whose data this write carries (ledger and holds record it)
    upsert_by: str | None = None    # a create sent as an upsert on this external id field
    link_recipe: str | None = None  # when it succeeds: sync_link (this recipe, the Salesforce id, source_id)

    @property
    def target_object(self) -> str:
        return "+".join(sorted({s for s, _ in self.records}))


def _message(errors: list[dict]) -> str:
    return "; ".join(f"{e.get('statusCode', 'ERROR')}: {e.get('message', '')}".strip() for e in errors) or "rejected"


def _soql_literal(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


class SalesforceWriter:
    def __init__(self, engine: sa.Engine, client, *, cfg: PushConfig, run_id: str | None, report: PushReport) -> None:
        self.engine, self.client, self.cfg, self.run_id, self.report = engine, client, cfg, run_id, report

    # -- entry point ----------------------------------------------------------------------------
    def write(self, writes: list[SfWrite]) -> None:
        if not writes:
            return
        with self.engine.connect() as conn:
            known = ledger.states(conn, [w.key for w in writes])
        todo: list[SfWrite] = []
        for w in writes:
            state = known.get(w.key)
            if state and state["outcome"] == ledger.SUCCEEDED:
                self.report.already_done += 1
            elif state and state["outcome"] == ledger.PENDING and w.action == "create" and (found := self._exists(w)):
                self._finish([(w, True, found, "found by lookup: created by an earlier run")])
                self.report.found_by_lookup += 1
            else:
                todo.append(w)
        updates = [w for w in todo if w.action == "update"]
        n_records = len({(s, r["Id"]) for w in updates for s, r in w.records})
        if n_records > self.cfg.salesforce_bulk_threshold:
            self._bulk_updates(updates)
        else:
            self._in_chunks(updates, self._collection_update)
        self._in_chunks([w for w in todo if w.action == "create"], self._collection_create)
        self._in_chunks([w for w in todo if w.action == "delete"], self._collection_delete)

    # -- batching -------------------------------------------------------------------------------
    def _in_chunks(self, writes: list[SfWrite], send) -> None:
        """Send `writes` in calls of at most `salesforce_batch_size` records, a record touched by
        several writes counted once (they are merged), a write never split across calls."""
        chunk: list[SfWrite] = []
        records: set = set()
        for w in writes:
            mine = {(s, r.get("Id") or f"{w.key}#{i}") for i, (s, r) in enumerate(w.records)}
            if chunk and len(records | mine) > self.cfg.salesforce_batch_size:
                send(chunk)
                chunk, records = [], set()
            chunk.append(w)
            records |= mine
        if chunk:
            send(chunk)

    def _begin(self, writes: list[SfWrite], request_hash: str) -> None:
        with self.engine.begin() as conn:
            ledger.begin(conn, [{"key": w.key, "recipe": w.recipe, "target_system": SYSTEM,
                                 "target_object": w.target_object, "source_id": w.source_id,
                                 "target_id": w.target_id, "tenant_id": w.tenant_id} for w in writes],
                         run_id=self.run_id, request_hash=request_hash)

    def _finish(self, outcomes: list[tuple[SfWrite, bool, str | None, str | None]]) -> None:
        """outcomes: (write, succeeded, new target id, failure message or note)."""
        results, held, released, new_links = [], [], [], {}
        for w, ok, new_id, message in outcomes:
            target_id = new_id or w.target_id
            if ok and w.link_recipe and target_id and w.source_id:
                new_links.setdefault(w.tenant_id, []).append((w.link_recipe, target_id, w.source_id))
            if ok:
                results.append({"key": w.key, "outcome": ledger.SUCCEEDED, "target_id": target_id,
                                "response": {"written": w.written, "target_id": target_id, **w.note}})
                released.append((w.hold_table, w.hold_record))
                self.report.written += 1
                self.report.by_recipe[w.recipe] += 1
            else:
                results.append({"key": w.key, "outcome": ledger.FAILED, "target_id": target_id,
                                "response": {"error": message, **w.note}})
                held.append({"table_name": w.hold_table, "record_id": w.hold_record, "tenant_id": w.tenant_id,
                             "reason": f"Salesforce rejected the {w.recipe} {w.action} of {w.target_object}: {message}",
                             "detail": {"recipe": w.recipe, "target_system": SYSTEM, "target_object": w.target_object,
                                        "idempotency_key": w.key, "message": message}})
                self.report.held.append({"recipe": w.recipe, "source_id": w.source_id,
                                         "target_object": w.target_object, "reason": message})
        with self.engine.begin() as conn:
            ledger.finish(conn, results)
            holds.hold(conn, held, run_id=self.run_id)
            holds.release(conn, released)
            for tenant, pairs in sorted(new_links.items()):
                self.report.links_recorded += links.record_links(conn, pairs, tenant_id=tenant)

    # -- updates --------------------------------------------------------------------------------
    @staticmethod
    def _merged(writes: list[SfWrite]) -> tuple[list[dict], dict[tuple, list[SfWrite]]]:
        merged: dict[tuple, dict] = {}
        owners: dict[tuple, list[SfWrite]] = {}
        for w in writes:
            for sobject, record in w.records:
                k = (sobject, record["Id"])
                merged.setdefault(k, {"attributes": {"type": sobject}, "Id": record["Id"]}).update(
                    {f: v for f, v in record.items() if f not in ("Id", "attributes")})
                owners.setdefault(k, []).append(w)
        return list(merged.values()), owners

    def _apply_results(self, writes: list[SfWrite], keys: list[tuple], results: list[dict],
                       owners: dict[tuple, list[SfWrite]]) -> None:
        failed: dict[str, str] = {}
        for k, res in zip(keys, results):
            if not res.get("success"):
                for w in owners[k]:
                    failed[w.key] = (failed.get(w.key, "") + "; " if w.key in failed else "") + f"{k[0]} {k[1]}: " + \
                        _message(res.get("errors") or [])
        self._finish([(w, w.key not in failed, None, failed.get(w.key)) for w in writes])

    def _collection_update(self, writes: list[SfWrite]) -> None:
        records, owners = self._merged(writes)
        self._begin(writes, f"PATCH composite/sobjects x{len(records)}")
        try:
            results = self.client.update_collection(records)
        except ApiError as exc:
            if exc.code == "transient":
                self.report.unknown += len(writes)
                raise
            self._finish([(w, False, None, str(exc)) for w in writes])
            return
        self._apply_results(writes, [(r["attributes"]["type"], r["Id"]) for r in records], results, owners)

    def _bulk_updates(self, writes: list[SfWrite]) -> None:
        records, owners = self._merged(writes)
        by_object: dict[str, list[dict]] = {}
        for r in records:
            by_object.setdefault(r["attributes"]["type"], []).append(r)
        self._begin(writes, f"bulk2 upsert Id x{len(records)}")
        keys, results = [], []
        for sobject, recs in sorted(by_object.items()):
            answer = self.client.bulk_upsert(sobject, "Id", [{k: v for k, v in r.items() if k != "attributes"}
                                                             for r in recs])
            # Bulk results come back successes first, each with the record's Id.
            by_id = {}
            for res in answer:
                rid = res.get("id") or (res.get("record") or {}).get("Id")
                by_id[rid] = res
            for r in recs:
                keys.append((sobject, r["Id"]))
                results.append(by_id.get(r["Id"], {"success": False, "errors": [
                    {"statusCode": "UNKNOWN", "message": "no result for this record in the Bulk job"}]}))
        self._apply_results(writes, keys, results, owners)

    # -- creates and deletes --------------------------------------------------------------------
    def _exists(self, w: SfWrite) -> str | None:
        """The Id of the record an earlier create made (by its external id when it is an upsert, else by
        every field it sets), None when there is none (of a create of several records: the first's)."""
        found_id = None
        for sobject, record in w.records:
            by = {w.upsert_by: record.get(w.upsert_by)} if w.upsert_by else record
            conds = " AND ".join(f"{f} = {_soql_literal(v)}" for f, v in sorted(by.items()) if f != "attributes")
            found = None
            for page in self.client.query_pages(f"SELECT Id FROM {sobject} WHERE {conds} LIMIT 1"):
                found = found or next((rec.get("Id") for rec in page), None)
            if not found:
                return None
            found_id = found_id or found
        return found_id

    def _collection_create(self, writes: list[SfWrite]) -> None:
        plain = [w for w in writes if not w.upsert_by]
        if plain:
            records = [{"attributes": {"type": s}, **r} for w in plain for s, r in w.records]
            self._begin(plain, f"POST composite/sobjects x{len(records)}")
            self._record_each(plain, self.client.create_collection(records), "create")
        by_key: dict[tuple[str, str], list[SfWrite]] = {}
        for w in writes:
            if w.upsert_by:
                by_key.setdefault((w.target_object, w.upsert_by), []).append(w)
        for (sobject, field_name), mine in sorted(by_key.items()):
            records = [{"attributes": {"type": s}, **r} for w in mine for s, r in w.records]
            # request_hash holds 64 characters: the object and field names are the writes' own.
            self._begin(mine, f"PATCH composite/sobjects upsert x{len(records)}")
            self._record_each(mine, self.client.upsert_collection(sobject, field_name, records), "create")

    def _collection_delete(self, writes: list[SfWrite]) -> None:
        ids = [r["Id"] for w in writes for _, r in w.records]
        self._begin(writes, f"DELETE composite/sobjects x{len(ids)}")
        results = self.client.delete_collection(ids)
        self._record_each(writes, results, "delete")

    def _record_each(self, writes: list[SfWrite], results: list[dict], action: str) -> None:
        outcomes, i = [], 0
        for w in writes:
            mine = results[i:i + len(w.records)]
            i += len(w.records)
            errors = [e for r in mine if not r.get("success") for e in (r.get("errors") or [])]
            already = all(e.get("statusCode") in _ALREADY[action] for e in errors)
            new_id = next((r.get("id") for r in mine if r.get("success") and r.get("id")), None)
            outcomes.append((w, not errors or already, new_id, _message(errors) if errors and not already else None))
        self._finish(outcomes)
