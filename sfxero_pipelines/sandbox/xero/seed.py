"""Seed data for the emulated Xero organisation: reference data, the shared World, and fixtures.

Deterministic: the same (seed, size) gives the same IDs, names, numbers and amounts; dates are laid
out relative to the emulator clock's current day, so "overdue" means something. Sizes follow the
World: contacts = companies present in Xero + `world.xero_only_count` Xero-only ones (names made
unique, as Xero requires); ≈1 ACCREC invoice per Salesforce account across all statuses and the
org's currencies, ≈0.3 bills per account, payments for paid and part-paid documents, credit notes
(some allocated), bank transactions, and one Item per `world.PRODUCTS` code. Records are built
directly (not through the write rules) so a 200,000-invoice org seeds in one pass.
"""

from __future__ import annotations

import itertools
import random

from ..world import FX_FROM_USD, PRODUCTS, World
from .seed_ledger import LEDGER_FIXTURES, LedgerSeeder, load_ledger_fixtures
from .store import DAY_MS, Org, WriteError, contact_name
from .wire import day_ms, iso_from_ms, ms_date, parse_date_ms

BASE_CURRENCY = "USD"
CURRENCY_NAMES = {"USD": "United States Dollar", "GBP": "British Pound", "EUR": "Euro",
                  "AUD": "Australian Dollar", "NZD": "New Zealand Dollar", "JPY": "Japanese Yen"}

ACCOUNTS = [
    # (Code, Name, Type, Class, TaxType, extra)
    ("090", "Business Bank Account", "BANK", "ASSET", "NONE",
     {"BankAccountNumber": "121234567890", "BankAccountType": "BANK", "CurrencyCode": "USD"}),
    ("091", "Business Savings Account", "BANK", "ASSET", "NONE",
     {"BankAccountNumber": "121234567891", "BankAccountType": "BANK", "CurrencyCode": "USD"}),
    ("200", "Sales", "REVENUE", "REVENUE", "OUTPUT", {}),
    ("260", "Other Revenue", "REVENUE", "REVENUE", "OUTPUT", {}),
    ("270", "Interest Income", "REVENUE", "REVENUE", "NONE", {}),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "EXPENSE", "INPUT", {}),
    ("400", "Advertising", "OVERHEADS", "EXPENSE", "INPUT", {}),
    ("404", "Bank Fees", "OVERHEADS", "EXPENSE", "NONE", {}),
    ("429", "General Expenses", "OVERHEADS", "EXPENSE", "INPUT", {}),
    ("453", "Office Expenses", "OVERHEADS", "EXPENSE", "INPUT", {}),
    ("489", "Telephone & Internet", "OVERHEADS", "EXPENSE", "INPUT", {}),
    ("493", "Travel - National", "OVERHEADS", "EXPENSE", "INPUT", {}),
    ("610", "Accounts Receivable", "CURRENT", "ASSET", "NONE", {"SystemAccount": "DEBTORS"}),
    ("720", "Computer Equipment", "FIXED", "ASSET", "INPUT", {}),
    ("800", "Accounts Payable", "CURRLIAB", "LIABILITY", "NONE", {"SystemAccount": "CREDITORS"}),
    ("820", "Sales Tax", "CURRLIAB", "LIABILITY", "NONE", {"SystemAccount": "GST"}),
    ("960", "Retained Earnings", "EQUITY", "EQUITY", "NONE", {"SystemAccount": "RETAINEDEARNINGS"}),
    ("499", "Old Marketing (archived)", "OVERHEADS", "EXPENSE", "INPUT", {"Status": "ARCHIVED"}),
]

TAX_RATES = [
    # (TaxType, Name, rate %, ReportTaxType, revenue, expenses)
    ("OUTPUT", "Tax on Sales", 15.0, "OUTPUT", True, False),
    ("INPUT", "Tax on Purchases", 15.0, "INPUT", False, True),
    ("NONE", "No Tax", 0.0, "NONE", True, True),
    ("EXEMPTOUTPUT", "Tax Exempt Sales", 0.0, "EXEMPTOUTPUT", True, False),
    ("EXEMPTINPUT", "Tax Exempt Purchases", 0.0, "EXEMPTINPUT", False, True),
    ("ZERORATEDOUTPUT", "Zero Rated Sales", 0.0, "ZERORATEDOUTPUT", True, False),
]


