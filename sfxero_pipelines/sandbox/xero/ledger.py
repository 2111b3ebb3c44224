"""Writes to Quotes, PurchaseOrders, ManualJournals, BankTransfers and ContactGroups, with Xero's rules.

- Quotes: a Contact and a Date are required; `QuoteNumber` is generated (QU-0001) and unique;
  status moves DRAFT → SENT → ACCEPTED/DECLINED → INVOICED (DELETED from DRAFT or SENT), and a
  quote can no longer be edited once INVOICED or DELETED. LineAmountTypes are upper case on quotes.
- PurchaseOrders: a Contact is required; `PurchaseOrderNumber` is generated (PO-0001); status DRAFT →
  SUBMITTED → AUTHORISED → BILLED (DELETED from the first three); BILLED and DELETED are final.
- ManualJournals: `Narration` and at least two lines are required; the line amounts must sum to
  zero (debits equal credits); DRAFT → POSTED → VOIDED, DRAFT → DELETED. Posting writes a Journal.
- BankTransfers: created only (PUT); two different BANK accounts and a positive Amount; writes a Journal.
  Deleted by `POST /BankTransfers/{id}` with `Status: DELETED`, unless either side is reconciled.
- ContactGroups: a unique active Name; `Status: DELETED` deletes; members are added by
  `PUT /ContactGroups/{id}/Contacts` and removed all at once by `DELETE`, or one by
  `DELETE /ContactGroups/{id}/Contacts/{ContactID}`.
(TrackingCategories and their options: tracking.py.)
"""

from __future__ import annotations

from .store import Org, WriteError
from .wire import ZERO_GUID, day_ms, ms_date, parse_date_ms

_QUOTE_FLOW = {
    "DRAFT": {"DRAFT", "SENT", "DELETED"},
    "SENT": {"SENT", "DRAFT", "ACCEPTED", "DECLINED", "DELETED"},
    "ACCEPTED": {"ACCEPTED", "SENT", "DECLINED", "INVOICED"},
    "DECLINED": {"DECLINED", "SENT", "ACCEPTED"},
}
_PO_FLOW = {
    "DRAFT": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
    "SUBMITTED": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
    "AUTHORISED": {"AUTHORISED", "SUBMITTED", "BILLED", "DELETED"},
}
_MJ_FLOW = {"DRAFT": {"DRAFT", "POSTED", "DELETED"}, "POSTED": {"POSTED", "VOIDED"}}
_QUOTE_LAT = {"EXCLUSIVE": "Exclusive", "INCLUSIVE": "Inclusive", "NOTAX": "NoTax"}
_SKIP = {"UpdatedDateUTC", "SubTotal", "TotalTax", "Total", "TotalDiscount", "StatusAttributeString",
         "ValidationErrors", "Warnings", "HasAttachments", "HasErrors", "Attachments"}


def _existing(org: Org, plural: str, id_field: str, element: dict, create_only: bool, label: str,
              numbers: dict | None = None, number_field: str | None = None) -> dict | None:
    rid = str(element.get(id_field) or "").lower()
    if rid and rid != ZERO_GUID:
        old = org.c[plural].get(rid)
        if old is None:
            raise WriteError([f"{label} with ID '{element[id_field]}' could not be found"])
        if create_only:
            raise WriteError([f"A {label.lower()} with this {id_field} already exists; use POST to update it"])
        return old
    if not create_only and numbers is not None and element.get(number_field) in numbers:
        return org.c[plural].get(numbers[element[number_field]])
    return None


def _date(doc: dict, field: str, errors: list[str], default_ms: int | None) -> None:
    if doc.get(field):
        ms = parse_date_ms(doc[field])
        if ms is None:
            errors.append(f"{field} '{doc[field]}' is not a valid date")
        else:
            doc[field] = ms_date(day_ms(ms))
    elif default_ms is not None:
        doc[field] = ms_date(day_ms(default_ms))


def _status(old: dict | None, element: dict, flow: dict, initial: str, kind: str) -> str:
    """The requested status, if the flow allows it: a new record may start in any non-final status."""
    status = element.get("Status", (old or {}).get("Status", initial))
    if old is None:
        if status not in flow:
            raise WriteError([f"A new {kind} cannot be created with status {status}"])
        return status
    if old["Status"] not in flow:
        raise WriteError([f"This {kind} cannot be edited as it is {old['Status'].lower()}."])
    if status not in flow[old["Status"]]:
        raise WriteError([f"Invalid status change: a {kind} cannot go from {old['Status']} to {status}"])
    return status


