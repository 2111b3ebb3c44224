"""What sfxero stages from Xero: one spec per object (docs/architecture.md §4 table names).

Typed columns are chosen here (Xero has no describe endpoint); the raw record is always kept whole
in `raw`, so a field added by Xero is never lost, only untyped. Enum values outside the known sets
(from Xero's OpenAPI spec) are flagged in `invalid_reason`, not dropped.
Deletes in Xero are statuses: DELETED/VOIDED documents, ARCHIVED contacts, accounts and tax rates
(the status column keeps which). Items are hard-deleted,
so reference objects are read in full each run and rows that vanished are flagged deleted.
Bank transfers carry no UpdatedDateUTC (a delete does not move CreatedDateUTC), so they are read
whole with their deleted ones; contact groups and tracking categories have no timestamp at all.
Journals are never edited: read after the last JournalNumber staged.
"""

from __future__ import annotations

from dataclasses import dataclass

from .rows import FieldSpec

INVOICE_STATUSES = frozenset({"DRAFT", "SUBMITTED", "DELETED", "AUTHORISED", "PAID", "VOIDED"})
CURRENCY_CODES = None  # 168 ISO codes: validated by checks, not at staging time


@dataclass(frozen=True)
class XeroObject:
    key: str  # name in sfxero.yaml
    table: str
    collection: str  # API plural
    id_field: str
    fields: tuple[FieldSpec, ...]
    paged: bool = True
    modified_field: str | None = "UpdatedDateUTC"
    where: str | None = None
    status_field: str | None = None
    deleted_statuses: frozenset[str] = frozenset()
    include_archived: bool = False
    #: Read by `offset` (Journals: a JournalNumber cursor, never a date window).
    offset_paged: bool = False
    #: A field the list leaves out, read from each active record by id when asked (a contact group's
    #: `Contacts`: its members, which declared recipes map as `ContactGroups.<name>`).
    detail_field: str | None = None

    def is_deleted(self, record: dict) -> bool:
        return self.status_field is not None and record.get(self.status_field) in self.deleted_statuses


JOURNAL_SOURCE_TYPES = frozenset({
    "ACCREC", "ACCPAY", "ACCRECCREDIT", "ACCPAYCREDIT", "ACCRECPAYMENT", "ACCPAYPAYMENT", "ARCREDITPAYMENT",
    "APCREDITPAYMENT", "CASHREC", "CASHPAID", "TRANSFER", "ARPREPAYMENT", "APPREPAYMENT", "AROVERPAYMENT",
    "APOVERPAYMENT", "EXPCLAIM", "EXPPAYMENT", "MANJOURNAL", "PAYSLIP", "WAGEPAYABLE", "INTEGRATEDPAYROLLPE",
    "INTEGRATEDPAYROLLPT", "EXTERNALSPENDMONEY", "INTEGRATEDPAYROLLPTPAYMENT", "INTEGRATEDPAYROLLCN"})


def F(source: str, column: str, kind: str = "text", allowed=None, required: bool = False) -> FieldSpec:
    return FieldSpec(source, column, kind, frozenset(allowed) if allowed else None, required)


_UPDATED = F("UpdatedDateUTC", "updated_date_utc", "msdatetime", required=True)


def _invoice_fields(type_: str) -> tuple[FieldSpec, ...]:
    return (
        F("InvoiceID", "invoice_id", required=True), F("Type", "type", allowed={type_}, required=True),
        F("InvoiceNumber", "invoice_number"), F("Reference", "reference"),
        F("Contact.ContactID", "contact_id", required=True), F("Contact.Name", "contact_name"),
        F("Date", "date", "msdate"), F("DueDate", "due_date", "msdate"),
        F("Status", "status", allowed=INVOICE_STATUSES, required=True),
        F("LineAmountTypes", "line_amount_types", allowed={"Exclusive", "Inclusive", "NoTax"}),
        F("SubTotal", "sub_total", "money"), F("TotalTax", "total_tax", "money"), F("Total", "total", "money"),
        F("AmountDue", "amount_due", "money"), F("AmountPaid", "amount_paid", "money"),
        F("AmountCredited", "amount_credited", "money"), F("CurrencyCode", "currency_code"),
        F("CurrencyRate", "currency_rate", "float"), F("FullyPaidOnDate", "fully_paid_on_date", "msdate"),
        _UPDATED,
    )