def _id(rng: random.Random) -> str:
    import uuid
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def new_org(clock, seed: int) -> Org:
    rng = random.Random(seed * 7 + 3)
    created = day_ms(int(clock.time() * 1000)) - 3 * 365 * DAY_MS
    organisation = {
        "OrganisationID": _id(rng), "APIKey": "", "Name": "Sandbox Trading Co", "LegalName": "Sandbox Trading Co",
        "PaysTax": True, "Version": "GLOBAL", "OrganisationType": "COMPANY", "BaseCurrency": BASE_CURRENCY,
        "CountryCode": "US", "IsDemoCompany": False, "OrganisationStatus": "ACTIVE",
        "FinancialYearEndDay": 31, "FinancialYearEndMonth": 12, "SalesTaxBasis": "ACCRUALS",
        "SalesTaxPeriod": "3MONTHLY", "DefaultSalesTax": "Tax Exclusive", "DefaultPurchasesTax": "Tax Exclusive",
        "CreatedDateUTC": ms_date(created), "Timezone": "UTC", "OrganisationEntityType": "COMPANY",
        "ShortCode": "!sfxSB", "Class": "STANDARD", "Edition": "BUSINESS", "LineOfBusiness": "Software",
        "Addresses": [], "Phones": [], "ExternalLinks": [],
    }
    return Org(clock=clock, rng_seed=seed * 13 + 5, org=organisation, base_currency=BASE_CURRENCY,
               fx=FX_FROM_USD)


def load_reference(org: Org, *, accounts: list | None = None, tax_rates: list | None = None,
                   currencies: list | None = None, organisation: dict | None = None) -> None:
    stamp = ms_date(day_ms(org.now_ms()) - 1000 * DAY_MS)
    for code, name, type_, class_, tax, extra in ([] if accounts is not None else ACCOUNTS):
        acc = {"AccountID": org.new_id(), "Code": code, "Name": name, "Type": type_, "Status": "ACTIVE",
               "TaxType": tax, "Class": class_, "EnablePaymentsToAccount": False, "ShowInExpenseClaims": False,
               "BankAccountType": "", "ReportingCode": "", "HasAttachments": False, "AddToWatchlist": False,
               "UpdatedDateUTC": stamp}
        acc.update(extra)
        org.put_account(acc)
    for acc in accounts or []:
        acc = dict(acc)
        acc.setdefault("AccountID", org.new_id())
        acc.setdefault("Status", "ACTIVE")
        acc.setdefault("UpdatedDateUTC", stamp)
        org.put_account(acc)
    for tax_type, name, rate, report, revenue, expenses in ([] if tax_rates is not None else TAX_RATES):
        org.put_tax_rate({
            "Name": name, "TaxType": tax_type, "Status": "ACTIVE", "ReportTaxType": report,
            "TaxComponents": [{"Name": name, "Rate": rate, "IsCompound": False, "IsNonRecoverable": False}],
            "CanApplyToAssets": True, "CanApplyToEquity": True, "CanApplyToExpenses": expenses,
            "CanApplyToLiabilities": True, "CanApplyToRevenue": revenue, "DisplayTaxRate": rate,
            "EffectiveRate": rate})
    for tr in tax_rates or []:
        tr = dict(tr)
        tr.setdefault("Status", "ACTIVE")
        tr.setdefault("EffectiveRate", tr.get("DisplayTaxRate", 0.0))
        org.put_tax_rate(tr)
    for cur in currencies if currencies is not None else [{"Code": c} for c in FX_FROM_USD]:
        org.put_currency({"Code": cur["Code"], "Description": cur.get("Description")
                          or CURRENCY_NAMES.get(cur["Code"], cur["Code"])})
    if organisation:
        org.organisation.update(organisation)