def _merge(old: dict | None, element: dict, id_field: str, new_fields: dict) -> dict:
    doc = dict(old) if old else dict(new_fields)
    for key, value in element.items():
        if key != id_field and key not in _SKIP:
            doc[key] = value
    return doc


def _party(org: Org, doc: dict, element: dict, old: dict | None, errors: list[str]) -> None:
    contact = org._resolve_contact(element.get("Contact") or (old or {}).get("Contact"), errors)
    if contact:
        doc["Contact"] = org.contact_ref(contact)


def _number(org: Org, doc: dict, errors: list[str], status: str, kind: str, numbers: dict, prefix: str) -> None:
    """The document's number (unique, or the next `PREFIX-0001`), its status and timestamp; raises the errors."""
    number_field, id_field = f"{kind}Number", f"{kind}ID"
    number = doc.get(number_field)
    if number and numbers.get(number) not in (None, doc[id_field]):
        errors.append(f"{'Purchase Order' if kind == 'PurchaseOrder' else kind} # must be unique.")
    if errors:
        raise WriteError(errors)
    if not number:
        org.counters[prefix] += 1
        doc[number_field] = f"{prefix}-{org.counters[prefix]:04d}"
    doc["Status"] = status
    doc.setdefault("TotalDiscount", 0.0)
    doc["UpdatedDateUTC"] = ms_date(org.now_ms())


def write_quote(org: Org, element: dict, *, create_only: bool, fixed_id: str | None = None) -> dict:
    old = _existing(org, "Quotes", "QuoteID", element, create_only, "Quote", org.quote_numbers, "QuoteNumber")
    status = _status(old, element, _QUOTE_FLOW, "DRAFT", "quote")
    errors: list[str] = []
    doc = _merge(old, element, "QuoteID", {"QuoteID": fixed_id or org.new_id()})
    _party(org, doc, element, old, errors)
    if not doc.get("Date"):
        errors.append("Date is required for a quote")
    _date(doc, "Date", errors, None)
    _date(doc, "ExpiryDate", errors, None)
    lat = str(doc.get("LineAmountTypes") or "EXCLUSIVE").upper()
    if lat not in _QUOTE_LAT:
        errors.append(f"'{doc.get('LineAmountTypes')}' is not a valid LineAmountTypes value (EXCLUSIVE, INCLUSIVE, "
                      "NOTAX)")
        lat = "EXCLUSIVE"
    doc["LineAmountTypes"] = _QUOTE_LAT[lat]
    org._currency(doc, old, errors)
    org.compute_lines(doc, sales=True, errors=errors, strict_accounts=False)
    doc["LineAmountTypes"] = lat
    _number(org, doc, errors, status, "Quote", org.quote_numbers, "QU")
    org.store_quote(doc)
    return doc


def write_purchase_order(org: Org, element: dict, *, create_only: bool, fixed_id: str | None = None) -> dict:
    old = _existing(org, "PurchaseOrders", "PurchaseOrderID", element, create_only, "Purchase order",
                    org.purchase_order_numbers, "PurchaseOrderNumber")
    status = _status(old, element, _PO_FLOW, "DRAFT", "purchase order")
    errors: list[str] = []
    doc = _merge(old, element, "PurchaseOrderID", {"PurchaseOrderID": fixed_id or org.new_id(), "HasAttachments": False,
                                                   "SentToContact": False})
    _party(org, doc, element, old, errors)
    _date(doc, "Date", errors, org.now_ms())
    _date(doc, "DeliveryDate", errors, None)
    _date(doc, "ExpectedArrivalDate", errors, None)
    org._currency(doc, old, errors)
    org.compute_lines(doc, sales=False, errors=errors, strict_accounts=False)
    if status in ("SUBMITTED", "AUTHORISED") and not doc["LineItems"]:
        errors.append("At least one line item is required to approve a purchase order")
    _number(org, doc, errors, status, "PurchaseOrder", org.purchase_order_numbers, "PO")
    org.store_purchase_order(doc)
    return doc


