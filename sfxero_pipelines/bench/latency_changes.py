"""`bench latency`'s changes: the four kinds of change the lane carries, made through the public APIs
(the soak's simulator: Salesforce REST sObjects, Xero Accounting), and the test of each one's effect
in the other system's records (`/__sandbox/records`, read by the bench, not counted as API calls).

Kinds, each on a record the first sync left linked and in agreement, no record used twice:
- `won_opportunity`: an open Opportunity with line items set to Closed Won → an ACCREC invoice with
  `Reference` = the Opportunity Id exists in Xero (R2);
- `account_edit`: a linked Account's `AccountNumber` (Salesforce-owned) → the linked Contact's (R1);
- `xero_payment`: a payment on an AUTHORISED invoice of an Opportunity → the Opportunity's
  `Xero_Amount_Paid__c` shows the new amount paid (R3);
- `xero_contact_edit`: a linked Contact's POBOX city (Xero-owned) → the Account's `BillingCity` (R5).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from .soak_sim import Simulator, xero_value

KINDS = ("won_opportunity", "account_edit", "xero_payment", "xero_contact_edit")


@dataclass
class Change:
    kind: str
    #: the record whose change the lane carries, as the lane's run config names it ("salesforce:Account:<id>")
    source: str
    #: what to look for: (system, object, id, field, value); field None: the record exists
    effect: tuple[str, str, str | None, str | None, object]
    made_at: float = 0.0      # epoch seconds, just before the API call
    call_s: float = 0.0       # the API call's own round trip (the floor)
    seen_at: float | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.seen_at is None else self.seen_at - self.made_at


class Targets:
    """Records for each kind, chosen at random (seeded) from what the first sync left in agreement."""

    def __init__(self, sim: Simulator, rng: random.Random) -> None:
        state = sim.observe()
        self.sim, self.state = sim, state
        pairs = list(state["pairs"])
        rng.shuffle(pairs)
        half = len(pairs) // 2
        invoiced = {inv["opportunity"] for inv in state["invoices"].values()}
        with_lines = {line.get("OpportunityId") for line in sim.records("sf", "OpportunityLineItem")
                      if not line.get("IsDeleted")}
        opportunities = [o["Id"] for o in state["opportunities"].values()
                         if not o.get("IsClosed") and o["Id"] in with_lines and o["Id"] not in invoiced
                         and o.get("AccountId") in state["pairs"]]
        payable = [i for i, inv in state["invoices"].items()
                   if inv["status"] == "AUTHORISED" and inv["total"] - inv["paid"] > 0.05
                   and inv["sf_paid"] is not None and abs(float(inv["sf_paid"]) - inv["paid"]) < 0.005]
        rng.shuffle(opportunities)
        rng.shuffle(payable)
        self.free = {"won_opportunity": opportunities, "account_edit": pairs[:half],
                     "xero_payment": payable, "xero_contact_edit": pairs[half:]}

    def available(self) -> dict[str, int]:
        return {kind: len(ids) for kind, ids in self.free.items()}

    def take(self, kind: str) -> str:
        return self.free[kind].pop()


def make_change(kind: str, targets: Targets, n: int, clock) -> Change:
    """Make one change of `kind` now; `clock()` gives the epoch seconds stamped just before the call."""
    sim, state = targets.sim, targets.state
    record = targets.take(kind)
    if kind == "won_opportunity":
        change = Change(kind, f"salesforce:Opportunity:{record}", ("xero", "Invoices", None, "Reference", record))
        change.made_at = clock()
        sim._sf("PATCH", f"/sobjects/Opportunity/{record}", {"StageName": "Closed Won"})
    elif kind == "account_edit":
        value = f"LAT-{n:04d}-{sim.rng.randrange(10**6):06d}"
        contact = state["pairs"][record]["contact"]
        change = Change(kind, f"salesforce:Account:{record}", ("xero", "Contacts", contact, "AccountNumber", value))
        change.made_at = clock()
        sim.update(state, "salesforce", record, "AccountNumber", value)
    elif kind == "xero_contact_edit":
        value = f"Latency City {n:04d}"
        contact = state["pairs"][record]["contact"]
        change = Change(kind, f"xero:Contacts:{contact}", ("sf", "Account", record, "BillingCity", value))
        change.made_at = clock()
        sim.update(state, "xero", record, "BillingCity", value)
    elif kind == "xero_payment":
        invoice = state["invoices"][record]
        amount = round(max(0.01, (invoice["total"] - invoice["paid"]) / 2), 2)
        change = Change(kind, f"xero:Invoices:{record}",
                        ("sf", "Opportunity", invoice["opportunity"], "Xero_Amount_Paid__c", round(invoice["paid"] + amount, 2)))
        change.made_at = clock()
        sim._xero("PUT", "/Payments", {"Payments": [{"Invoice": {"InvoiceID": record}, "Account": {"Code": "090"},
                                                     "Date": dt.date.today().isoformat(), "Amount": amount}]})
    else:
        raise ValueError(f"unknown change kind {kind!r}")
    change.call_s = clock() - change.made_at
    return change


def visible(change: Change, records: dict[tuple[str, str], list[dict]]) -> bool:
    """Whether the change's effect shows in `records` ((system, object) -> `/__sandbox/records`)."""
    system, obj, record_id, field, value = change.effect
    rows = records[(system, obj)]
    if record_id is None:  # an invoice referencing the Opportunity
        return any(r.get(field) == value and r.get("Type") == "ACCREC" and r.get("Status") not in ("DELETED", "VOIDED")
                   for r in rows)
    key = "Id" if system == "sf" else "ContactID"
    row = next((r for r in rows if r.get(key) == record_id), None)
    if row is None:
        return False
    have = xero_value(row, field) if system == "xero" else row.get(field)
    if isinstance(value, float):
        return have is not None and abs(float(have) - value) < 0.005
    return have == value


def effect_objects(changes: list[Change]) -> set[tuple[str, str]]:
    return {(c.effect[0], c.effect[1]) for c in changes}
