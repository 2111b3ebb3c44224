"""R2's and R7's settings written as declarations for the declared-recipe engine (docs/architecture.md
§5.3): `recipes.R2` (won Opportunities) and `recipes.R7` (activated Orders) as recipes into Xero
Invoices, and the words their rows are said in.

What a declaration says of them the engine does: pairing, holds, in-sync pairs, the invoice id and
number written back, broken links and ambiguous matches. What no declaration expresses stays code,
given to the engine through its extension point (`reconcile/declared.XeroPass.documents`, filled by
reconcile/invoices.py): the lines (items, tax, discounts at the precision Xero keeps), the amount
compared as Xero rounds it, an approved invoice as a conflict, and the create's body (status map,
dates, the Contact by ContactNumber until R1 has written it). The rules and reasons are the code
planner's, so their ledger keys are the same.
"""

from __future__ import annotations

from ..recipes import R2, R7
from .declared import DeclaredRecipe
from .wording import Wording

#: Per recipe: the Salesforce object, the condition its records meet, and its amount field.
SOURCES = {R2: ("Opportunity", "IsWon = true", "Amount"), R7: ("Order", "StatusCode = 'Activated'", "TotalAmount")}
#: Salesforce field → what of Xero's invoice is written back to it (when the object has it staged).
WRITE_BACK = {"Xero_Invoice_Id__c": "InvoiceID", "Xero_Invoice_Number__c": "InvoiceNumber"}
#: A write-back's path in Xero's invoice → the invoice column its rule names (as the code planner's rules did).
INVOICE_COLUMN = {"InvoiceID": "id", "InvoiceNumber": "invoice_number"}

#: What R2's (R7's) code does at the engine's extension point, as `sfxero recipes show R2` says it.
CODE_DOES = {
    "LineItems": "from the line items: the Xero Item by ProductCode (its account and tax, else the defaults), "
                 "quantity, unit price and discount at the precision Xero keeps; a line that cannot be sent holds "
                 "the record",
    "compare": "the amount as Xero computes it from the lines, and the currency; an invoice already holding what "
               "the lines make is a conflict (correct the amount or the lines)",
    "approved": "an AUTHORISED or PAID invoice that differs is a conflict: Xero does not edit it",
    "create": "Type ACCREC, Status (status_map, else status), Date and DueDate (due_days), LineAmountTypes, the "
              "lines, and the Contact by ContactID, or by ContactNumber until R1 has written it"}


def invoice_as_declared(code: str, rc, with_where: bool = True, write_back: dict[str, str] | None = None) -> dict:
    """The declaration of `recipes.<code>` (an `InvoiceRecipe`) as sfxero.yaml would hold it; without its
    condition as `where:` unless `with_where` (the pass's read applies it); `write_back`: only these (the
    fields the object has staged), else all."""
    sobject, where, amount = SOURCES[code]
    amount_to = "Total" if rc.line_amount_types == "Inclusive" else "SubTotal"
    return {"title": f"{'won Opportunity' if code == R2 else 'activated Order'} → Xero ACCREC invoice",
            "enabled": rc.enabled,
            "from": {"salesforce": sobject, **({"where": where} if with_where else {})}, "to": {"xero": "Invoices"},
            "match": ["link", {"Reference": "Id"}],
            # Compared by code, as Xero rounds the lines (reconcile/invoices.py); the create sends the lines.
            "fields": {amount_to: {"from": amount}, "CurrencyCode": {"from": "CurrencyIsoCode"},
                       "Reference": {"from": "Id", "create_only": True}},
            "write_back": dict(WRITE_BACK if write_back is None else write_back),
            # The deletes are its pass's removals (reconcile/deletes.py, both sides).
            "deletes": rc.deletes.policy(code, "salesforce", posted=False)}


def invoice_declaration(code: str, rc, write_back: dict[str, str]) -> DeclaredRecipe:
    return DeclaredRecipe.model_validate(invoice_as_declared(code, rc, with_where=False, write_back=write_back),
                                         context={"builtin": True})


def invoice_wording(code: str) -> Wording:
    """R2's (R7's) words: its code, the write-back's rules and reason, the code planner's ambiguous-match
    reason, no match named on a broken link, and none of the engine's marks (its rows go through the
    invoices' own push)."""
    sobject = SOURCES[code][0]
    return Wording(code=code, rules={f: f"{code} write-back of the invoice {INVOICE_COLUMN[path]}"
                                     for f, path in WRITE_BACK.items()},
                   write_back=(f"{code} write-back of the invoice", f"write the Xero invoice id/number back to the {sobject}"), marks=False,
                   write_back_link=False, broken_link_match=False,
                   ambiguous="ambiguous {rule} match: Xero invoices {candidates}")