def write_manual_journal(org: Org, element: dict, *, create_only: bool, fixed_id: str | None = None) -> dict:
    old = _existing(org, "ManualJournals", "ManualJournalID", element, create_only, "Manual journal")
    status = _status(old, element, _MJ_FLOW, "DRAFT", "manual journal")
    errors: list[str] = []
    doc = _merge(old, element, "ManualJournalID", {"ManualJournalID": fixed_id or org.new_id(), "HasAttachments": False,
                                                   "ShowOnCashBasisReports": True, "LineAmountTypes": "NoTax"})
    if not str(doc.get("Narration") or "").strip():
        errors.append("Narration must not be empty")
    _date(doc, "Date", errors, org.now_ms())
    lines = doc.get("JournalLines") or []
    if not isinstance(lines, list) or len(lines) < 2:
        errors.append("A manual journal must have at least two journal lines")
        lines = []
    total = 0.0
    for n, line in enumerate(lines, 1):
        if not isinstance(line, dict):
            errors.append(f"Journal line {n} is not an object")
            continue
        acc = org.accounts_by_code.get(str(line.get("AccountCode", "")))
        if acc is None or acc.get("Status") != "ACTIVE":
            errors.append(f"Account code '{line.get('AccountCode')}' is not a valid code for this document.")
        else:
            line["AccountID"] = acc["AccountID"]
            line.setdefault("TaxType", acc.get("TaxType") or "NONE")
        try:
            line["LineAmount"] = round(float(line.get("LineAmount")), 2)
        except (TypeError, ValueError):
            errors.append(f"Journal line {n}: LineAmount must be a number")
            continue
        line.setdefault("TaxAmount", 0.0)
        line.setdefault("Tracking", [])
        line.setdefault("IsBlank", False)
        total += line["LineAmount"]
    if lines and abs(round(total, 2)) > 0:
        errors.append(f"The total debits ({sum(max(0.0, l.get('LineAmount', 0) or 0) for l in lines if isinstance(l, dict)):.2f}) "
                      f"must equal the total credits ({-sum(min(0.0, l.get('LineAmount', 0) or 0) for l in lines if isinstance(l, dict)):.2f})")
    if errors:
        raise WriteError(errors)
    doc["JournalLines"] = lines
    doc["Status"] = status
    doc["UpdatedDateUTC"] = ms_date(org.now_ms())
    org.c["ManualJournals"].put(doc)
    if status == "POSTED" and (old is None or old["Status"] != "POSTED"):
        org.journals.post(org.now_ms(), parse_date_ms(doc["Date"]), "MANJOURNAL", "ManualJournals",
                          doc["ManualJournalID"])
    return doc


def write_bank_transfer(org: Org, element: dict, *, create_only: bool, fixed_id: str | None = None) -> dict:
    if not create_only or element.get("BankTransferID"):
        raise WriteError(["Bank transfers cannot be edited; create a new one with PUT"])
    errors: list[str] = []
    accounts = []
    for side in ("FromBankAccount", "ToBankAccount"):
        acc = org._account_ref(element.get(side), errors, bank=True)
        if acc is not None and acc.get("Type") != "BANK":
            errors.append(f"{side} '{acc['Code']}' is not a bank account")
        accounts.append(acc)
    if all(accounts) and accounts[0]["AccountID"] == accounts[1]["AccountID"]:
        errors.append("The from and to bank accounts must be different")
    try:
        amount = round(float(element.get("Amount")), 2)
    except (TypeError, ValueError):
        errors.append("Amount must be a number")
        amount = 0.0
    if amount <= 0:
        errors.append("Amount must be greater than zero")
    doc = {"Date": element.get("Date")}
    _date(doc, "Date", errors, org.now_ms())
    if errors:
        raise WriteError(errors)
    now = org.now_ms()
    transfer = {
        "BankTransferID": fixed_id or org.new_id(), "FromBankAccount": _bank_ref(accounts[0]),
        "ToBankAccount": _bank_ref(accounts[1]), "Amount": amount, "Date": doc["Date"], "CurrencyRate": 1.0,
        "FromBankTransactionID": org.new_id(), "ToBankTransactionID": org.new_id(),
        "FromIsReconciled": bool(element.get("FromIsReconciled", False)),
        "ToIsReconciled": bool(element.get("ToIsReconciled", False)), "Reference": element.get("Reference", ""),
        "HasAttachments": False, "CreatedDateUTC": ms_date(now), "Status": "AUTHORISED",
    }
    org.c["BankTransfers"].put(transfer)
    org.journals.post(now, parse_date_ms(transfer["Date"]), "TRANSFER", "BankTransfers", transfer["BankTransferID"])
    return transfer