def _items(org: Org) -> None:
    stamp = ms_date(day_ms(org.now_ms()) - 900 * DAY_MS)
    for code, name, price, family in PRODUCTS:
        org.store_item({
            "ItemID": org.new_id(), "Code": code, "Name": name[:50], "Description": name,
            "PurchaseDescription": name, "IsSold": True, "IsPurchased": family == "Hardware",
            "IsTrackedAsInventory": False,
            "SalesDetails": {"UnitPrice": price, "AccountCode": "200", "TaxType": "OUTPUT"},
            "PurchaseDetails": ({"UnitPrice": round(price * 0.6, 2), "AccountCode": "310", "TaxType": "INPUT"}
                                if family == "Hardware" else {}),
            "UpdatedDateUTC": stamp})


def _contact_from_company(org: Org, company, name: str, stamp_ms: int, status: str) -> dict:
    phone_parts = company.phone.split(" ")
    persons = [{"FirstName": p.first_name, "LastName": p.last_name, "EmailAddress": p.email or "",
                "IncludeInEmails": bool(p.email)} for p in company.contacts[1:]]
    first = company.contacts[0]
    contact = {
        "ContactID": org.new_id(), "ContactStatus": status, "Name": name,
        "FirstName": first.first_name, "LastName": first.last_name,
        "Addresses": [
            {"AddressType": "POBOX", "AddressLine1": company.street, "City": company.city,
             "Region": company.state, "PostalCode": company.postcode, "Country": company.country},
            {"AddressType": "STREET", "AddressLine1": company.street, "City": company.city,
             "Region": company.state, "PostalCode": company.postcode, "Country": company.country},
        ],
        "Phones": [
            {"PhoneType": "DEFAULT", "PhoneNumber": phone_parts[-1],
             "PhoneAreaCode": phone_parts[1] if len(phone_parts) > 2 else "",
             "PhoneCountryCode": phone_parts[0].lstrip("+")},
            {"PhoneType": "MOBILE", "PhoneNumber": "", "PhoneAreaCode": "", "PhoneCountryCode": ""},
        ],
        "ContactPersons": persons, "ContactGroups": [], "IsSupplier": False, "IsCustomer": True,
        "DefaultCurrency": company.currency, "Website": company.website,
        "UpdatedDateUTC": ms_date(stamp_ms), "HasAttachments": False, "HasValidationErrors": False,
    }
    if company.xero_email:
        contact["EmailAddress"] = company.xero_email
    return contact


def _unique(name: str, taken: set[str]) -> str:
    # Xero caps contact names at 255 characters and requires them unique (case-insensitively).
    name = name[:255]
    candidate, n = name, 2
    while candidate.lower() in taken:
        suffix = f" ({n})"
        candidate = name[:255 - len(suffix)] + suffix
        n += 1
    taken.add(candidate.lower())
    return candidate


