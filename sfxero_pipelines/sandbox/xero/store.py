"""The emulated organisation's data and the business rules Xero applies to writes.

Storage is compact so a 200,000-invoice org fits in a modest process: every record is kept as its
wire JSON (zlib-compressed) plus a few hot fields (`Rec`). A collection keeps its records in
`UpdatedDateUTC` order (rebuilt lazily after writes, nearly sorted so the rebuild is linear), so
`If-Modified-Since` is a bisect and an unfiltered page is a slice, and a 1000-row page is a join of
stored bytes.

Business rules emulated (the ones that bite integrations): unique contact names (case-insensitive,
among active contacts), archived contacts refused on documents, unknown account codes / tax types /
item codes, unsubscribed currencies, unique ACCREC invoice numbers, line totals that do not match
quantity x unit price, status transitions (no edits once PAID/VOIDED/DELETED, no going back to
DRAFT, no voiding with payments), payments and credit-note allocations keeping `AmountDue`,
`AmountPaid`, `AmountCredited`, `Status` and `FullyPaidOnDate` consistent, and contact `Balances`.
"""

from __future__ import annotations

import bisect
import functools
import json
import random
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal

from .journals import JournalLedger
from .wire import ZERO_GUID, day_ms, dumps, iso_from_ms, ms_date, parse_date_ms

DAY_MS = 86_400_000

# plural name -> (id field, has UpdatedDateUTC)
COLLECTIONS = {
    "Contacts": "ContactID",
    "Invoices": "InvoiceID",
    "CreditNotes": "CreditNoteID",
    "BankTransactions": "BankTransactionID",
    "Payments": "PaymentID",
    "Items": "ItemID",
    "Accounts": "AccountID",
    "TaxRates": "TaxType",
    "Currencies": "Code",
    "Quotes": "QuoteID",
    "PurchaseOrders": "PurchaseOrderID",
    "Overpayments": "OverpaymentID",
    "Prepayments": "PrepaymentID",
    "ManualJournals": "ManualJournalID",
    "BankTransfers": "BankTransferID",
    "ContactGroups": "ContactGroupID",
    "TrackingCategories": "TrackingCategoryID",
    "Users": "UserID",
}
_DEAD = {"DELETED", "VOIDED", "ARCHIVED"}


class Rec:
    __slots__ = ("id", "seq", "updated_ms", "status", "type", "contact_id", "blob")

    def __init__(self, id_: str, seq: int, updated_ms: int, status: str | None, type_: str | None,
                 contact_id: str | None, blob: bytes) -> None:
        self.id, self.seq, self.updated_ms = id_, seq, updated_ms
        self.status, self.type, self.contact_id, self.blob = status, type_, contact_id, blob


# Date fields Xero echoes as a zone-less ISO companion (`DateString: "2018-10-20T00:00:00"`), per collection.
_DATE_STRINGS = {
    "Invoices": ("Date", "DueDate"), "CreditNotes": ("Date", "DueDate"), "BankTransactions": ("Date",),
    "Payments": ("Date",), "Overpayments": ("Date",), "Prepayments": ("Date",), "Quotes": ("Date", "ExpiryDate"),
    "PurchaseOrders": ("Date", "DeliveryDate"), "BankTransfers": ("Date", "CreatedDateUTC"),
}


@functools.lru_cache(maxsize=1 << 16)
def _date_string(value) -> str | None:
    # Cached: a seeded org's documents share a few hundred distinct dates, and formatting one per
    # record was a visible share of `--size large` start-up.
    if not isinstance(value, str):
        return None
    ms = parse_date_ms(value)
    return None if ms is None else iso_from_ms(ms, with_z=False)


class Collection:
    def __init__(self, name: str, id_field: str) -> None:
        self.name, self.id_field = name, id_field
        self._date_strings = _DATE_STRINGS.get(name, ())
        self.by_id: dict[str, Rec] = {}
        self._order: list[Rec] | None = []
        self._keys: list[tuple[int, int]] | None = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self.by_id)

    def put(self, record: dict) -> Rec:
        rid = record[self.id_field]
        for field in self._date_strings:
            companion = _date_string(record.get(field))
            if companion is not None:
                record[field + "String"] = companion
            else:
                record.pop(field + "String", None)
        status = record.get("Status") or record.get("ContactStatus")
        contact = record.get("Contact") or {}
        # BankTransfers carry only CreatedDateUTC, which is what If-Modified-Since compares for them.
        updated = parse_date_ms(record.get("UpdatedDateUTC") or record.get("CreatedDateUTC")) or 0
        old = self.by_id.get(rid)
        self._seq += 1
        rec = Rec(rid, self._seq, updated, status, record.get("Type"), contact.get("ContactID"),
                  zlib.compress(dumps(record), 1))
        self.by_id[rid] = rec
        if old is None and self._order is not None and (not self._keys or self._keys[-1] <= (updated, rec.seq)):
            self._order.append(rec)
            self._keys.append((updated, rec.seq))
        else:
            self._order = self._keys = None
        return rec

    def remove(self, rid: str) -> None:
        """A hard delete (Items): the record leaves every read."""
        if self.by_id.pop(rid, None) is not None:
            self._order = self._keys = None  # rebuilt by the next ordered read

    def get(self, rid: str) -> dict | None:
        rec = self.by_id.get(rid)
        return json.loads(zlib.decompress(rec.blob)) if rec else None

    @staticmethod
    def load(rec: Rec) -> dict:
        return json.loads(zlib.decompress(rec.blob))

    @staticmethod
    def raw(rec: Rec) -> bytes:
        return zlib.decompress(rec.blob)

    def ordered(self) -> tuple[list[Rec], list[tuple[int, int]]]:
        """Records by (UpdatedDateUTC, write sequence); cached until the next out-of-order write."""
        if self._order is None:
            self._order = sorted(self.by_id.values(), key=lambda r: (r.updated_ms, r.seq))
            self._keys = [(r.updated_ms, r.seq) for r in self._order]
        return self._order, self._keys

    def since(self, ms: int | None) -> list[Rec]:
        order, keys = self.ordered()
        if ms is None:
            return order
        return order[bisect.bisect_left(keys, (ms, -1)):]

    def all(self) -> Iterable[dict]:
        for rec in self.ordered()[0]:
            yield self.load(rec)


