"""The general ledger's Journals, as Xero's `GET /Journals` serves them.

Xero writes one journal per posting (an invoice or bill approved, a payment, a bank transaction, a
credit note, a manual journal posted, a bank transfer), numbered 1, 2, 3… in creation order and never
edited. A reader pages with `offset` = the last JournalNumber it has seen (100 journals per response,
no `page`/`pageSize`); `If-Modified-Since` compares `CreatedDateUTC`.

Stored compactly: one tuple per posting (created, journal date, source type, source collection,
source id), rendered on read from the source record, so seeding a large org costs an append per
posting rather than a serialized record. `JournalID`s carry the number in their low bits, so a
journal is found by id without an index.
"""

from __future__ import annotations

import bisect
import uuid

from .wire import ms_date

PAGE = 100
PAYMENT_TYPES = frozenset({"ACCRECPAYMENT", "ACCPAYPAYMENT", "ARCREDITPAYMENT", "APCREDITPAYMENT"})
_ID_BITS = 48


class JournalLedger:
    def __init__(self, org) -> None:
        self.org = org
        self._entries: list[tuple[int, int, str, str, str]] = []
        self._created: list[int] = []
        self._prefix = uuid.uuid5(uuid.NAMESPACE_OID, str(org.organisation.get("OrganisationID"))).int >> _ID_BITS

    def __len__(self) -> int:
        return len(self._entries)

    def post(self, created_ms: int, date_ms: int, source_type: str, plural: str, source_id: str) -> int:
        """Record a posting; journals are numbered in creation order, so a later posting never sorts earlier."""
        if self._created and created_ms < self._created[-1]:
            created_ms = self._created[-1]
        self._entries.append((created_ms, date_ms, source_type, plural, source_id))
        self._created.append(created_ms)
        return len(self._entries)

    def journal_id(self, number: int) -> str:
        return str(uuid.UUID(int=(self._prefix << _ID_BITS) | number))

    def number_of(self, journal_id: str) -> int | None:
        try:
            value = uuid.UUID(journal_id).int
        except ValueError:
            return None
        number = value & ((1 << _ID_BITS) - 1)
        if value >> _ID_BITS != self._prefix or not 1 <= number <= len(self._entries):
            return None
        return number

    def page(self, *, offset: int, since_ms: int | None, payments_only: bool) -> list[dict]:
        """Up to 100 journals with JournalNumber > offset (and created at or after `since_ms`), by number."""
        start = max(0, offset)
        if since_ms is not None:
            start = max(start, bisect.bisect_left(self._created, since_ms))
        out = []
        for index in range(start, len(self._entries)):
            if payments_only and self._entries[index][2] not in PAYMENT_TYPES:
                continue
            journal = self.render(index + 1)
            if journal is not None:
                out.append(journal)
            if len(out) == PAGE:
                break
        return out

    def render(self, number: int) -> dict | None:
        created, date, source_type, plural, source_id = self._entries[number - 1]
        source = self.org.c[plural].get(source_id)
        if source is None:
            return None
        lines = _lines(self.org, source_type, source)
        return {
            "JournalID": self.journal_id(number), "JournalDate": ms_date(date), "JournalNumber": number,
            "CreatedDateUTC": ms_date(created), "Reference": _reference(source), "SourceID": source_id,
            "SourceType": source_type,
            "JournalLines": [self._line(number, n, *line) for n, line in enumerate(lines)],
        }

    def _line(self, number: int, n: int, code: str, net: float, tax: float, tax_type: str, description: str) -> dict:
        account = self.org.accounts_by_code.get(code) or {}
        tax_name = "No Tax"
        if tax_type and tax_type in self.org.c["TaxRates"].by_id:
            tax_name = (self.org.c["TaxRates"].get(tax_type) or {}).get("Name", tax_name)
        return {"JournalLineID": str(uuid.UUID(int=(self._prefix << _ID_BITS) ^ (number << 8 | n) ^ (1 << 47))),
                "AccountID": account.get("AccountID"), "AccountCode": code, "AccountType": account.get("Type"),
                "AccountName": account.get("Name"), "Description": description, "NetAmount": net,
                "GrossAmount": round(net + tax, 2), "TaxAmount": tax, "TaxType": tax_type or "NONE",
                "TaxName": tax_name, "TrackingCategories": []}


def _reference(source: dict) -> str:
    return str(source.get("Reference") or source.get("InvoiceNumber") or source.get("CreditNoteNumber")
               or source.get("Narration") or "")


def _base(amount: float, source: dict) -> float:
    rate = source.get("CurrencyRate") or 1.0
    return round(float(amount) / rate, 2)


def _document_lines(source: dict, control: str, sign: int) -> list[tuple]:
    """Debit/credit lines of an invoice, bill or credit note in base currency; the control account balances them."""
    lines = []
    for item in source.get("LineItems") or []:
        net, tax = _base(item.get("LineAmount", 0), source), _base(item.get("TaxAmount", 0), source)
        if source.get("LineAmountTypes") == "Inclusive":
            net = round(net - tax, 2)
        lines.append((item.get("AccountCode") or "200", -sign * net, -sign * tax, item.get("TaxType"),
                      item.get("Description") or ""))
    total = round(-sum(line[1] + line[2] for line in lines), 2)
    return [(control, total, 0.0, "NONE", "")] + lines


def _lines(org, source_type: str, source: dict) -> list[tuple]:
    if source_type in ("ACCREC", "ACCPAYCREDIT"):
        return _document_lines(source, "610" if source_type == "ACCREC" else "800", 1)
    if source_type in ("ACCPAY", "ACCRECCREDIT"):
        return _document_lines(source, "800" if source_type == "ACCPAY" else "610", -1)
    if source_type in ("ACCRECPAYMENT", "ACCPAYPAYMENT"):
        amount = round(float(source.get("BankAmount", source.get("Amount", 0))), 2)
        sign = 1 if source_type == "ACCRECPAYMENT" else -1
        bank = (source.get("Account") or {}).get("Code") or "090"
        control = "610" if sign == 1 else "800"
        return [(bank, sign * amount, 0.0, "NONE", ""), (control, -sign * amount, 0.0, "NONE", "")]
    if source_type in ("CASHREC", "CASHPAID"):
        bank = (source.get("BankAccount") or {}).get("Code") or "090"
        return _document_lines(source, bank, 1 if source_type == "CASHREC" else -1)
    if source_type == "TRANSFER":
        amount = round(float(source.get("Amount", 0)), 2)
        return [(source["FromBankAccount"].get("Code") or "090", -amount, 0.0, "NONE", "Transfer out"),
                (source["ToBankAccount"].get("Code") or "091", amount, 0.0, "NONE", "Transfer in")]
    if source_type == "MANJOURNAL":
        return [(line.get("AccountCode"), round(float(line.get("LineAmount", 0)), 2),
                 round(float(line.get("TaxAmount", 0) or 0), 2), line.get("TaxType") or "NONE",
                 line.get("Description") or "") for line in source.get("JournalLines") or []]
    if source_type in ("AROVERPAYMENT", "ARPREPAYMENT"):
        amount = _base(source.get("Total", 0), source)
        return [("090", amount, 0.0, "NONE", ""), ("610", -amount, 0.0, "NONE", "")]
    return []