def seed_world(org: Org, world: World) -> None:
    rng = random.Random(world.seed * 1_000_033 + 11)
    load_reference(org)
    _items(org)
    now = org.now_ms()
    today = day_ms(now)
    span = 730 * DAY_MS
    start = today - span

    # Contacts: updated over the first months of the window (they are older than their documents).
    # A generator, not a list: at 200,000 accounts the Company objects alone would double peak memory.
    companies = itertools.chain((c for c in world.companies() if c.xero_presence != "none"),
                                (world.xero_only_company(j) for j in range(world.xero_only_count)))
    taken: set[str] = set()
    customers: list[tuple[dict, str]] = []
    suppliers: list[tuple[dict, str]] = []
    step = max(1, (90 * DAY_MS) // (world.size + world.xero_only_count))
    for k, company in enumerate(companies):
        status = "ARCHIVED" if rng.random() < 0.03 else "ACTIVE"
        contact = _contact_from_company(org, company, _unique(company.xero_name, taken),
                                        start - 120 * DAY_MS + k * step, status)
        if company.xero_presence == "xero_only" and rng.random() < 0.5 or rng.random() < 0.1:
            contact["IsSupplier"] = True
        if contact["IsSupplier"] and company.xero_presence == "xero_only":
            contact["IsCustomer"] = False
        org.store_contact(contact)
        if status == "ACTIVE":
            ref = Org.contact_ref(contact)
            if contact["IsCustomer"]:
                customers.append((ref, company.currency))
            if contact["IsSupplier"]:
                suppliers.append((ref, company.currency))
    if not suppliers:
        suppliers = customers[:1]

    bank = org.accounts_by_code["090"]
    bank_ref = {"AccountID": bank["AccountID"], "Code": "090", "Name": bank["Name"]}
    item_ids = {code: org.item_codes[code] for code, *_ in PRODUCTS}
    n_inv = max(1, world.size)
    n_bill = max(1, int(world.size * 0.3))
    n_cn = max(1, world.size // 20)
    n_bank = max(1, world.size // 5)
    total = n_inv + n_bill + n_bank
    tick = max(1, (span - DAY_MS) // (total + 1))  # the newest record stays in the past
    clock_ms = start
    inv_counter = 0
    cn_counter = 0
    credit_budget = n_cn
    ledger = LedgerSeeder(org, world.seed, start, today)

    def lines_for(sales: bool, currency: str) -> tuple[list, float, float]:
        fx = FX_FROM_USD.get(currency, 1.0)
        lines, sub, tax = [], 0.0, 0.0
        for _ in range(1 + (rng.random() < 0.5) + (rng.random() < 0.2)):
            code, name, price, _family = PRODUCTS[rng.randrange(len(PRODUCTS))]
            qty = float(rng.randint(1, 5))
            unit = round(price * fx, 0 if currency == "JPY" else 2) if sales else round(price * fx * 0.6, 2)
            amount = round(qty * unit, 2)
            tax_type = "OUTPUT" if sales else "INPUT"
            if sales and currency != "USD":
                tax_type = "ZERORATEDOUTPUT"
            line_tax = round(amount * (0.15 if tax_type in ("OUTPUT", "INPUT") else 0.0), 2)
            line = {"LineItemID": _id(rng), "Description": name, "Quantity": qty, "UnitAmount": unit,
                    "AccountCode": "200" if sales else "310", "AccountID": org.accounts_by_code[
                        "200" if sales else "310"]["AccountID"],
                    "TaxType": tax_type, "TaxAmount": line_tax, "LineAmount": amount, "Tracking": []}
            if sales:
                line["ItemCode"] = code
                line["Item"] = {"ItemID": item_ids[code], "Code": code, "Name": name[:50]}
            lines.append(line)
            sub += amount
            tax += line_tax
        return lines, round(sub, 2), round(tax, 2)

    def stamp(ms: int) -> dict:
        return {"UpdatedDateUTC": ms_date(ms), "UpdatedDateUTCString": iso_from_ms(ms)}

    kinds = ["ACCREC"] * n_inv + ["ACCPAY"] * n_bill + ["BANK"] * n_bank
    rng.shuffle(kinds)
    for kind in kinds:
        clock_ms += tick
        updated = clock_ms + rng.randrange(0, max(1, tick // 2))
        doc_date = day_ms(updated - rng.randrange(0, 20) * DAY_MS)
        if kind == "BANK":
            contact, currency = rng.choice(customers if rng.random() < 0.6 else suppliers)
            sales = rng.random() < 0.5
            lines, sub, tax = lines_for(sales, "USD")
            for line in lines:
                line["TaxType"], line["TaxAmount"] = "NONE", 0.0
                line.pop("ItemCode", None), line.pop("Item", None)
                line["AccountCode"] = "260" if sales else "429"
                line["AccountID"] = org.accounts_by_code[line["AccountCode"]]["AccountID"]
            txn = {
                "BankTransactionID": _id(rng), "Type": "RECEIVE" if sales else "SPEND", "Contact": contact,
                "BankAccount": bank_ref, "LineItems": lines, "IsReconciled": rng.random() < 0.7,
                "Date": ms_date(doc_date), "Reference": f"Bank {rng.randint(10000, 99999)}", "CurrencyCode": "USD",
                "CurrencyRate": 1.0, "Status": "DELETED" if rng.random() < 0.04 else "AUTHORISED",
                "LineAmountTypes": "Exclusive", "SubTotal": sub, "TotalTax": 0.0, "Total": sub,
                "HasAttachments": False, "UpdatedDateUTC": ms_date(updated)}
            org.c["BankTransactions"].put(txn)
            ledger.bank_transaction(txn, updated)
            continue
        sales = kind == "ACCREC"
        contact, home_currency = rng.choice(customers if sales else suppliers)
        currency = home_currency if home_currency in FX_FROM_USD and rng.random() < 0.7 else "USD"
        rate = FX_FROM_USD[currency]
        lines, sub, tax = lines_for(sales, currency)
        total_amt = round(sub + tax, 2)
        r = rng.random()
        if sales:
            status = ("DRAFT" if r < 0.08 else "SUBMITTED" if r < 0.12 else "AUTHORISED" if r < 0.42
                      else "PAID" if r < 0.87 else "VOIDED" if r < 0.93 else "DELETED")
        else:
            status = "DRAFT" if r < 0.1 else "AUTHORISED" if r < 0.5 else "PAID" if r < 0.95 else "VOIDED"
        inv = {"Type": kind, "InvoiceID": _id(rng), "Contact": contact, "LineItems": lines,
               "Date": ms_date(doc_date), "DueDate": ms_date(doc_date + 30 * DAY_MS),
               "LineAmountTypes": "Exclusive", "Reference": "", "CurrencyCode": currency, "CurrencyRate": rate,
               "Status": status, "SentToContact": status in ("AUTHORISED", "PAID"), "SubTotal": sub,
               "TotalTax": tax, "Total": total_amt, "TotalDiscount": 0.0, "AmountDue": total_amt,
               "AmountPaid": 0.0, "AmountCredited": 0.0, "Payments": [], "CreditNotes": [],
               "HasAttachments": False, "IsDiscounted": False, "HasErrors": False}
        if sales:
            inv_counter += 1
            inv["InvoiceNumber"] = f"INV-{inv_counter:05d}"
            inv["Reference"] = f"PO-{rng.randint(1000, 9999)}"
        else:
            inv["InvoiceNumber"] = f"SUP-{rng.randint(100, 99999)}"
        if status in ("VOIDED", "DELETED"):
            inv["AmountDue"] = 0.0
        pay_amounts: list[float] = []
        if status == "PAID":
            pay_amounts = [total_amt] if rng.random() < 0.8 or total_amt < 1 else \
                [round(total_amt / 2, 2), round(total_amt - round(total_amt / 2, 2), 2)]
        elif status == "AUTHORISED" and rng.random() < 0.3 and total_amt >= 2:
            pay_amounts = [round(total_amt * rng.choice([0.25, 0.5]), 2)]
        credit = None
        if sales and status == "AUTHORISED" and credit_budget > 0 and rng.random() < 0.2 and total_amt > 10:
            credit = round(total_amt * 0.1, 2)
            credit_budget -= 1
        for n, amount in enumerate(pay_amounts):
            pid = _id(rng)
            pdate = ms_date(min(today, doc_date + (5 + 7 * n) * DAY_MS))
            org.c["Payments"].put({
                "PaymentID": pid, "Date": pdate, "Amount": amount, "BankAmount": round(amount / rate, 2),
                "CurrencyRate": rate, "Reference": f"Payment {n + 1}", "IsReconciled": True,
                "Status": "AUTHORISED", "PaymentType": "ACCRECPAYMENT" if sales else "ACCPAYPAYMENT",
                "Account": {"AccountID": bank["AccountID"], "Code": "090"},
                "Invoice": Org._invoice_ref(inv), "HasAccount": False, "HasValidationErrors": False,
                **stamp(updated + n + 1)})
            inv["Payments"].append({"PaymentID": pid, "Date": pdate, "Amount": amount, "CurrencyRate": rate,
                                    "Reference": f"Payment {n + 1}", "HasAccount": False,
                                    "HasValidationErrors": False})
            inv["AmountPaid"] = round(inv["AmountPaid"] + amount, 2)
        if credit:
            cn_counter += 1
            cn_id = _id(rng)
            cn_date = ms_date(doc_date + 2 * DAY_MS)
            cn = {"CreditNoteID": cn_id, "CreditNoteNumber": f"CN-{cn_counter:05d}", "Type": "ACCRECCREDIT",
                  "Contact": contact, "Date": cn_date, "Status": "PAID", "LineAmountTypes": "Exclusive",
                  "LineItems": [{"LineItemID": _id(rng), "Description": "Goodwill credit", "Quantity": 1.0,
                                 "UnitAmount": credit, "AccountCode": "200",
                                 "AccountID": org.accounts_by_code["200"]["AccountID"], "TaxType": "NONE",
                                 "TaxAmount": 0.0, "LineAmount": credit, "Tracking": []}],
                  "SubTotal": credit, "TotalTax": 0.0, "Total": credit, "CurrencyCode": currency,
                  "CurrencyRate": rate, "RemainingCredit": 0.0, "AppliedAmount": credit,
                  "FullyPaidOnDate": cn_date, "HasAttachments": False, "HasErrors": False,
                  "Allocations": [{"AllocationID": _id(rng), "Amount": credit, "Date": cn_date,
                                   "Invoice": Org._invoice_ref(inv), "IsDeleted": False}],
                  **stamp(updated + 5)}
            org.store_credit_note(cn)
            inv["CreditNotes"].append({"CreditNoteID": cn_id, "CreditNoteNumber": cn["CreditNoteNumber"],
                                       "AppliedAmount": credit, "Date": cn_date, "Total": credit,
                                       "HasErrors": False})
            inv["AmountCredited"] = credit
        if status in ("AUTHORISED", "PAID"):
            inv["AmountDue"] = round(total_amt - inv["AmountPaid"] - inv["AmountCredited"], 2)
            if status == "PAID":
                inv["AmountDue"] = 0.0
                inv["FullyPaidOnDate"] = inv["Payments"][-1]["Date"] if inv["Payments"] else ms_date(doc_date)
        ledger.invoice(inv, updated)
        inv.update(stamp(updated))
        org.store_invoice(inv)
    # A few unallocated credit notes (remaining credit) for customers.
    for _ in range(max(1, credit_budget // 2)):
        contact, currency = rng.choice(customers)
        currency = currency if currency in FX_FROM_USD else "USD"
        amount = round(rng.choice([50, 120, 300]) * FX_FROM_USD[currency], 2)
        cn_counter += 1
        clock_ms += 1
        org.store_credit_note({
            "CreditNoteID": _id(rng), "CreditNoteNumber": f"CN-{cn_counter:05d}", "Type": "ACCRECCREDIT",
            "Contact": contact, "Date": ms_date(day_ms(clock_ms)), "Status": "AUTHORISED",
            "LineAmountTypes": "Exclusive",
            "LineItems": [{"LineItemID": _id(rng), "Description": "Service credit", "Quantity": 1.0,
                           "UnitAmount": amount, "AccountCode": "200",
                           "AccountID": org.accounts_by_code["200"]["AccountID"], "TaxType": "NONE",
                           "TaxAmount": 0.0, "LineAmount": amount, "Tracking": []}],
            "SubTotal": amount, "TotalTax": 0.0, "Total": amount, "CurrencyCode": currency,
            "CurrencyRate": FX_FROM_USD[currency], "RemainingCredit": amount, "AppliedAmount": 0.0,
            "Allocations": [], "HasAttachments": False, "HasErrors": False, **stamp(clock_ms)})
    org.counters["INV"] = inv_counter
    org.counters["CN"] = cn_counter
    ledger.finish(customers)


def load_fixture_data(org: Org, fixtures: dict) -> None:
    """docs/sandbox.md fixtures, Xero half. Missing IDs and timestamps are generated; totals are computed."""
    known = {"Contacts", "Invoices", "CreditNotes", "BankTransactions", "Payments", "Items", "Accounts",
             "TaxRates", "Currencies", "Organisation"} | set(LEDGER_FIXTURES)
    unknown = set(fixtures) - known
    if unknown:
        raise ValueError(f"unknown Xero fixture object(s): {', '.join(sorted(unknown))}")
    org_fix = fixtures.get("Organisation")
    if isinstance(org_fix, list):
        org_fix = org_fix[0] if org_fix else None
    load_reference(org, accounts=fixtures.get("Accounts"), tax_rates=fixtures.get("TaxRates"),
                   currencies=fixtures.get("Currencies"), organisation=org_fix)
    if "Items" in fixtures:
        for item in fixtures["Items"]:
            item = dict(item)
            item.setdefault("ItemID", org.new_id())
            item.setdefault("UpdatedDateUTC", ms_date(org.now_ms()))
            org.store_item(item)
    else:
        _items(org)

    def stamp(record: dict) -> int:
        ms = parse_date_ms(record.get("UpdatedDateUTC")) or org.now_ms()
        record["UpdatedDateUTC"] = ms_date(ms)
        return ms

    for i, raw in enumerate(fixtures.get("Contacts", [])):
        contact = org._new_contact({})
        contact.update(raw)
        contact.setdefault("ContactID", org.new_id())
        contact["ContactID"] = contact["ContactID"].lower()
        stamp(contact)
        name = contact_name(contact.get("Name"))
        errors = org.contact_name_errors(name)
        if errors:
            which = f"'{name}'" if name else contact.get("ContactNumber") or contact.get("EmailAddress")
            raise ValueError(f"fixture Contacts[{i}]{f' {which}' if which else ''}: {errors[0]}")
        contact["Name"] = name
        org.store_contact(contact)
    for plural, idf in (("Invoices", "InvoiceID"), ("CreditNotes", "CreditNoteID")):
        for raw in fixtures.get(plural, []):
            doc = dict(raw)
            errors: list[str] = []
            contact = org._resolve_contact(doc.get("Contact"), errors)
            if contact:
                doc["Contact"] = org.contact_ref(contact)
            errors = [e for e in errors if "archived" not in e]  # fixtures may hold history on archived ones
            doc.setdefault(idf, org.new_id())
            doc.setdefault("Type", "ACCREC" if plural == "Invoices" else "ACCRECCREDIT")
            doc.setdefault("Status", "AUTHORISED")
            org._currency(doc, None, errors)
            for field in ("Date", "DueDate"):
                if doc.get(field) is not None:
                    doc[field] = ms_date(day_ms(parse_date_ms(doc[field]) or org.now_ms()))
            doc.setdefault("Date", ms_date(day_ms(org.now_ms())))
            if plural == "Invoices":
                doc.setdefault("DueDate", ms_date(parse_date_ms(doc["Date"]) + 30 * DAY_MS))
            org.compute_lines(doc, sales=doc["Type"] in ("ACCREC", "ACCRECCREDIT"), errors=errors,
                              strict_accounts=False)
            if errors:
                raise ValueError(f"fixture {plural} {doc.get(idf)}: {'; '.join(errors)}")
            ms = stamp(doc)
            doc.setdefault("HasAttachments", False)
            doc.setdefault("HasErrors", False)
            if plural == "Invoices":
                doc.setdefault("AmountPaid", 0.0)
                doc.setdefault("AmountCredited", 0.0)
                doc.setdefault("Payments", [])
                doc.setdefault("CreditNotes", [])
                dead = doc["Status"] in ("VOIDED", "DELETED") or doc["Status"] == "PAID"
                doc["AmountDue"] = 0.0 if dead else round(doc["Total"] - doc["AmountPaid"] - doc["AmountCredited"],
                                                         2)
                doc["UpdatedDateUTCString"] = iso_from_ms(ms)
                if doc["Type"] == "ACCREC" and not doc.get("InvoiceNumber"):
                    org.counters["INV"] += 1
                    doc["InvoiceNumber"] = f"INV-{org.counters['INV']:05d}"
                org.store_invoice(doc)
            else:
                doc.setdefault("Allocations", [])
                doc.setdefault("RemainingCredit", doc["Total"] if doc["Status"] == "AUTHORISED" else 0.0)
                doc["UpdatedDateUTCString"] = iso_from_ms(ms)
                org.store_credit_note(doc)
    for raw in fixtures.get("BankTransactions", []):
        try:
            org.write_bank_transaction(dict(raw), create_only=True, fixed_id=raw.get("BankTransactionID"),
                                       unit_dp=4)
        except WriteError as exc:
            raise ValueError(f"fixture BankTransactions: {exc}") from None
    for raw in fixtures.get("Payments", []):
        try:
            org.write_payment(dict(raw), fixed_id=raw.get("PaymentID"))
        except WriteError as exc:
            raise ValueError(f"fixture Payments: {exc}") from None
    load_ledger_fixtures(org, fixtures)
