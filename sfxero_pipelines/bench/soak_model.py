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
- A Xero Contact made in Xero stays a Xero Contact only (no recipe creates Accounts); a deleted
  Account is not recreated and its Contact is left as it is (sfxero never deletes Contacts).
- R3 copies an invoice's status and amount paid to its Opportunity (`Reference` = Opportunity Id):
  after a payment the Opportunity shows the amount paid so far, and PAID when nothing is due.
- Nothing is ever doubled: one live Contact per ContactNumber, one sales invoice per Reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Soak-edited Account field -> (Xero Contact field as the simulator reads it, owner).
FIELDS: dict[str, tuple[str, str]] = {
    "Name": ("Name", "salesforce"),
    "AccountNumber": ("AccountNumber", "salesforce"),
    "BillingCity": ("Addresses.POBOX.City", "xero"),
}
#: The plan's recipe that carries a field of each owner from its owner to the other side.
RECIPE_OF_OWNER = {"salesforce": "R1", "xero": "R5"}


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

    #: (Account Id, field) -> value both systems must hold
    fields: dict[tuple[str, str], object] = field(default_factory=dict)
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


def predict(before: dict, edits: list[Edit]) -> Expectations:
    """`before`: {"pairs": {account_id: {"contact": ContactID, "sf": {field: v}, "xero": {field: v}}},
    "invoices": {InvoiceID: {"opportunity", "total", "paid"}}} as observed in sync before the edits."""
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
        pair = before["pairs"][account]
        winner = sides.get(owner, pair["sf" if owner == "salesforce" else "xero"][name])
        out.fields[(account, name)] = winner
        loser = "xero" if owner == "salesforce" else "salesforce"
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