class WriteError(Exception):
    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("; ".join(messages))


def contact_name(value) -> str | None:
    """A Contact Name as Xero keeps it (trimmed), or None when there is none (missing, null, blank)."""
    if value is None:
        return None
    return str(value).strip() or None


def _round2(x: float) -> float:
    return round(x + 0.0, 2)


def _dec(x) -> Decimal:
    return Decimal(repr(float(x)))


def _xround(x: Decimal, dp: int) -> Decimal:
    """Xero's rounding of line figures: in decimal, a midpoint away from zero (2.675 → 2.68, where a
    binary float's round() gives 2.67)."""
    return x.quantize(Decimal(1).scaleb(-dp), rounding=ROUND_HALF_UP)


#: Quantity keeps 4 dp; UnitAmount 2 dp, or 4 when the request opts in with `unitdp=4`.
QUANTITY_DP = 4


class Org:
    """One organisation's data. All mutation goes through the methods below, under `lock`."""

    def __init__(self, *, clock, rng_seed: int, org: dict, base_currency: str, fx: dict[str, float]) -> None:
        self.clock = clock
        self.rng = random.Random(rng_seed)
        self.lock = threading.RLock()
        self.organisation = org
        self.base_currency = base_currency
        self.fx = dict(fx)
        self.c = {name: Collection(name, idf) for name, idf in COLLECTIONS.items()}
        self.contact_names: dict[str, str] = {}  # lower(name) -> ContactID (active contacts)
        self.contact_numbers: dict[str, str] = {}
        self.invoice_numbers: dict[str, str] = {}  # ACCREC InvoiceNumber -> InvoiceID
        self.credit_note_numbers: dict[str, str] = {}
        self.item_codes: dict[str, str] = {}
        self.accounts_by_code: dict[str, dict] = {}
        self.accounts_by_id: dict[str, dict] = {}
        self.tax_rates: dict[str, float] = {}
        # ContactID -> {InvoiceID: (is_receivable, amount due in base currency, due date ms)}
        self.open_docs: dict[str, dict[str, tuple[bool, float, int]]] = {}
        self._balance_owner: dict[str, str] = {}
        self.counters = {"INV": 0, "CN": 0, "QU": 0, "PO": 0}
        self.quote_numbers: dict[str, str] = {}
        self.purchase_order_numbers: dict[str, str] = {}
        self.journals = JournalLedger(self)
        self.listeners: list[Callable[[str, str, str], None]] = []

    # -- ids and time -----------------------------------------------------------------------------
    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def now_ms(self) -> int:
        return int(self.clock.time() * 1000)

    def _notify(self, category: str, event: str, rid: str) -> None:
        for listener in self.listeners:
            listener(category, event, rid)

    # -- reference data ---------------------------------------------------------------------------
    def put_account(self, acc: dict) -> None:
        self.c["Accounts"].put(acc)
        self.accounts_by_code[acc.get("Code", "")] = acc
        self.accounts_by_id[acc["AccountID"]] = acc

    def put_tax_rate(self, tr: dict) -> None:
        self.c["TaxRates"].put(tr)
        self.tax_rates[tr["TaxType"]] = float(tr.get("EffectiveRate", 0)) / 100.0

    def put_currency(self, cur: dict) -> None:
        self.c["Currencies"].put(cur)

    def subscribed(self, code: str) -> bool:
        return code in self.c["Currencies"].by_id

    # -- indexes ----------------------------------------------------------------------------------
    def _index_contact(self, contact: dict, old: dict | None) -> None:
        if old:
            if self.contact_names.get(old["Name"].lower()) == old["ContactID"]:
                del self.contact_names[old["Name"].lower()]
            if old.get("ContactNumber") and self.contact_numbers.get(old["ContactNumber"]) == old["ContactID"]:
                del self.contact_numbers[old["ContactNumber"]]
        if contact.get("ContactStatus", "ACTIVE") == "ACTIVE":
            self.contact_names[contact["Name"].lower()] = contact["ContactID"]
        if contact.get("ContactNumber"):
            self.contact_numbers[contact["ContactNumber"]] = contact["ContactID"]

    def store_contact(self, contact: dict) -> None:
        old = self.c["Contacts"].get(contact["ContactID"]) if contact["ContactID"] in self.c["Contacts"].by_id else None
        self._index_contact(contact, old)
        self.c["Contacts"].put(contact)

    def _doc_balance(self, doc: dict) -> None:
        """Keep the contact balance index in step with one invoice."""
        cid = (doc.get("Contact") or {}).get("ContactID")
        rid = doc["InvoiceID"]
        prev_cid = self._balance_owner.pop(rid, None)
        if prev_cid:
            self.open_docs.get(prev_cid, {}).pop(rid, None)
        if doc.get("Status") == "AUTHORISED" and doc.get("AmountDue", 0) > 0 and cid:
            rate = doc.get("CurrencyRate") or 1.0
            due = parse_date_ms(doc.get("DueDate")) or parse_date_ms(doc.get("Date")) or 0
            self.open_docs.setdefault(cid, {})[rid] = (doc.get("Type") == "ACCREC", doc["AmountDue"] / rate, due)
            self._balance_owner[rid] = cid

    def store_invoice(self, inv: dict) -> None:
        if inv.get("Type") == "ACCREC" and inv.get("InvoiceNumber"):
            self.invoice_numbers[inv["InvoiceNumber"]] = inv["InvoiceID"]
        self._doc_balance(inv)
        self.c["Invoices"].put(inv)

    def store_credit_note(self, cn: dict) -> None:
        if cn.get("CreditNoteNumber"):
            self.credit_note_numbers[cn["CreditNoteNumber"]] = cn["CreditNoteID"]
        self.c["CreditNotes"].put(cn)

    def store_quote(self, quote: dict) -> None:
        self.quote_numbers[quote["QuoteNumber"]] = quote["QuoteID"]
        self.c["Quotes"].put(quote)

    def store_purchase_order(self, order: dict) -> None:
        self.purchase_order_numbers[order["PurchaseOrderNumber"]] = order["PurchaseOrderID"]
        self.c["PurchaseOrders"].put(order)

    def post_journal(self, source_type: str, plural: str, source_id: str, date) -> None:
        self.journals.post(self.now_ms(), parse_date_ms(date) or day_ms(self.now_ms()), source_type, plural,
                           source_id)

    def store_item(self, item: dict) -> None:
        self.item_codes[item["Code"]] = item["ItemID"]
        self.c["Items"].put(item)

    def balances(self, contact_id: str) -> dict:
        today = day_ms(self.now_ms())
        ar = ar_over = ap = ap_over = 0.0
        for is_ar, amount, due in self.open_docs.get(contact_id, {}).values():
            if is_ar:
                ar += amount
                if due < today:
                    ar_over += amount
            else:
                ap += amount
                if due < today:
                    ap_over += amount
        return {"AccountsReceivable": {"Outstanding": _round2(ar), "Overdue": _round2(ar_over)},
                "AccountsPayable": {"Outstanding": _round2(ap), "Overdue": _round2(ap_over)}}

    # -- shared validation ------------------------------------------------------------------------
    def _resolve_contact(self, ref: dict | None, errors: list[str], *, create_ok: bool = True) -> dict | None:
        # A blank Name names no contact: Xero would otherwise have to create one without a name.
        name = contact_name(ref.get("Name")) if isinstance(ref, dict) else None
        if not isinstance(ref, dict) or not (ref.get("ContactID") or name or ref.get("ContactNumber")):
            errors.append("A Contact must be specified for this type of transaction")
            return None
        cid = ref.get("ContactID")
        if cid and cid != ZERO_GUID:
            contact = self.c["Contacts"].get(cid.lower()) or self.c["Contacts"].get(cid)
            if contact is None:
                errors.append(f"Contact with ID '{cid}' could not be found")
                return None
        elif ref.get("ContactNumber") and ref["ContactNumber"] in self.contact_numbers:
            contact = self.c["Contacts"].get(self.contact_numbers[ref["ContactNumber"]])
        elif name:
            existing = self.contact_names.get(name.lower())
            if existing:
                contact = self.c["Contacts"].get(existing)
            elif create_ok:
                # Xero creates a contact on the fly when a document names an unknown one.
                contact = self._new_contact({"Name": name})
                self.store_contact(contact)
                self._notify("CONTACT", "CREATE", contact["ContactID"])
            else:
                errors.append(f"Contact '{ref['Name']}' could not be found")
                return None
        else:
            errors.append("A Contact must be specified for this type of transaction")
            return None
        if contact.get("ContactStatus") == "ARCHIVED":
            errors.append(f"The contact '{contact['Name']}' has been archived and cannot be used on a "
                          "transaction. Restore the contact or choose another one.")
        return contact

    @staticmethod
    def contact_ref(contact: dict) -> dict:
        ref = {"ContactID": contact["ContactID"], "Name": contact["Name"]}
        if contact.get("ContactNumber"):
            ref["ContactNumber"] = contact["ContactNumber"]
        if contact.get("EmailAddress"):
            ref["EmailAddress"] = contact["EmailAddress"]
        ref["HasValidationErrors"] = False
        return ref

    def _account_ref(self, ref: dict | None, errors: list[str], *, bank: bool = False) -> dict | None:
        if not isinstance(ref, dict):
            errors.append("An Account must be specified" if not bank else "A Bank Account must be specified")
            return None
        acc = None
        if ref.get("AccountID"):
            acc = self.accounts_by_id.get(ref["AccountID"].lower())
        elif ref.get("Code"):
            acc = self.accounts_by_code.get(str(ref["Code"]))
        if acc is None or acc.get("Status") != "ACTIVE":
            errors.append("Account could not be found" if not ref.get("Code") else
                          f"Account code '{ref['Code']}' is not a valid code for this document.")
            return None
        if bank and acc.get("Type") != "BANK" and not acc.get("EnablePaymentsToAccount"):
            errors.append(f"Account '{acc['Code']}' is not a bank account and does not accept payments.")
            return None
        return acc

    def compute_lines(self, doc: dict, *, sales: bool, errors: list[str], strict_accounts: bool,
                      unit_dp: int = 4) -> None:
        """Derive each line's figures and the document's totals as Xero does. `unit_dp`: the
        UnitAmount precision of the request (2, or 4 with `unitdp=4`); seeded and stored lines are
        already within it."""
        """Fill line amounts, tax and document totals; collect errors for bad codes and totals."""
        lat = doc.get("LineAmountTypes") or "Exclusive"
        if lat not in ("Exclusive", "Inclusive", "NoTax"):
            errors.append(f"'{lat}' is not a valid LineAmountTypes value (Exclusive, Inclusive, NoTax)")
            lat = "Exclusive"
        doc["LineAmountTypes"] = lat
        lines = doc.get("LineItems") or []
        if not isinstance(lines, list):
            errors.append("LineItems must be a list")
            lines = []
        sub = tax_total = 0.0
        for n, line in enumerate(lines, 1):
            if not isinstance(line, dict):
                errors.append(f"Line item {n} is not an object")
                continue
            line.setdefault("LineItemID", self.new_id())
            if line.get("ItemCode"):
                item_id = self.item_codes.get(line["ItemCode"])
                if not item_id:
                    errors.append(f"Item code '{line['ItemCode']}' is not valid")
                else:
                    item = self.c["Items"].get(item_id)
                    details = item.get("SalesDetails" if sales else "PurchaseDetails") or {}
                    line.setdefault("Description", item.get("Description") or item.get("Name"))
                    if "UnitAmount" not in line and "UnitPrice" in details:
                        line["UnitAmount"] = details["UnitPrice"] * (doc.get("CurrencyRate") or 1.0)
                    if details.get("AccountCode"):
                        line.setdefault("AccountCode", details["AccountCode"])
                    if details.get("TaxType"):
                        line.setdefault("TaxType", details["TaxType"])
                    line["Item"] = {"ItemID": item_id, "Code": item["Code"], "Name": item.get("Name", "")}
            code = line.get("AccountCode")
            if code is not None:
                acc = self.accounts_by_code.get(str(code))
                if acc is None or acc.get("Status") != "ACTIVE":
                    errors.append(f"Account code '{code}' is not a valid code for this document.")
                else:
                    line["AccountID"] = acc["AccountID"]
                    line.setdefault("TaxType", acc.get("TaxType") or "NONE")
            elif strict_accounts:
                errors.append(f"Line item {n}: an account code must be specified")
            tax_type = line.get("TaxType")
            if tax_type is None:
                line["TaxType"] = tax_type = "NONE"
            if tax_type not in self.tax_rates:
                errors.append(f"The TaxType code '{tax_type}' does not exist or cannot be used with this type "
                              "of transaction.")
            try:
                qty = float(line.get("Quantity", 1) if line.get("Quantity") is not None else 1)
                unit = float(line.get("UnitAmount", 0) or 0)
                disc = float(line.get("DiscountRate", 0) or 0)
            except (TypeError, ValueError):
                errors.append(f"Line item {n}: Quantity, UnitAmount and DiscountRate must be numbers")
                continue
            qty_d, unit_d, disc_d = _xround(_dec(qty), QUANTITY_DP), _xround(_dec(unit), unit_dp), _xround(_dec(disc), 2)
            qty, unit = float(qty_d), float(unit_d)
            amount = float(_xround(qty_d * unit_d * (100 - disc_d) / 100, 2))
            if line.get("LineAmount") is not None:
                try:
                    given = _round2(float(line["LineAmount"]))
                except (TypeError, ValueError):
                    given = None
                if given != amount:
                    errors.append(f"Line item total {given} does not match the expected line item total of "
                                  f"{amount:.2f}")
            line["Quantity"], line["UnitAmount"], line["LineAmount"] = qty, unit, amount
            rate = 0.0 if lat == "NoTax" else self.tax_rates.get(tax_type, 0.0)
            line_tax = _round2(amount - amount / (1 + rate)) if lat == "Inclusive" else _round2(amount * rate)
            line["TaxAmount"] = line_tax
            line["Tracking"] = self._line_tracking(line.get("Tracking") or [], n, errors)
            sub += amount - line_tax if lat == "Inclusive" else amount
            tax_total += line_tax
        doc["LineItems"] = lines
        doc["SubTotal"] = _round2(sub)
        doc["TotalTax"] = _round2(tax_total)
        doc["Total"] = _round2(sub + tax_total)

    def _line_tracking(self, entries: list, n: int, errors: list[str]) -> list[dict]:
        """A line's tracking as Xero keeps it: at most two entries, each an active option of an active
        category, named (`Name`, `Option`) or by id, answered with both names and both ids."""
        if not isinstance(entries, list) or len(entries) > 2:
            errors.append(f"Line item {n}: Tracking takes at most two tracking categories")
            return []
        out = []
        for t in entries:
            t = t if isinstance(t, dict) else {}
            category = next((c for c in self.c["TrackingCategories"].all() if c.get("Status") == "ACTIVE" and (
                c.get("Name") == t.get("Name") or c["TrackingCategoryID"] == t.get("TrackingCategoryID"))), None)
            if category is None:
                errors.append(f"Line item {n}: the tracking category '{t.get('Name') or t.get('TrackingCategoryID')}' "
                              "does not exist or is archived")
                continue
            option = next((o for o in category.get("Options") or [] if o.get("Status", "ACTIVE") == "ACTIVE" and (
                o.get("Name") == t.get("Option") or o.get("TrackingOptionID") == t.get("TrackingOptionID"))), None)
            if option is None:
                errors.append(f"Line item {n}: '{t.get('Option')}' is not an active option of the tracking category "
                              f"'{category['Name']}'")
                continue
            out.append({"Name": category["Name"], "Option": option["Name"],
                        "TrackingCategoryID": category["TrackingCategoryID"], "TrackingOptionID": option["TrackingOptionID"]})
        return out

    def _currency(self, doc: dict, old: dict | None, errors: list[str]) -> None:
        code = doc.get("CurrencyCode") or (old or {}).get("CurrencyCode") or self.base_currency
        if not self.subscribed(code):
            errors.append(f"Organisation is not subscribed to currency {code}")
        doc["CurrencyCode"] = code
        if code == self.base_currency:
            doc["CurrencyRate"] = 1.0
        elif not doc.get("CurrencyRate"):
            doc["CurrencyRate"] = (old or {}).get("CurrencyRate") or self.fx.get(code, 1.0)

    @staticmethod
    def _transition_error(kind: str, old_status: str, new_status: str, has_payments: bool) -> str | None:
        if old_status in ("PAID",):
            return "This document cannot be edited as it has a payment or credit note allocated to it."
        if old_status in ("VOIDED", "DELETED"):
            return f"This document cannot be edited as it is {old_status.lower()}."
        allowed = {
            "DRAFT": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
            "SUBMITTED": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
            "AUTHORISED": {"AUTHORISED", "VOIDED"},
        }.get(old_status, set())
        if new_status not in allowed:
            return f"Invalid status change: a {kind} cannot go from {old_status} to {new_status}"
        if new_status == "VOIDED" and has_payments:
            return "Payments or credit notes must be removed before this document can be voided."
        return None

    # -- contacts ---------------------------------------------------------------------------------
    def _new_contact(self, fields: dict) -> dict:
        now = self.now_ms()
        contact = {
            "ContactID": self.new_id(), "ContactStatus": "ACTIVE", "Name": "",
            "Addresses": [], "Phones": [], "ContactGroups": [], "ContactPersons": [],
            "IsSupplier": False, "IsCustomer": False, "HasAttachments": False, "HasValidationErrors": False,
        }
        contact.update(fields)
        contact["UpdatedDateUTC"] = ms_date(now)
        return contact

    def contact_name_errors(self, name: str | None, old: dict | None = None) -> list[str]:
        """Xero's rules for a Contact's Name (`name` as `contact_name` gives it): required, at most
        255 characters, unique among contacts other than `old` (the contact being updated)."""
        if not name:
            return ["The contact name must be specified"]
        if len(name) > 255:
            return ["The contact name must be 255 characters or less"]
        owner = self.contact_names.get(name.lower())
        if owner and (old is None or owner != old["ContactID"]):
            return [f"The contact name {name} is already assigned to another contact. The contact "
                    "name must be unique across all active contacts."]
        return []

    def write_contact(self, element: dict, *, create_only: bool) -> dict:
        errors: list[str] = []
        cid = (element.get("ContactID") or "").lower() or None
        old = None
        if cid and cid != ZERO_GUID:
            old = self.c["Contacts"].get(cid)
            if old is None:
                raise WriteError([f"Contact with ID '{element['ContactID']}' could not be found"])
            if create_only:
                raise WriteError(["A Contact with this ContactID already exists; use POST to update it"])
        elif not create_only:
            # POST without an id updates the contact with the same ContactNumber or Name.
            match = None
            if element.get("ContactNumber"):
                match = self.contact_numbers.get(element["ContactNumber"])
            if match is None and element.get("Name"):
                match = self.contact_names.get(str(element["Name"]).strip().lower())
            if match:
                old = self.c["Contacts"].get(match)
        name = contact_name(element.get("Name", (old or {}).get("Name")))
        errors.extend(self.contact_name_errors(name, old))
        number = element.get("ContactNumber")
        if number and self.contact_numbers.get(number) not in (None, (old or {}).get("ContactID")):
            errors.append(f"The contact number {number} is already assigned to another contact.")
        status = element.get("ContactStatus", (old or {}).get("ContactStatus", "ACTIVE"))
        if status not in ("ACTIVE", "ARCHIVED", "GDPRREQUEST"):
            errors.append(f"'{status}' is not a valid ContactStatus")
        if element.get("DefaultCurrency") and not self.subscribed(element["DefaultCurrency"]):
            errors.append(f"Organisation is not subscribed to currency {element['DefaultCurrency']}")
        if status == "ARCHIVED" and old and any(
                v[1] > 0 for v in self.open_docs.get(old["ContactID"], {}).values()):
            errors.append("This contact cannot be archived as it has outstanding invoices or bills.")
        if errors:
            raise WriteError(errors)
        merged = dict(old) if old else self._new_contact({})
        for key, value in element.items():
            if key in ("ContactID", "Balances", "UpdatedDateUTC", "HasValidationErrors", "ValidationErrors",
                       "StatusAttributeString", "HasAttachments"):
                continue
            merged[key] = value
        merged["Name"] = name
        merged["ContactStatus"] = status
        merged["UpdatedDateUTC"] = ms_date(self.now_ms())
        self.store_contact(merged)
        self._notify("CONTACT", "UPDATE" if old else "CREATE", merged["ContactID"])
        return merged

    # -- invoices and credit notes ----------------------------------------------------------------
    def write_document(self, element: dict, *, kind: str, create_only: bool, doc_id: str | None = None,
                       unit_dp: int = 2) -> dict:
        """Create or update an invoice (kind 'Invoices') or credit note ('CreditNotes')."""
        is_inv = kind == "Invoices"
        idf = "InvoiceID" if is_inv else "CreditNoteID"
        numf = "InvoiceNumber" if is_inv else "CreditNoteNumber"
        coll = self.c[kind]
        errors: list[str] = []
        rid = (doc_id or element.get(idf) or "").lower() or None
        old = None
        if rid and rid != ZERO_GUID:
            old = coll.get(rid)
            if old is None and is_inv and (doc_id or element.get(idf)) in self.invoice_numbers:
                old = coll.get(self.invoice_numbers[doc_id or element.get(idf)])
            if old is None:
                raise WriteError([f"{'Invoice' if is_inv else 'Credit note'} with ID '{doc_id or element[idf]}' "
                                  "could not be found"])
            if create_only:
                raise WriteError([f"A document with {idf} {old[idf]} already exists; use POST to update it"])
        elif not create_only and is_inv and element.get("InvoiceNumber") in self.invoice_numbers \
                and element.get("Type", "ACCREC") == "ACCREC":
            old = coll.get(self.invoice_numbers[element["InvoiceNumber"]])
        valid_types = ("ACCREC", "ACCPAY") if is_inv else ("ACCRECCREDIT", "ACCPAYCREDIT")
        type_ = element.get("Type", (old or {}).get("Type"))
        if type_ not in valid_types:
            raise WriteError([f"Type must be one of {', '.join(valid_types)}"])
        if old and old.get("Type") != type_:
            raise WriteError(["The document Type cannot be changed"])
        status = element.get("Status", (old or {}).get("Status", "DRAFT"))
        if status not in ("DRAFT", "SUBMITTED", "AUTHORISED", "DELETED", "VOIDED", "PAID"):
            raise WriteError([f"'{status}' is not a valid status"])
        if old:
            has_money = bool(old.get("Payments")) or bool(old.get("CreditNotes")) or bool(old.get("Allocations")) \
                or (old.get("AmountPaid", 0) or 0) > 0 or (old.get("AmountCredited", 0) or 0) > 0
            message = self._transition_error("invoice" if is_inv else "credit note", old["Status"], status,
                                             has_money)
            if message:
                raise WriteError([message])
            if old["Status"] == "AUTHORISED" and status == "AUTHORISED" and has_money and "LineItems" in element:
                raise WriteError(["This document cannot be edited as it has a payment or credit note allocated "
                                  "to it."])
        elif status in ("PAID", "VOIDED", "DELETED"):
            raise WriteError([f"A new document cannot be created with status {status}"])
        doc = dict(old) if old else {idf: self.new_id(), "Type": type_, "HasAttachments": False,
                                     "HasErrors": False}
        for key, value in element.items():
            if key in (idf, "UpdatedDateUTC", "UpdatedDateUTCString", "SubTotal", "TotalTax", "Total",
                       "AmountDue", "AmountPaid", "AmountCredited", "RemainingCredit", "Payments", "CreditNotes",
                       "Allocations", "FullyPaidOnDate", "HasErrors", "ValidationErrors", "StatusAttributeString",
                       "Warnings", "HasAttachments"):
                continue
            doc[key] = value
        contact = self._resolve_contact(element.get("Contact") or (old or {}).get("Contact"), errors)
        if contact:
            doc["Contact"] = self.contact_ref(contact)
        self._currency(doc, old, errors)
        for field in ("Date", "DueDate", "ExpectedPaymentDate", "PlannedPaymentDate"):
            if doc.get(field) is not None:
                ms = parse_date_ms(doc[field])
                if ms is None:
                    errors.append(f"{field} '{doc[field]}' is not a valid date")
                else:
                    doc[field] = ms_date(day_ms(ms))
        if not doc.get("Date"):
            doc["Date"] = ms_date(day_ms(self.now_ms()))
        if is_inv and status in ("SUBMITTED", "AUTHORISED") and not doc.get("DueDate"):
            errors.append("Due Date is required.")
        # Lines kept from the stored document were rounded when written: only new lines take the request's dp.
        self.compute_lines(doc, sales=type_ in ("ACCREC", "ACCRECCREDIT"), errors=errors,
                           strict_accounts=status in ("SUBMITTED", "AUTHORISED"),
                           unit_dp=unit_dp if "LineItems" in element else 4)
        if status in ("SUBMITTED", "AUTHORISED") and not doc["LineItems"]:
            errors.append("At least one line item is required to approve this document")
        number = doc.get(numf)
        if type_ == "ACCREC" and number and self.invoice_numbers.get(number) not in (None, doc[idf]):
            errors.append("Invoice # must be unique.")
        if type_ == "ACCRECCREDIT" and number and self.credit_note_numbers.get(number) not in (None, doc[idf]):
            errors.append("Credit Note # must be unique.")
        if errors:
            raise WriteError(errors)
        if not number and type_ in ("ACCREC", "ACCRECCREDIT"):
            prefix = "INV" if is_inv else "CN"
            self.counters[prefix] += 1
            doc[numf] = f"{prefix}-{self.counters[prefix]:05d}"
        doc["Status"] = status
        applied = (doc.get("AmountPaid", 0) or 0) + (doc.get("AmountCredited", 0) or 0)
        if is_inv:
            doc.setdefault("AmountPaid", 0.0)
            doc.setdefault("AmountCredited", 0.0)
            doc["AmountDue"] = _round2(doc["Total"] - applied) if status not in ("VOIDED", "DELETED") else 0.0
            doc.setdefault("Payments", [])
            doc.setdefault("CreditNotes", [])
        else:
            doc["RemainingCredit"] = _round2(doc["Total"] - (doc.get("AppliedAmount") or 0)) \
                if status == "AUTHORISED" else (0.0 if status != "DRAFT" and status != "SUBMITTED" else doc["Total"])
            doc.setdefault("Allocations", [])
        self._touch(doc)
        if status == "AUTHORISED" and (old is None or old["Status"] not in ("AUTHORISED", "PAID")):
            self.post_journal(type_, kind, doc[idf], doc["Date"])
        if is_inv:
            self.store_invoice(doc)
            self._notify("INVOICE", "UPDATE" if old else "CREATE", doc[idf])
        else:
            self.store_credit_note(doc)
            self._notify("CREDITNOTE", "UPDATE" if old else "CREATE", doc[idf])
        return doc

    def _touch(self, doc: dict) -> None:
        now = self.now_ms()
        doc["UpdatedDateUTC"] = ms_date(now)
        if "InvoiceID" in doc or "CreditNoteID" in doc or "PaymentID" in doc:
            doc["UpdatedDateUTCString"] = iso_from_ms(now)

    # -- payments ---------------------------------------------------------------------------------
    def write_payment(self, element: dict, *, fixed_id: str | None = None) -> dict:
        errors: list[str] = []
        inv_ref = element.get("Invoice") or {}
        inv = None
        if inv_ref.get("InvoiceID"):
            inv = self.c["Invoices"].get(str(inv_ref["InvoiceID"]).lower())
        elif inv_ref.get("InvoiceNumber") or element.get("InvoiceNumber"):
            number = inv_ref.get("InvoiceNumber") or element.get("InvoiceNumber")
            inv = self.c["Invoices"].get(self.invoice_numbers.get(number, ""))
        if inv is None:
            raise WriteError(["Invoice could not be found (a payment needs Invoice.InvoiceID or InvoiceNumber)"])
        account = self._account_ref(element.get("Account"), errors, bank=True)
        try:
            amount = _round2(float(element.get("Amount")))
        except (TypeError, ValueError):
            errors.append("Payment Amount must be a number")
            amount = 0.0
        if amount <= 0:
            errors.append("Payment amount must be greater than zero")
        if inv["Status"] != "AUTHORISED":
            errors.append(f"Payment cannot be applied: the invoice is {inv['Status']}. Only AUTHORISED invoices "
                          "can be paid.")
        elif amount > inv["AmountDue"] + 1e-9:
            errors.append(f"Payment amount ({amount:.2f}) exceeds the amount outstanding on this document "
                          f"({inv['AmountDue']:.2f}).")
        date_ms = parse_date_ms(element.get("Date")) or self.now_ms()
        if errors:
            raise WriteError(errors)
        payment = {
            "PaymentID": fixed_id or self.new_id(), "Date": ms_date(day_ms(date_ms)), "Amount": amount,
            "BankAmount": amount, "CurrencyRate": inv.get("CurrencyRate", 1.0),
            "Reference": element.get("Reference", ""), "IsReconciled": bool(element.get("IsReconciled", False)),
            "Status": "AUTHORISED",
            "PaymentType": "ACCRECPAYMENT" if inv["Type"] == "ACCREC" else "ACCPAYPAYMENT",
            "Account": {"AccountID": account["AccountID"], "Code": account["Code"]},
            "Invoice": self._invoice_ref(inv), "HasAccount": False, "HasValidationErrors": False,
        }
        self._touch(payment)
        self.apply_payment(inv, payment)
        self.c["Payments"].put(payment)
        self.post_journal(payment["PaymentType"], "Payments", payment["PaymentID"], payment["Date"])
        return payment

    @staticmethod
    def _invoice_ref(inv: dict) -> dict:
        return {"InvoiceID": inv["InvoiceID"], "InvoiceNumber": inv.get("InvoiceNumber", ""), "Type": inv["Type"],
                "Contact": {"ContactID": inv["Contact"]["ContactID"], "Name": inv["Contact"]["Name"]},
                "CurrencyCode": inv["CurrencyCode"], "IsDiscounted": False, "HasErrors": False}

    def apply_payment(self, inv: dict, payment: dict, *, touch: bool = True) -> None:
        inv["Payments"] = list(inv.get("Payments") or []) + [{
            "PaymentID": payment["PaymentID"], "Date": payment["Date"], "Amount": payment["Amount"],
            "CurrencyRate": payment["CurrencyRate"], "Reference": payment.get("Reference", ""),
            "HasAccount": False, "HasValidationErrors": False}]
        inv["AmountPaid"] = _round2((inv.get("AmountPaid") or 0) + payment["Amount"])
        self._settle(inv, payment["Date"], touch=touch)

    def _settle(self, inv: dict, date: str, *, touch: bool = True) -> None:
        inv["AmountDue"] = _round2(inv["Total"] - inv.get("AmountPaid", 0) - inv.get("AmountCredited", 0))
        if inv["AmountDue"] <= 0 and inv["Status"] == "AUTHORISED":
            inv["AmountDue"] = 0.0
            inv["Status"] = "PAID"
            inv["FullyPaidOnDate"] = date
        elif inv["AmountDue"] > 0 and inv["Status"] == "PAID":
            inv["Status"] = "AUTHORISED"
            inv.pop("FullyPaidOnDate", None)
        if touch:
            self._touch(inv)
        self.store_invoice(inv)
        if touch:
            self._notify("INVOICE", "UPDATE", inv["InvoiceID"])

    def delete_payment(self, payment_id: str, element: dict) -> dict:
        payment = self.c["Payments"].get(payment_id.lower())
        if payment is None:
            raise KeyError(payment_id)
        if element.get("Status") != "DELETED":
            raise WriteError(["A payment can only be deleted: send {\"Status\": \"DELETED\"}"])
        if payment["Status"] == "DELETED":
            raise WriteError(["This payment has already been deleted"])
        payment["Status"] = "DELETED"
        self._touch(payment)
        self.c["Payments"].put(payment)
        inv = self.c["Invoices"].get(payment["Invoice"]["InvoiceID"])
        if inv:
            inv["Payments"] = [p for p in inv.get("Payments", []) if p["PaymentID"] != payment["PaymentID"]]
            inv["AmountPaid"] = _round2(inv.get("AmountPaid", 0) - payment["Amount"])
            self._settle(inv, payment["Date"])
        return payment

    # -- credit note allocations ------------------------------------------------------------------
    def allocate(self, credit_note_id: str, element: dict, *, touch: bool = True) -> dict:
        cn = self.c["CreditNotes"].get(credit_note_id.lower())
        if cn is None:
            raise KeyError(credit_note_id)
        inv_ref = element.get("Invoice") or {}
        inv = self.c["Invoices"].get(str(inv_ref.get("InvoiceID", "")).lower())
        errors = []
        if inv is None:
            raise WriteError(["Invoice could not be found for the allocation"])
        try:
            amount = _round2(float(element.get("Amount")))
        except (TypeError, ValueError):
            raise WriteError(["Allocation Amount must be a number"]) from None
        if cn["Status"] != "AUTHORISED":
            errors.append("Only AUTHORISED credit notes can be allocated")
        if inv["Status"] != "AUTHORISED":
            errors.append("The invoice must be AUTHORISED to allocate a credit note to it")
        if (cn["Type"] == "ACCRECCREDIT") != (inv["Type"] == "ACCREC"):
            errors.append("A sales credit note can only be allocated to a sales invoice (and purchase to bill)")
        if cn["CurrencyCode"] != inv["CurrencyCode"]:
            errors.append("The credit note and invoice must be in the same currency")
        if cn["Contact"]["ContactID"] != inv["Contact"]["ContactID"]:
            errors.append("The credit note and invoice must belong to the same contact")
        if amount <= 0 or amount > cn.get("RemainingCredit", 0) + 1e-9 or amount > inv["AmountDue"] + 1e-9:
            errors.append("The allocation amount must be positive and no more than the remaining credit and the "
                          "amount due")
        if errors:
            raise WriteError(errors)
        date = ms_date(day_ms(parse_date_ms(element.get("Date")) or self.now_ms()))
        allocation = {"AllocationID": self.new_id(), "Amount": amount, "Date": date,
                      "Invoice": self._invoice_ref(inv), "IsDeleted": False}
        cn["Allocations"] = list(cn.get("Allocations") or []) + [allocation]
        cn["AppliedAmount"] = _round2((cn.get("AppliedAmount") or 0) + amount)
        cn["RemainingCredit"] = _round2(cn["Total"] - cn["AppliedAmount"])
        if cn["RemainingCredit"] <= 0:
            cn["RemainingCredit"] = 0.0
            cn["Status"] = "PAID"
            cn["FullyPaidOnDate"] = date
        if touch:
            self._touch(cn)
        self.store_credit_note(cn)
        inv["CreditNotes"] = list(inv.get("CreditNotes") or []) + [{
            "CreditNoteID": cn["CreditNoteID"], "CreditNoteNumber": cn.get("CreditNoteNumber", ""),
            "AppliedAmount": amount, "Date": date, "Total": cn["Total"], "HasErrors": False}]
        inv["AmountCredited"] = _round2((inv.get("AmountCredited") or 0) + amount)
        self._settle(inv, date, touch=touch)
        return {"AllocationID": allocation["AllocationID"], "Amount": amount, "Date": date,
                "Invoice": allocation["Invoice"],
                "CreditNote": {"CreditNoteID": cn["CreditNoteID"], "Type": cn["Type"]}, "IsDeleted": False}

    # -- bank transactions ------------------------------------------------------------------------
    def write_bank_transaction(self, element: dict, *, create_only: bool, fixed_id: str | None = None,
                               unit_dp: int = 2) -> dict:
        coll = self.c["BankTransactions"]
        rid = (element.get("BankTransactionID") or "").lower() or None
        old = coll.get(rid) if rid and not fixed_id else None
        if fixed_id:
            rid = None
        if rid and old is None:
            raise WriteError([f"Bank transaction with ID '{element['BankTransactionID']}' could not be found"])
        if old and create_only:
            raise WriteError(["This bank transaction already exists; use POST to update it"])
        if old and old["Status"] != "AUTHORISED":
            raise WriteError([f"This bank transaction cannot be edited as it is {old['Status'].lower()}."])
        errors: list[str] = []
        type_ = element.get("Type", (old or {}).get("Type"))
        if type_ not in ("RECEIVE", "SPEND"):
            errors.append("Type must be RECEIVE or SPEND")
        status = element.get("Status", (old or {}).get("Status", "AUTHORISED"))
        if status not in ("AUTHORISED", "DELETED"):
            errors.append(f"'{status}' is not a valid status for a bank transaction")
        doc = dict(old) if old else {"BankTransactionID": fixed_id or self.new_id(), "HasAttachments": False,
                                     "IsReconciled": False}
        for key, value in element.items():
            if key not in ("BankTransactionID", "UpdatedDateUTC", "StatusAttributeString", "SubTotal", "TotalTax", "Total",
                           "StatusAttributeString", "ValidationErrors", "HasAttachments"):
                doc[key] = value
        bank = self._account_ref(element.get("BankAccount") or (old or {}).get("BankAccount"), errors, bank=True)
        if bank:
            if bank.get("Type") != "BANK":
                errors.append(f"Account '{bank['Code']}' is not a bank account")
            doc["BankAccount"] = {"AccountID": bank["AccountID"], "Code": bank["Code"], "Name": bank["Name"]}
        contact_ref = element.get("Contact") or (old or {}).get("Contact")
        if contact_ref:
            contact = self._resolve_contact(contact_ref, errors)
            if contact:
                doc["Contact"] = self.contact_ref(contact)
        self._currency(doc, old, errors)
        if doc.get("Date"):
            ms = parse_date_ms(doc["Date"])
            if ms is None:
                errors.append("Date is not a valid date")
            else:
                doc["Date"] = ms_date(day_ms(ms))
        else:
            doc["Date"] = ms_date(day_ms(self.now_ms()))
        self.compute_lines(doc, sales=type_ == "RECEIVE", errors=errors, strict_accounts=True,
                           unit_dp=unit_dp if "LineItems" in element else 4)
        if not doc["LineItems"]:
            errors.append("At least one line item is required")
        if errors:
            raise WriteError(errors)
        doc["Type"], doc["Status"] = type_, status
        self._touch(doc)
        coll.put(doc)
        if old is None and status == "AUTHORISED":
            self.post_journal("CASHREC" if type_ == "RECEIVE" else "CASHPAID", "BankTransactions",
                              doc["BankTransactionID"], doc["Date"])
        return doc

    # -- items ------------------------------------------------------------------------------------
    def write_item(self, element: dict, *, create_only: bool) -> dict:
        coll = self.c["Items"]
        rid = (element.get("ItemID") or "").lower() or None
        old = coll.get(rid) if rid else None
        if rid and old is None:
            raise WriteError([f"Item with ID '{element['ItemID']}' could not be found"])
        code = element.get("Code", (old or {}).get("Code"))
        if old is None and not rid and code in self.item_codes and not create_only:
            old = coll.get(self.item_codes[code])
        errors = []
        if not code:
            errors.append("Item code must be specified")
        elif self.item_codes.get(code) not in (None, (old or {}).get("ItemID")):
            errors.append(f"Item code '{code}' already exists")
        elif len(code) > 30:
            errors.append("Item code must be 30 characters or less")
        for part in ("SalesDetails", "PurchaseDetails"):
            details = element.get(part) or {}
            if details.get("AccountCode") and str(details["AccountCode"]) not in self.accounts_by_code:
                errors.append(f"Account code '{details['AccountCode']}' is not a valid code")
            if details.get("TaxType") and details["TaxType"] not in self.tax_rates:
                errors.append(f"The TaxType code '{details['TaxType']}' does not exist")
        if errors:
            raise WriteError(errors)
        item = dict(old) if old else {"ItemID": self.new_id(), "IsTrackedAsInventory": False,
                                      "IsSold": True, "IsPurchased": True}
        for key, value in element.items():
            if key not in ("ItemID", "UpdatedDateUTC", "ValidationErrors", "StatusAttributeString"):
                item[key] = value
        if old and old["Code"] != code:
            self.item_codes.pop(old["Code"], None)
        self._touch(item)
        self.store_item(item)
        return item

    def delete_item(self, item_id: str) -> None:
        """Xero's deleteItem: the Item is gone from every read, and its code is free for a new one."""
        item = self.c["Items"].get(item_id)
        if item is not None:
            self.item_codes.pop(item.get("Code"), None)
            self.c["Items"].remove(item["ItemID"])
