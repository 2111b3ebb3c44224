"""The soak's independent model of what a sync cycle does (docs/architecture.md §5), written from the
rules, not from the planner: given what both systems held before a cycle and the edits made since,
what each must hold after it, and which edits the plan must show as overwritten.

The rules, as the model states them:
- R1 links a Salesforce Account to one Xero Contact (`Account.Xero_Contact_Id__c`, written back); an
  Account with no Contact yet gets one, created once, under the Account's Name.
- A mapped field has one owner (`sfxero.yaml` mapping; the defaults below): the owner's value is copied
  to the other system. An edit in the system that does not own the field is overwritten by the owner's
  value, and the plan must show that row (R1 for Salesforce-owned fields, R5 for Xero-owned ones) with
  the field in its diff. When both sides edit the same field in one cycle, the owner's edit wins.
  Two exceptions (§5: our own writes are never read back as a change; an empty value erases nothing):
  when the owner's value is one sfxero wrote there itself (a Contact sfxero created carries the values
  it was created with, until someone edits them), the other side's edit stands and the plan's R1 row
  notes the suppressed echo; when the owner's value is empty, the other side's edit stands.
- A Xero Contact made in Xero stays a Xero Contact only (no recipe creates Accounts); a deleted
  Account is not recreated and its Contact is left as it is (sfxero never deletes Contacts).
- R3 copies an invoice's status and amount paid to its Opportunity (`Reference` = Opportunity Id):
  after a payment the Opportunity shows the amount paid so far, and PAID when nothing is due.
- Nothing is ever doubled: one live Contact per ContactNumber, one sales invoice per Reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..recipes import R1, R5

#: Soak-edited Account field -> (Xero Contact field as the simulator reads it, owner).
FIELDS: dict[str, tuple[str, str]] = {
    "Name": ("Name", "salesforce"),
    "AccountNumber": ("AccountNumber", "salesforce"),
    "BillingCity": ("Addresses.POBOX.City", "xero"),
}
#: The plan's recipe that carries a field of each owner from its owner to the other side.
RECIPE_OF_OWNER = {"salesforce": R1, "xero": R5}


@dataclass(frozen=True)
class Edit:
    system: str            # "salesforce" or "xero"
    kind: str              # "update", "create", "delete", "payment"
    record: str            # Account Id, Xero ContactID, or InvoiceID (payments)
    field: str | None = None   # Account field name (updates)
    value: object = None


@dataclass
class Expectations:
    """What must be true after the cycle, fact by fact, and the overwritten edits the plan must show."""

    #: (Account Id, field) -> (Salesforce value, Xero value) after the cycle (equal, unless an exception)
    fields: dict[tuple[str, str], tuple[object, object]] = field(default_factory=dict)
    #: Account Ids created this cycle -> their Name: each must get exactly one Xero Contact of that name
    created_accounts: dict[str, str] = field(default_factory=dict)
    #: Xero Contact names created in Xero: exactly one such Contact, and no Account of that name
    created_contacts: set[str] = field(default_factory=set)
    #: Account Ids deleted: their Contact stays, once, not archived
    deleted_accounts: dict[str, str] = field(default_factory=dict)
    #: Opportunity Id -> (amount paid, status) R3 must show
    opportunities: dict[str, tuple[float, str]] = field(default_factory=dict)
    #: (recipe, Account Id, field): overwritten edits the plan must show
    overwritten: set[tuple[str, str, str]] = field(default_factory=set)
    #: (Account Id, field): edits left standing because the owner's value is our own write (in the R1 row)
    suppressed: set[tuple[str, str]] = field(default_factory=set)


def predict(before: dict, edits: list[Edit]) -> Expectations:
    """`before`: {"pairs": {account_id: {"contact": ContactID, "sf": {field: v}, "xero": {field: v},
    "ours": {field: the owner's value is sfxero's own write}}}, "invoices": {InvoiceID: {"opportunity",
    "total", "paid"}}} as observed in sync before the edits."""
    out = Expectations()
    by_field: dict[tuple[str, str], dict[str, object]] = {}
    for e in edits:
        if e.kind == "update":
            by_field.setdefault((e.record, e.field), {})[e.system] = e.value
        elif e.kind == "create" and e.system == "salesforce":
            out.created_accounts[e.record] = e.value
        elif e.kind == "create":
            out.created_contacts.add(e.value)
        elif e.kind == "delete":
            out.deleted_accounts[e.record] = before["pairs"][e.record]["contact"]
    for (account, name), sides in by_field.items():
        if account in out.deleted_accounts:
            continue
        owner = FIELDS[name][1]
        loser = "xero" if owner == "salesforce" else "salesforce"
        pair = before["pairs"][account]
        winner = sides.get(owner, pair["sf" if owner == "salesforce" else "xero"][name])
        stands = loser in sides and sides[loser] != winner and (
            winner in (None, "") or (owner not in sides and pair.get("ours", {}).get(name, False)))
        if stands:
            final = {owner: winner, loser: sides[loser]}
            out.fields[(account, name)] = (final["salesforce"], final["xero"])
            if winner not in (None, ""):
                out.suppressed.add((account, name))
            continue
        out.fields[(account, name)] = (winner, winner)
        if loser in sides and sides[loser] != winner:
            out.overwritten.add((RECIPE_OF_OWNER[owner], account, name))
    paid: dict[str, float] = {}
    for e in edits:
        if e.kind == "payment":
            paid[e.record] = paid.get(e.record, 0.0) + float(e.value)
    for invoice_id, amount in paid.items():
        inv = before["invoices"][invoice_id]
        total_paid = round(inv["paid"] + amount, 2)
        status = "PAID" if round(inv["total"] - total_paid, 2) <= 0 else "AUTHORISED"
        out.opportunities[inv["opportunity"]] = (total_paid, status)
    return out


class Provenance:
    """Which owner values in Xero are sfxero's own writes: a Contact the sync created holds the values
    it was created with (first seen after its creation) until someone edits them. Seeded Contacts and
    Contacts the simulator made are never the sync's. Only Xero-owned fields matter: a Salesforce-owned
    value sfxero wrote to Xero belongs to Salesforce anyway."""

    def __init__(self, seeded_contacts: set[str]) -> None:
        self.seeded = set(seeded_contacts)
        self.first: dict[tuple[str, str], object] = {}

    def see(self, observed: dict) -> None:
        """Remembers the values of Contacts the sync created, as first seen, and marks each pair's
        `ours`: field -> whether Xero's value is still the one the sync wrote."""
        for pair in observed["pairs"].values():
            contact = pair["contact"]
            if contact not in self.seeded:
                for name, (_, owner) in FIELDS.items():
                    if owner == "xero":
                        self.first.setdefault((contact, name), pair["xero"][name])
            pair["ours"] = {name: pair["xero"][name] not in (None, "")
                            and self.first.get((contact, name), _NOT_OURS) == pair["xero"][name] for name in FIELDS}

    def edited(self, before: dict, edits: list[Edit]) -> None:
        """A value someone edits in Xero is theirs from then on."""
        for e in edits:
            if e.kind == "update" and e.system == "xero":
                self.first[(before["pairs"][e.record]["contact"], e.field)] = _NOT_OURS


_NOT_OURS = object()
