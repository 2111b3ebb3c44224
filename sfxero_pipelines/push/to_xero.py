"""Writes to Xero: the sf_to_xero rows of the latest plans (R1 Contacts, R2/R7 invoices, and the
declared recipes' upserts of a collection, e.g. R8's Items).

Per batch of ≤`push.xero_batch_size` elements: ledger `pending` (committed) → one `POST` with
`summarizeErrors=false` and an `Idempotency-Key` derived from the batch's rows (a request retried
after a lost answer is replayed by Xero, not applied twice) → per element, in one transaction: the
ledger outcome, the `sync_link` row, a hold with Xero's own message for a rejected element, the
release of an earlier hold for one that now succeeds. Then, in the same step, the write-backs of
the created ids into Salesforce.

Writes beyond today's API budget wait in the plan for the next push (`budget.py`): what fits is
written, highest amounts first, so a push never meets the daily limit mid-batch.

A row whose ledger entry is still `pending` (a crash after the request left) is looked up first —
Contacts by `ContactNumber`, invoices by `Reference`, a declared recipe's record by the field its
row names (`lookup_by`, its first key pair) — and only written when Xero has no such record.
Contacts and Items are written before invoices, whose lines and contacts refer to them. A row the ledger shows `succeeded` is not resent; its link and write-back are completed
if the crash came before them.

Contact group membership (`ContactGroups.<name>` of a declared recipe into Contacts) is not part of
the contact Xero takes: once the contacts are written, members are added per group
(`PUT /ContactGroups/{id}/Contacts`) and taken out one by one (`DELETE …/Contacts/{ContactID}`).
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from ..clients.xero import NO_WHERE, UNPAGED
from ..config.declared import ENGINE_TARGETS, group_of
from ..errors import ApiError
from ..recipes import R1, R2, R7
from ..staging.state import holds, ledger, links
from . import budget, writeback
from .report import PushReport
from ..reconcile.invoices import SOURCES as INVOICE_SOURCES, waiting
from .rows import PushRow, batch_key
from ..config import PushConfig
from .to_salesforce import SalesforceWriter, SfWrite

SYSTEM = "xero"
#: The order a push writes objects in: Contacts and Items before the invoices and quotes that name them.
WRITE_ORDER = ("Contact", "Item", "Invoice", "Quote")
#: target_object → (collection, id attribute, the attribute a create is found by): what the planner writes
#: (config/declared.ENGINE_TARGETS), by object, in `WRITE_ORDER`.
OBJECTS = {obj: (coll, id_attr, key) for coll, (obj, id_attr, key) in
           sorted(ENGINE_TARGETS.items(), key=lambda target: WRITE_ORDER.index(target[1][0]))}
#: Records Xero removes with a DELETE call, having no status to write (a declared recipe's `deletes`):
#: one call each, and a record already gone answers 404, the outcome wanted, so a retry is safe.
DELETED_BY_CALL = {"Item": "delete_item"}
#: Recipes whose Xero records are linked to a Salesforce record in `sync_link`.
LINKED = {R1, R2, R7}
#: Invoice lines are planned to 4 dp (`reconcile.xero_amounts`); without `unitdp=4` Xero would round
#: each UnitAmount to 2 dp and compute other totals than the plan compared.
UNIT_DP = {"Invoices": {"unitdp": 4}}
_LOOKUP_BATCH = 25  # ids per `where` lookup: keeps the URL well under common proxy limits


def _linked(r: PushRow) -> bool:
    """Whether the row's write is recorded in sync_link: the built-ins that keep links, and every
    declared recipe (its plan rows say `"engine": "declared"`)."""
    return r.recipe in LINKED or r.diff.get("engine") == "declared"


def _removed_by_call(r: PushRow) -> bool:
    return r.action == "delete" and r.target_object in DELETED_BY_CALL


def _only_membership(r: PushRow) -> bool:
    """An update that changes nothing but contact group membership: no contact write, only the calls."""
    return r.action == "update" and bool(r.diff.get("groups")) and all(group_of(f) for f in r.fields)


def _batches(r: PushRow) -> tuple[str, ...]:
    """The calls a row costs, as the writer batches them (`budget.fit`): a POST batch of its object (none
    when only membership changes), a removal's DELETE alone, a PUT batch per contact group it joins, a
    DELETE per group it leaves."""
    if _removed_by_call(r):
        return (r.key,)
    own = () if _only_membership(r) else (r.target_object,)
    return own + tuple(f"join {g['ContactGroupID']}" if g["member"] else f"leave {g['ContactGroupID']} {r.key}"
                       for g in r.diff.get("groups") or ())


def _transient(exc: ApiError) -> bool:
    """Xero may or may not have applied the call: the ledger stays pending and the next push sends it again."""
    return exc.code == "transient" or exc.status is None or exc.status >= 500


def _quote(value: str) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _element_error(element: dict) -> str | None:
    messages = [v.get("Message") for v in element.get("ValidationErrors") or [] if v.get("Message")]
    if messages or element.get("StatusAttributeString") == "ERROR":
        return "; ".join(messages) or "rejected (no message)"
    return None


class XeroWriter:
    def __init__(self, engine: sa.Engine, client, sf_client, *, cfg: PushConfig, run_id: str | None,
                 report: PushReport) -> None:
        self.engine, self.client, self.sf_client = engine, client, sf_client
        self.cfg, self.run_id, self.report = cfg, run_id, report
        # The organisation every row of this push is written to: its ledger, links and holds carry it.
        self.tenant_id = getattr(client, "tenant_id", "") or ""
        self.contact_ids: dict[str, str] = {}  # Account Id → ContactID learned in this push
        self.failed_sources: dict[tuple[str, str], str] = {}
        self.write_backs: list[SfWrite] = []
        self.joining: list[tuple[PushRow, str]] = []  # written contacts whose group membership is still to set

    # -- entry point ----------------------------------------------------------------------------
    def push(self, rows: list[PushRow], link_rows: list[PushRow],
             unwritten: dict[tuple[str, str], str] | None = None) -> None:
        """`unwritten`: (recipe, source id) → why the plan writes nothing for it (`rows.unwritten`)."""
        self.report.planned += len(rows)
        # Accounts matched to an existing Contact (in sync, link still to record): invoices that
        # name them by Account Id go to that Contact.
        self.contact_ids.update({r.source_id: r.target_id for r in link_rows if r.recipe == R1})
        with self.engine.begin() as conn:
            self.report.links_recorded += links.record_links(
                conn, [(r.recipe, r.source_id, r.target_id) for r in link_rows if _linked(r)],
                tenant_id=self.tenant_id)
            known = ledger.states(conn, [r.key for r in rows])
        todo: list[PushRow] = []
        unknown: list[PushRow] = []
        done_links: list[tuple[str, str, str]] = []
        for r in rows:
            state = known.get(r.key)
            if state and state["outcome"] == ledger.SUCCEEDED:
                # Written by an earlier run: complete what a crash may have cut short after it.
                self.report.already_done += 1
                self._completed(r, state["response"].get("write_back") or {}, state["target_id"])
                if _linked(r) and r.action == "create" and state["target_id"]:
                    done_links.append((r.recipe, r.source_id, state["target_id"]))
            elif state and state["outcome"] == ledger.PENDING and r.action == "create":
                unknown.append(r)
            else:
                todo.append(r)
        if done_links:
            with self.engine.begin() as conn:
                self.report.links_recorded += links.record_links(conn, done_links, tenant_id=self.tenant_id)
        todo = self._without_held_since_plan(todo + self._look_up(unknown))
        self._note_held_dependencies(todo, unwritten or {})
        todo = self._within_day_budget(todo)
        removals = [r for r in todo if _removed_by_call(r)]
        membership = [r for r in todo if _only_membership(r)]
        todo = [r for r in todo if not _removed_by_call(r) and not _only_membership(r)]
        for target_object in OBJECTS:
            mine = [r for r in todo if r.target_object == target_object]
            # Rows whose Contact is known not to be written are recorded first, so they take no place
            # in a batch: the calls made are the ones the budget counted.
            if blocked := [r for r in mine if self._dependency_failed(r)]:
                self._send(blocked)
                mine = [r for r in mine if not self._dependency_failed(r)]
            for start in range(0, len(mine), self.cfg.xero_batch_size):
                self._send(mine[start:start + self.cfg.xero_batch_size])
        for r in removals:
            self._remove(r)
        self._set_memberships(membership)
        unsupported = [r for r in todo if r.target_object not in OBJECTS]
        if unsupported:
            self._record(unsupported, [None] * len(unsupported), sent=False, errors=
                         [f"sfxero cannot write Xero {r.target_object or '(no target_object)'} records" for r in unsupported])
        self.flush_write_backs()

    def _within_day_budget(self, rows: list[PushRow]) -> list[PushRow]:
        """What today's Xero budget can write, highest amounts first; the rest wait in the plan
        (no ledger entry, no hold) for the next push, with their reason in the report."""
        # Rows that will not be sent (unsupported, or their Contact is known not to be written) cost nothing.
        free = {id(r) for r in rows if r.target_object not in OBJECTS or self._dependency_failed(r)}
        now = budget.within_day_budget([r for r in rows if id(r) not in free], self.client, self.cfg.xero_batch_size,
                                       _batches, self.report)
        kept = free | {id(r) for r in now}
        return [r for r in rows if id(r) in kept]

    def _dependency_failed(self, r: PushRow) -> bool:
        dep = r.diff.get("depends_on") or {}
        return bool(dep) and (dep.get("recipe"), dep.get("source_id")) in self.failed_sources

    def _without_held_since_plan(self, rows: list[PushRow]) -> list[PushRow]:
        """Invoice writes whose record, or one of its lines, was held after the plan was made (a check
        ran in between) are not sent: an invoice is written from all its lines or not at all. No push
        hold is opened, so fixing the line is enough; the next plan lists the record held."""
        mine = [r for r in rows if r.recipe in INVOICE_SOURCES and r.target_object == "Invoice" and r.source_id]
        if not mine:
            return rows
        with self.engine.connect() as conn:
            waits = {recipe: waiting(conn, INVOICE_SOURCES[recipe]) for recipe in sorted({r.recipe for r in mine})}
        stopped = {(r.recipe, r.source_id): waits[r.recipe][r.source_id] for r in mine if r.source_id in waits[r.recipe]}
        for (recipe, source_id), reason in sorted(stopped.items()):
            self.report.held.append({"recipe": recipe, "source_id": source_id, "target_object": "Invoice",
                                     "reason": f"not sent, held since the plan was made: {reason}"})
        return [r for r in rows if (r.recipe, r.source_id) not in stopped]

    def _note_held_dependencies(self, rows: list[PushRow], unwritten: dict[tuple[str, str], str]) -> None:
        """Rows that refer to a record this push will not create (an invoice whose Account's R1 row
        is a conflict or held in the plan, or whose Account was held since) wait with that reason
        instead of being sent for Xero to refuse with a message nobody can act on."""
        deps = {(d.get("recipe"), d.get("source_id")) for r in rows if (d := r.diff.get("depends_on"))}
        if not deps:
            return
        tables = {R1: "sf_account"}
        with self.engine.connect() as conn:
            held = holds.open_hold_reasons(conn, sorted({tables[rec] for rec, _ in deps if rec in tables}))
        for recipe, source_id in deps:
            reason = held.get(tables.get(recipe, ""), {}).get(source_id) or unwritten.get((recipe, source_id))
            if reason:
                self.failed_sources[(recipe, source_id)] = reason

    # -- lookup-before-create -------------------------------------------------------------------
    def _look_up(self, rows: list[PushRow]) -> list[PushRow]:
        """Resolve writes of unknown outcome; returns those Xero does not have (to write again)."""
        again = []
        # A declared recipe's rows name the field they are found by (`lookup_by`): one lookup per field.
        for target_object, by in sorted({(r.target_object, r.diff.get("lookup_by") or "") for r in rows}):
            mine = [r for r in rows if r.target_object == target_object and (r.diff.get("lookup_by") or "") == by]
            if target_object not in OBJECTS:
                again += mine
                continue
            collection, id_attr, key_attr = OBJECTS[target_object]
            key_attr = by or key_attr
            for start in range(0, len(mine), _LOOKUP_BATCH):
                chunk = mine[start:start + _LOOKUP_BATCH]
                wanted = [str(r.payload.get(key_attr) or "") for r in chunk]
                where = " OR ".join(f"{key_attr}=={_quote(v)}" for v in wanted if v)
                found: dict[str, dict] = {}
                if where:
                    # Items come whole in one call (an unpaged collection); Contacts and Invoices page;
                    # Quotes take no `where`: every page is read and the keys picked out here.
                    pages = ([self.client.get_all(collection, where=where)] if collection in UNPAGED else
                             self.client.iter_pages(collection) if collection in NO_WHERE else
                             self.client.iter_pages(collection, where=where, page_size=1000))
                    for page in pages:
                        for rec in page:
                            if (rec.get("Status") or rec.get("ContactStatus")) not in ("DELETED", "VOIDED"):
                                found.setdefault(str(rec.get(key_attr)), rec)
                hits, misses = [], []
                for r, v in zip(chunk, wanted):
                    (hits if v and v in found else misses).append((r, found.get(v)))
                if hits:
                    self._record([r for r, _ in hits], [rec for _, rec in hits], [None] * len(hits), looked_up=True)
                again += [r for r, _ in misses]
        return again

    # -- one write request ----------------------------------------------------------------------
    def _body(self, r: PushRow) -> dict:
        body = dict(r.payload)
        contact = body.get("Contact")
        if isinstance(contact, dict) and not contact.get("ContactID") and contact.get("ContactNumber") in self.contact_ids:
            body["Contact"] = {"ContactID": self.contact_ids[contact["ContactNumber"]]}
        return body

    def _send(self, batch: list[PushRow]) -> None:
        ready, waiting = [], []
        for r in batch:
            dep = (r.diff.get("depends_on") or {})
            why = self.failed_sources.get((dep.get("recipe"), dep.get("source_id"))) if dep else None
            contact = r.payload.get("Contact") or {}
            if dep and not why and not contact.get("ContactID") and contact.get("ContactNumber") not in self.contact_ids:
                # Contacts are written before invoices: a number still unknown here was not created.
                why = "no Xero Contact was created or linked for it in this push"
            (waiting if why else ready).append((r, why))
        if waiting:
            self._record([r for r, _ in waiting], [None] * len(waiting), sent=False, errors=
                         [f"waits for {r.diff['depends_on']['recipe']} {r.diff['depends_on']['source_id']}, "
                          f"which was not written: {why}" for r, why in waiting])
        rows = [r for r, _ in ready]
        if not rows:
            return
        collection = OBJECTS[rows[0].target_object][0]
        key = batch_key(rows)
        self._begin(rows, key)
        try:
            answer = self.client.write(collection, [self._body(r) for r in rows], method="POST",
                                       idempotency_key=key, summarize_errors=False, **UNIT_DP.get(collection, {}))
        except ApiError as exc:
            if _transient(exc):  # the next run looks the creates up
                self.report.unknown += len(rows)
                raise
            self._record(rows, [None] * len(rows), [str(exc)] * len(rows))
            return
        if len(answer) != len(rows):
            self.report.unknown += len(rows)
            raise ApiError(SYSTEM, f"POST {collection}", 200, "answer",
                           f"sent {len(rows)} elements, Xero answered {len(answer)}: outcome unknown, resolved next run")
        self._record(rows, answer, [_element_error(a) for a in answer])
        if len(self.write_backs) >= self.cfg.salesforce_batch_size:
            # A full Salesforce call's worth: send it now, while Xero's minute budget refills, and so a
            # crash leaves less to complete.
            self.flush_write_backs()

    def _begin(self, rows: list[PushRow], request_hash: str) -> None:
        """Ledger `pending` for rows about to be sent, committed before the request leaves."""
        with self.engine.begin() as conn:
            ledger.begin(conn, [{"key": r.key, "recipe": r.recipe, "target_system": SYSTEM, "target_object": r.target_object,
                                 "source_id": r.source_id, "target_id": r.target_id, "tenant_id": self.tenant_id}
                                for r in rows],
                         run_id=self.run_id, request_hash=request_hash)

    def _remove(self, r: PushRow) -> None:
        """One DELETE, recorded like a batch of one: ledger `pending` first, then its outcome."""
        self._begin([r], r.key)
        try:
            getattr(self.client, DELETED_BY_CALL[r.target_object])(r.target_id)
        except ApiError as exc:
            if _transient(exc):
                self.report.unknown += 1  # pending: the next push sends it again, and a 404 then ends it
                raise
            self._record([r], [None], [str(exc)])
            return
        self._record([r], [{OBJECTS[r.target_object][1]: r.target_id}], [None])

    # -- contact group membership ---------------------------------------------------------------
    def _set_memberships(self, only: list[PushRow]) -> None:
        """Contact group membership (a declared recipe's `ContactGroups.<name>`), once the contacts are
        written: one PUT per group and batch for the members it gains, one DELETE per member it loses.
        Both are safe to repeat (a member added twice is one; a removed one answers 404). A row that
        changes only membership is ledgered as a write of its own; a written contact whose membership
        Xero refuses is held with Xero's message, as a refused write is."""
        if only:
            self._begin(only, batch_key(only))
        todo = [(r, r.target_id) for r in only] + self.joining
        self.joining = []
        refused: dict[str, str] = {}
        adds: dict[str, list[tuple[PushRow, str]]] = {}
        for r, contact_id in todo:
            for g in r.diff["groups"]:
                if g["member"]:
                    adds.setdefault(g["ContactGroupID"], []).append((r, contact_id))
                elif why := self._membership_call(lambda g=g, c=contact_id: self.client.remove_from_contact_group(
                        g["ContactGroupID"], c), len(only)):
                    refused.setdefault(r.key, f"taking it out of the contact group {g['Name']}: {why}")
        for group_id, members in sorted(adds.items()):
            name = next(g["Name"] for g in members[0][0].diff["groups"] if g["ContactGroupID"] == group_id)
            for start in range(0, len(members), self.cfg.xero_batch_size):
                for chunk in self._membership_chunks(group_id, members[start:start + self.cfg.xero_batch_size],
                                                     len(only)):
                    for r, _ in chunk[1]:
                        refused.setdefault(r.key, f"adding it to the contact group {name}: {chunk[0]}")
        if only:
            self._record(only, [{"ContactID": r.target_id} for r in only], [refused.get(r.key) for r in only])
        alone = {r.key for r in only}
        written = [r for r, _ in todo if r.key in refused and r.key not in alone]
        if written:
            self._refused_after_write(written, refused)

    def _membership_call(self, call, pending: int) -> str | None:
        """Xero's message when it refuses the call; a call whose outcome is unknown stops the push."""
        try:
            call()
        except ApiError as exc:
            if _transient(exc):
                self.report.unknown += pending
                raise
            return str(exc)
        return None

    def _membership_chunks(self, group_id: str, members: list[tuple[PushRow, str]], pending: int):
        """(Xero's message, members) refused by the PUT that adds `members`: a refused batch is sent again
        one member at a time, so one contact Xero will not take does not keep the others out."""
        ids = [c for _, c in members]
        key = "sfx-group-" + hashlib.sha256(("|".join([group_id, *sorted(ids)])).encode()).hexdigest()[:48]
        why = self._membership_call(lambda: self.client.add_to_contact_group(group_id, ids, idempotency_key=key),
                                    pending)
        if why is None:
            return []
        if len(members) == 1:
            return [(why, members)]
        return [refused for m in members for refused in self._membership_chunks(group_id, [m], pending)]

    def _refused_after_write(self, rows: list[PushRow], refused: dict[str, str]) -> None:
        """Contacts written whose membership Xero refused: the write stands (ledger `succeeded`), the record
        is held with the reason, and `sfxero replay` sends the membership again once it is fixed."""
        held = [self._held(r, refused[r.key], sent=True, detail={"groups": r.diff["groups"]}) for r in rows]
        with self.engine.begin() as conn:
            holds.hold(conn, held, run_id=self.run_id)

    def _held(self, r: PushRow, message: str, *, sent: bool, detail: dict) -> dict:
        """The hold of a row Xero refused (`sent`) or that was not sent, with the message; counted in the report."""
        self.report.held.append({"recipe": r.recipe, "source_id": r.source_id, "target_object": r.target_object,
                                 "reason": message})
        return {"table_name": r.source_table, "record_id": r.source_id, "tenant_id": self.tenant_id,
                "reason": (f"Xero rejected the {r.recipe} {r.action} of {r.target_object}: " if sent else
                           f"{r.recipe} {r.action} of {r.target_object} not sent: ") + message,
                "detail": {"recipe": r.recipe, "target_system": SYSTEM, "target_object": r.target_object,
                           "idempotency_key": r.key, "message": message, **detail}}

    # -- outcomes -------------------------------------------------------------------------------
    def _record(self, rows: list[PushRow], records: list[dict | None], errors: list[str | None], *,
                looked_up: bool = False, sent: bool = True) -> None:
        results, held, released, new_links = [], [], [], []
        for r, rec, error in zip(rows, records, errors):
            if error is None and rec is not None:
                xero_id = rec.get(OBJECTS[r.target_object][1])
                back = writeback.values(r.diff.get("write_back"), rec)
                results.append({"key": r.key, "outcome": ledger.SUCCEEDED, "target_id": xero_id,
                                "response": {"written": r.written, "target_id": xero_id, "plan_id": r.plan_id,
                                             "write_back": back, **({"found_by_lookup": True} if looked_up else {})}})
                released.append((r.source_table, r.source_id))
                if r.diff.get("groups") and not _only_membership(r) and xero_id:
                    self.joining.append((r, xero_id))
                if _linked(r) and (r.action == "create" or r.diff.get("link")):
                    new_links.append((r.recipe, r.source_id, xero_id))
                if looked_up:
                    self.report.found_by_lookup += 1
                else:
                    self.report.written += 1
                    self.report.by_recipe[r.recipe] += 1
                self._completed(r, back, xero_id)
            else:
                message = error or "no answer for this element"
                results.append({"key": r.key, "outcome": ledger.FAILED, "target_id": r.target_id,
                                "response": {"error": message, "plan_id": r.plan_id}})
                held.append(self._held(r, message, sent=sent, detail={"payload": r.payload}))
                self.failed_sources[(r.recipe, r.source_id)] = message
        with self.engine.begin() as conn:
            ledger.finish(conn, results)
            self.report.links_recorded += links.record_links(conn, new_links, tenant_id=self.tenant_id)
            holds.hold(conn, held, run_id=self.run_id)
            holds.release(conn, released)

    def _completed(self, r: PushRow, back: dict, xero_id: str | None) -> None:
        """After a succeeded write (now or in an earlier run): remember the ContactID for invoices
        that refer to the Contact by number, and queue the write-back (`back`: SF field → value
        taken from Xero's answer)."""
        if r.target_object == "Contact" and xero_id and r.source_id:
            self.contact_ids[r.source_id] = xero_id
        spec = r.diff.get("write_back")
        if spec and xero_id and back:
            self.write_backs.append(SfWrite(
                key="wb-" + r.key, recipe=r.recipe, action="update", records=[(spec["sobject"], {"Id": spec["id"], **back})],
                hold_table=r.source_table, hold_record=r.source_id, source_id=xero_id, target_id=spec["id"],
                written=back, note={"plan_id": r.plan_id, "write_back_of": r.key}, tenant_id=self.tenant_id))

    def flush_write_backs(self) -> None:
        """Write the queued write-backs to Salesforce (≤200 per call); counted apart from the Xero writes."""
        if not self.write_backs:
            return
        pending, self.write_backs = self.write_backs, []
        sub = PushReport(target="salesforce")
        SalesforceWriter(self.engine, self.sf_client, cfg=self.cfg, run_id=self.run_id, report=sub).write(pending)
        self.report.write_backs += sub.written
        self.report.held += sub.held
        self.report.unknown += sub.unknown