def _credit_fields(id_field: str, column: str, types: set[str]) -> tuple[FieldSpec, ...]:
    """Overpayments and prepayments: a credit held for a contact until allocated."""
    return (
        F(id_field, column, required=True), F("Type", "type", allowed=types, required=True),
        F("Contact.ContactID", "contact_id", required=True), F("Date", "date", "msdate"),
        F("Status", "status", allowed={"AUTHORISED", "PAID", "VOIDED"}, required=True), F("Reference", "reference"),
        F("SubTotal", "sub_total", "money"), F("TotalTax", "total_tax", "money"), F("Total", "total", "money"),
        F("RemainingCredit", "remaining_credit", "money"), F("AppliedAmount", "applied_amount", "money"),
        F("CurrencyCode", "currency_code"), F("CurrencyRate", "currency_rate", "float"), _UPDATED,
    )


XERO_OBJECTS: dict[str, XeroObject] = {o.key: o for o in (
    XeroObject(
        "contacts", "xero_contact", "Contacts", "ContactID", include_archived=True,
        status_field="ContactStatus", deleted_statuses=frozenset({"ARCHIVED"}),
        fields=(
            F("ContactID", "contact_id", required=True), F("ContactNumber", "contact_number"),
            F("AccountNumber", "account_number"),
            F("ContactStatus", "contact_status", allowed={"ACTIVE", "ARCHIVED", "GDPRREQUEST"}),
            F("Name", "name", required=True), F("FirstName", "first_name"), F("LastName", "last_name"),
            F("EmailAddress", "email_address"), F("IsSupplier", "is_supplier", "bool"),
            F("IsCustomer", "is_customer", "bool"), F("DefaultCurrency", "default_currency"),
            F("TaxNumber", "tax_number"),
            F("Balances.AccountsReceivable.Outstanding", "ar_outstanding", "money"),
            F("Balances.AccountsReceivable.Overdue", "ar_overdue", "money"),
            F("Balances.AccountsPayable.Outstanding", "ap_outstanding", "money"),
            _UPDATED,
        )),
    XeroObject("invoices", "xero_invoice", "Invoices", "InvoiceID", where='Type=="ACCREC"', status_field="Status",
               deleted_statuses=frozenset({"DELETED", "VOIDED"}), fields=_invoice_fields("ACCREC")),
    XeroObject("bills", "xero_bill", "Invoices", "InvoiceID", where='Type=="ACCPAY"', status_field="Status",
               deleted_statuses=frozenset({"DELETED", "VOIDED"}), fields=_invoice_fields("ACCPAY")),
    XeroObject(
        "credit_notes", "xero_credit_note", "CreditNotes", "CreditNoteID", status_field="Status",
        deleted_statuses=frozenset({"DELETED", "VOIDED"}),
        fields=(
            F("CreditNoteID", "credit_note_id", required=True),
            F("Type", "type", allowed={"ACCPAYCREDIT", "ACCRECCREDIT"}, required=True),
            F("CreditNoteNumber", "credit_note_number"), F("Reference", "reference"),
            F("Contact.ContactID", "contact_id", required=True), F("Date", "date", "msdate"),
            F("Status", "status", allowed=INVOICE_STATUSES, required=True),
            F("SubTotal", "sub_total", "money"), F("TotalTax", "total_tax", "money"), F("Total", "total", "money"),
            F("RemainingCredit", "remaining_credit", "money"), F("CurrencyCode", "currency_code"),
            F("CurrencyRate", "currency_rate", "float"), _UPDATED,
        )),
    XeroObject(
        "bank_transactions", "xero_bank_transaction", "BankTransactions", "BankTransactionID",
        status_field="Status", deleted_statuses=frozenset({"DELETED", "VOIDED"}),
        fields=(
            F("BankTransactionID", "bank_transaction_id", required=True),
            F("Type", "type", allowed={"RECEIVE", "SPEND", "RECEIVE-OVERPAYMENT", "RECEIVE-PREPAYMENT",
                                        "SPEND-OVERPAYMENT", "SPEND-PREPAYMENT", "RECEIVE-TRANSFER",
                                        "SPEND-TRANSFER"}, required=True),
            F("Contact.ContactID", "contact_id"), F("BankAccount.AccountID", "bank_account_id"),
            F("BankAccount.Code", "bank_account_code"), F("Date", "date", "msdate"), F("Reference", "reference"),
            F("Status", "status", allowed={"AUTHORISED", "DELETED", "VOIDED"}),
            F("IsReconciled", "is_reconciled", "bool"), F("SubTotal", "sub_total", "money"),
            F("TotalTax", "total_tax", "money"), F("Total", "total", "money"), F("CurrencyCode", "currency_code"),
            _UPDATED,
        )),
    XeroObject(
        "payments", "xero_payment", "Payments", "PaymentID", status_field="Status",
        deleted_statuses=frozenset({"DELETED"}),
        fields=(
            F("PaymentID", "payment_id", required=True), F("Invoice.InvoiceID", "invoice_id"),
            F("CreditNote.CreditNoteID", "credit_note_id"), F("Account.AccountID", "account_id"),
            F("Account.Code", "account_code"), F("Date", "date", "msdate"), F("Amount", "amount", "money"),
            F("CurrencyRate", "currency_rate", "float"), F("Reference", "reference"),
            F("IsReconciled", "is_reconciled", "bool"), F("Status", "status", allowed={"AUTHORISED", "DELETED"}),
            F("PaymentType", "payment_type"), _UPDATED,
        )),
    XeroObject(
        "items", "xero_item", "Items", "ItemID", paged=False,
        fields=(
            F("ItemID", "item_id", required=True), F("Code", "code", required=True), F("Name", "name"),
            F("Description", "description"), F("IsSold", "is_sold", "bool"), F("IsPurchased", "is_purchased", "bool"),
            F("SalesDetails.UnitPrice", "sales_unit_price", "money"),
            F("SalesDetails.AccountCode", "sales_account_code"), F("SalesDetails.TaxType", "sales_tax_type"),
            F("PurchaseDetails.UnitPrice", "purchase_unit_price", "money"),
            F("IsTrackedAsInventory", "is_tracked_as_inventory", "bool"), _UPDATED,
        )),
    XeroObject(
        "accounts", "xero_account", "Accounts", "AccountID", paged=False, status_field="Status",
        deleted_statuses=frozenset({"DELETED", "ARCHIVED"}),
        fields=(
            F("AccountID", "account_id", required=True), F("Code", "code"), F("Name", "name", required=True),
            F("Type", "type"), F("Status", "status", allowed={"ACTIVE", "ARCHIVED", "DELETED"}),
            F("TaxType", "tax_type"), F("CurrencyCode", "currency_code"), F("Class", "class"),
            F("EnablePaymentsToAccount", "enable_payments_to_account", "bool"), _UPDATED,
        )),
    XeroObject(
        "tax_rates", "xero_tax_rate", "TaxRates", "TaxType", paged=False, modified_field=None,
        status_field="Status", deleted_statuses=frozenset({"DELETED", "ARCHIVED"}),
        fields=(
            F("TaxType", "tax_type", required=True), F("Name", "name"),
            F("Status", "status", allowed={"ACTIVE", "DELETED", "ARCHIVED", "PENDING"}),
            F("ReportTaxType", "report_tax_type"), F("EffectiveRate", "effective_rate", "float"),
            F("DisplayTaxRate", "display_tax_rate", "float"),
        )),
    XeroObject(
        "currencies", "xero_currency", "Currencies", "Code", paged=False, modified_field=None,
        fields=(F("Code", "code", required=True), F("Description", "description"))),
    XeroObject(
        "quotes", "xero_quote", "Quotes", "QuoteID", status_field="Status", deleted_statuses=frozenset({"DELETED"}),
        fields=(
            F("QuoteID", "quote_id", required=True), F("QuoteNumber", "quote_number"), F("Reference", "reference"),
            F("Contact.ContactID", "contact_id", required=True), F("Contact.Name", "contact_name"),
            F("Date", "date", "msdate"), F("ExpiryDate", "expiry_date", "msdate"),
            F("Status", "status", allowed={"DRAFT", "SENT", "DECLINED", "ACCEPTED", "INVOICED", "DELETED"},
              required=True),
            F("LineAmountTypes", "line_amount_types", allowed={"EXCLUSIVE", "INCLUSIVE", "NOTAX"}),
            F("SubTotal", "sub_total", "money"), F("TotalTax", "total_tax", "money"), F("Total", "total", "money"),
            F("TotalDiscount", "total_discount", "money"), F("CurrencyCode", "currency_code"),
            F("CurrencyRate", "currency_rate", "float"), F("Title", "title"), _UPDATED,
        )),
    XeroObject(
        "purchase_orders", "xero_purchase_order", "PurchaseOrders", "PurchaseOrderID", status_field="Status",
        deleted_statuses=frozenset({"DELETED"}),
        fields=(
            F("PurchaseOrderID", "purchase_order_id", required=True),
            F("PurchaseOrderNumber", "purchase_order_number"), F("Reference", "reference"),
            F("Contact.ContactID", "contact_id", required=True), F("Contact.Name", "contact_name"),
            F("Date", "date", "msdate"), F("DeliveryDate", "delivery_date", "msdate"),
            F("ExpectedArrivalDate", "expected_arrival_date", "msdate"),
            F("Status", "status", allowed={"DRAFT", "SUBMITTED", "AUTHORISED", "BILLED", "DELETED"}, required=True),
            F("LineAmountTypes", "line_amount_types", allowed={"Exclusive", "Inclusive", "NoTax"}),
            F("SubTotal", "sub_total", "money"), F("TotalTax", "total_tax", "money"), F("Total", "total", "money"),
            F("CurrencyCode", "currency_code"), F("CurrencyRate", "currency_rate", "float"),
            F("SentToContact", "sent_to_contact", "bool"), _UPDATED,
        )),
    XeroObject("overpayments", "xero_overpayment", "Overpayments", "OverpaymentID", status_field="Status",
               deleted_statuses=frozenset({"VOIDED"}),
               fields=_credit_fields("OverpaymentID", "overpayment_id",
                                     {"RECEIVE-OVERPAYMENT", "SPEND-OVERPAYMENT", "AROVERPAYMENT"})),
    XeroObject("prepayments", "xero_prepayment", "Prepayments", "PrepaymentID", status_field="Status",
               deleted_statuses=frozenset({"VOIDED"}),
               fields=_credit_fields("PrepaymentID", "prepayment_id",
                                     {"RECEIVE-PREPAYMENT", "SPEND-PREPAYMENT", "ARPREPAYMENT", "APPREPAYMENT"})),
    XeroObject(
        "manual_journals", "xero_manual_journal", "ManualJournals", "ManualJournalID", status_field="Status",
        deleted_statuses=frozenset({"DELETED", "VOIDED"}),
        fields=(
            F("ManualJournalID", "manual_journal_id", required=True), F("Narration", "narration", required=True),
            F("Date", "date", "msdate"),
            F("Status", "status", allowed={"DRAFT", "POSTED", "DELETED", "VOIDED", "ARCHIVED"}, required=True),
            F("LineAmountTypes", "line_amount_types", allowed={"Exclusive", "Inclusive", "NoTax"}),
            F("ShowOnCashBasisReports", "show_on_cash_basis_reports", "bool"), _UPDATED,
        )),
    XeroObject(
        "journals", "xero_journal", "Journals", "JournalID", paged=False, offset_paged=True,
        modified_field="CreatedDateUTC",
        fields=(
            F("JournalID", "journal_id", required=True), F("JournalNumber", "journal_number", "int", required=True),
            F("JournalDate", "journal_date", "msdate"), F("Reference", "reference"), F("SourceID", "source_id"),
            F("SourceType", "source_type", allowed=JOURNAL_SOURCE_TYPES),
            F("CreatedDateUTC", "created_date_utc", "msdatetime", required=True),
        )),
    XeroObject(
        "bank_transfers", "xero_bank_transfer", "BankTransfers", "BankTransferID", paged=False,
        modified_field="CreatedDateUTC", status_field="Status", deleted_statuses=frozenset({"DELETED"}),
        fields=(
            F("BankTransferID", "bank_transfer_id", required=True),
            F("FromBankAccount.AccountID", "from_account_id"), F("FromBankAccount.Code", "from_account_code"),
            F("ToBankAccount.AccountID", "to_account_id"), F("ToBankAccount.Code", "to_account_code"),
            F("Amount", "amount", "money", required=True), F("Date", "date", "msdate"),
            F("CurrencyRate", "currency_rate", "float"), F("Reference", "reference"),
            F("FromIsReconciled", "from_is_reconciled", "bool"), F("ToIsReconciled", "to_is_reconciled", "bool"),
            F("Status", "status", allowed={"AUTHORISED", "DELETED"}),
            F("CreatedDateUTC", "created_date_utc", "msdatetime"),
        )),
    XeroObject(
        "contact_groups", "xero_contact_group", "ContactGroups", "ContactGroupID", paged=False, modified_field=None,
        status_field="Status", deleted_statuses=frozenset({"DELETED"}), detail_field="Contacts",
        fields=(F("ContactGroupID", "contact_group_id", required=True), F("Name", "name", required=True),
                F("Status", "status", allowed={"ACTIVE", "DELETED"}))),
    XeroObject(
        "tracking_categories", "xero_tracking_category", "TrackingCategories", "TrackingCategoryID", paged=False,
        modified_field=None, status_field="Status", deleted_statuses=frozenset({"ARCHIVED", "DELETED"}),
        fields=(F("TrackingCategoryID", "tracking_category_id", required=True), F("Name", "name", required=True),
                F("Status", "status", allowed={"ACTIVE", "ARCHIVED", "DELETED"}))),
)}