def delete_bank_transfer(org: Org, transfer_id: str, element: dict) -> dict:
    transfer = org.c["BankTransfers"].get(transfer_id.lower())
    if element.get("Status") != "DELETED":
        raise WriteError(["A bank transfer can only be deleted: send {\"Status\": \"DELETED\"}"])
    if transfer["Status"] == "DELETED":
        raise WriteError(["This bank transfer has already been deleted"])
    if transfer.get("FromIsReconciled") or transfer.get("ToIsReconciled"):
        raise WriteError(["A reconciled bank transfer cannot be deleted"])
    transfer["Status"] = "DELETED"
    org.c["BankTransfers"].put(transfer)
    return transfer


def _bank_ref(acc: dict) -> dict:
    return {"AccountID": acc["AccountID"], "Code": acc.get("Code", ""), "Name": acc.get("Name", "")}


def write_contact_group(org: Org, element: dict, *, create_only: bool, fixed_id: str | None = None) -> dict:
    old = _existing(org, "ContactGroups", "ContactGroupID", element, create_only, "Contact group")
    if old and old.get("Status") == "DELETED":
        raise WriteError(["This contact group has been deleted"])
    name = str(element.get("Name", (old or {}).get("Name")) or "").strip()
    status = element.get("Status", (old or {}).get("Status", "ACTIVE"))
    errors = []
    if not name:
        errors.append("The contact group name must be specified")
    elif len(name) > 50:
        errors.append("The contact group name must be 50 characters or less")
    if status not in ("ACTIVE", "DELETED"):
        errors.append(f"'{status}' is not a valid contact group status")
    for group in org.c["ContactGroups"].all():
        if group["Status"] == "ACTIVE" and group["Name"].lower() == name.lower() and \
                group["ContactGroupID"] != (old or {}).get("ContactGroupID"):
            errors.append(f"A contact group named '{name}' already exists")
    if errors:
        raise WriteError(errors)
    group = dict(old) if old else {"ContactGroupID": fixed_id or org.new_id(), "Contacts": []}
    group["Name"], group["Status"] = name, status
    org.c["ContactGroups"].put(group)
    return group


def add_group_contacts(org: Org, group_id: str, elements: list[dict]) -> list[dict]:
    group = org.c["ContactGroups"].get(group_id.lower())
    if group is None or group["Status"] != "ACTIVE":
        raise WriteError(["The contact group could not be found or has been deleted"])
    members = {c["ContactID"]: c for c in group.get("Contacts") or []}
    added, errors = [], []
    for element in elements:
        contact = org.c["Contacts"].get(str(element.get("ContactID", "")).lower())
        if contact is None:
            errors.append(f"Contact with ID '{element.get('ContactID')}' could not be found")
            continue
        members[contact["ContactID"]] = {"ContactID": contact["ContactID"], "Name": contact["Name"]}
        added.append(members[contact["ContactID"]])
    if errors:
        raise WriteError(errors)
    group["Contacts"] = list(members.values())
    org.c["ContactGroups"].put(group)
    return added


def clear_group_contacts(org: Org, group_id: str, contact_id: str | None = None) -> bool:
    """Remove every member (`DELETE /ContactGroups/{id}/Contacts`) or one (`.../Contacts/{ContactID}`)."""
    group = org.c["ContactGroups"].get(group_id.lower())
    if group is None:
        return False
    if contact_id:
        members = group.get("Contacts") or []
        kept = [c for c in members if c["ContactID"].lower() != contact_id.lower()]
        if len(kept) == len(members):
            return False
        group["Contacts"] = kept
        org.c["ContactGroups"].put(group)
        return True
    group["Contacts"] = []
    org.c["ContactGroups"].put(group)
    return True
