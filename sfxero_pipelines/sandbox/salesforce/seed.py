"""Seed the emulated org from the shared `World`, or from docs/sandbox.md fixtures.

Sizes: `world.size` Accounts; ~1.4 Contacts each (the world's people), ~1.5 Opportunities each
(~35% Closed Won) with 1-4 line items, Orders for ~30% of accounts (Draft / Activated) with 1-3
items, Leads ~0.3x, a few Campaigns with members, 12 Products with a standard price in each currency.
Same (seed, size) and the same day -> the same org. Timestamps spread over the last ~400 days
before the clock's current day, so relative date literals (LAST_N_DAYS) select real subsets.
Seeding writes pre-derived rows straight into the tables (no per-row validation) so a
200,000-account org seeds in seconds.
"""

from __future__ import annotations

import random
from ..world import FX_FROM_USD, PRODUCTS, World
from .schema import CURRENCIES, LEAD_STATUSES, STAGES
from .store import Org, fmt_dt, parse_dt

_DAY = 86_400.0
_OPEN_STAGES = [s for s, v in STAGES.items() if not v[2]]
# Fixture objects are created in dependency order so lookups resolve.
LOAD_ORDER = ["User", "Pricebook2", "Product2", "PricebookEntry", "Account", "Contact", "Campaign", "Lead",
              "Opportunity", "OpportunityLineItem", "Order", "OrderItem", "CampaignMember"]


def _round_money(amount: float, currency: str) -> float:
    return float(round(amount)) if currency == "JPY" else round(amount, 2)


class _Sink:
    def __init__(self, table) -> None:
        self.rows, self.cols = table.rows, table.cols

    def append(self, rec: dict) -> None:
        self.rows[rec["Id"]] = tuple([rec.get(c) for c in self.cols])


class Seeder:
    def __init__(self, org: Org, world: World, username: str, anchor: float) -> None:
        self.org, self.world, self.username = org, world, username
        # Midnight UTC of the clock's day: data is identical for a (seed, size) all day long.
        self.anchor = anchor - anchor % _DAY
        self.span = 400 * _DAY

    def _times(self, i: int, n: int, rng: random.Random) -> tuple[str, str]:
        created = self.anchor - self.span + (i + rng.random()) * (self.span - 2 * _DAY) / max(n, 1)
        modified = min(created + rng.random() * 20 * _DAY, self.anchor - 3600 + rng.random() * 3000)
        return fmt_dt(created), fmt_dt(max(modified, created))

    def _sys(self, rec: dict, created: str, modified: str, owner: str | None) -> dict:
        rec.update(IsDeleted=False, CreatedDate=created, CreatedById=self.user_id, LastModifiedDate=modified,
                   LastModifiedById=self.user_id, SystemModstamp=modified)
        if owner:
            rec["OwnerId"] = owner
        return rec

    def run(self) -> None:
        org, world = self.org, self.world
        t = org.tables
        t0 = fmt_dt(self.anchor - self.span - 30 * _DAY)
        # Users: the integration user (the API's identity) and a small sales team.
        users = [("Integration", "User", self.username)] + [
            (f, l, f"{f.lower()}.{l.lower()}@sfxero.sandbox") for f, l in
            [("Maria", "Gonzalez"), ("Tom", "Baker"), ("Aiko", "Tanaka"), ("Lena", "Fischer")]]
        user_ids = []
        urows = []
        for k, (first, last, uname) in enumerate(users):
            uid = t["User"].new_id()
            if k == 0:
                self.user_id = uid
                org.user_id = uid
            user_ids.append(uid)
            urows.append(self._sys({"Id": uid, "Username": uname, "FirstName": first, "LastName": last,
                                    "Name": f"{first} {last}", "Email": uname, "Alias": (first[0] + last)[:8].lower(),
                                    "IsActive": True, "TimeZoneSidKey": "GMT", "UserType": "Standard",
                                    "CurrencyIsoCode": "USD"}, t0, t0, None))
        org.bulk_load("User", urows)
        reps = user_ids[1:]
        pb_id = t["Pricebook2"].new_id()
        self.pricebook_id = pb_id
        org.bulk_load("Pricebook2", [self._sys({"Id": pb_id, "Name": "Standard Price Book", "IsActive": True,
                                                "IsStandard": True, "Description": None}, t0, t0, None)])
        prods, pbes = [], []
        self.pbe: dict[tuple[int, str], tuple[str, float]] = {}
        for k, (code, name, price, family) in enumerate(PRODUCTS):
            pid = t["Product2"].new_id()
            prods.append(self._sys({"Id": pid, "Name": name, "ProductCode": code, "Family": family,
                                    "IsActive": True, "QuantityUnitOfMeasure": "Each", "CurrencyIsoCode": "USD"},
                                   t0, t0, None))
            for cur in CURRENCIES:
                eid = t["PricebookEntry"].new_id()
                unit = _round_money(price * FX_FROM_USD[cur], cur)
                self.pbe[(k, cur)] = (eid, unit)
                pbes.append(self._sys({"Id": eid, "Pricebook2Id": pb_id, "Product2Id": pid, "Name": name,
                                       "ProductCode": code, "UnitPrice": unit, "IsActive": True,
                                       "UseStandardPrice": False, "CurrencyIsoCode": cur}, t0, t0, None))
        org.bulk_load("Product2", prods)
        org.bulk_load("PricebookEntry", pbes)

        n = world.size
        # Rows go straight into the tables as tuples: no list of dicts ever holds a whole object.
        accounts, contacts, opps, olis, orders, oitems = (
            _Sink(t[name]) for name in ("Account", "Contact", "Opportunity", "OpportunityLineItem", "Order", "OrderItem"))
        contact_ids: list[str] = []
        for i in range(n):
            c = world.company(i)
            rng = random.Random((world.seed * 7_919 + i) * 31 + 5)
            created, modified = self._times(i, n, rng)
            aid = t["Account"].new_id()
            owner = reps[i % len(reps)]
            ship = rng.random() < 0.5
            accounts.append(self._sys({
                "Id": aid, "Name": c.name, "Type": "Customer - Direct" if rng.random() < 0.7 else "Prospect",
                "Industry": c.industry, "Phone": c.phone, "Website": c.website,
                "AccountNumber": f"CUST-{i:06d}",
                "BillingStreet": c.street, "BillingCity": c.city, "BillingState": c.state,
                "BillingPostalCode": c.postcode, "BillingCountry": c.country,
                "ShippingStreet": c.street if ship else None, "ShippingCity": c.city if ship else None,
                "ShippingPostalCode": c.postcode if ship else None, "ShippingCountry": c.country if ship else None,
                "AnnualRevenue": float(rng.randrange(50, 50_000) * 1000), "NumberOfEmployees": rng.randrange(2, 5000),
                "CurrencyIsoCode": c.currency,
            }, created, modified, owner))
            for k, person in enumerate(c.contacts):
                cid = t["Contact"].new_id()
                contact_ids.append(cid)
                contacts.append(self._sys({
                    "Id": cid, "FirstName": person.first_name, "LastName": person.last_name,
                    "Name": f"{person.first_name} {person.last_name}", "Email": person.email, "Phone": person.phone,
                    "Title": "Accounts Payable" if k == 0 else rng.choice(["CFO", "Head of Operations", "Buyer"]),
                    "AccountId": aid, "MailingStreet": c.street, "MailingCity": c.city, "MailingState": c.state,
                    "MailingPostalCode": c.postcode, "MailingCountry": c.country, "CurrencyIsoCode": c.currency,
                }, created, modified, owner))
            n_opps = rng.choices([0, 1, 2, 3], [15, 35, 30, 20])[0]
            won_opp = None
            for k in range(n_opps):
                oid = t["Opportunity"].new_id()
                r = rng.random()
                stage = "Closed Won" if r < 0.35 else "Closed Lost" if r < 0.5 else rng.choice(_OPEN_STAGES)
                prob, forecast, closed, won = STAGES[stage]
                cur = c.currency if rng.random() > 0.1 else rng.choice([x for x in CURRENCIES if x != c.currency])
                o_created, o_modified = self._times(i, n, rng)
                close = self.anchor + (rng.uniform(-330, -5) if closed else rng.uniform(5, 180)) * _DAY
                close_date = fmt_dt(close)[:10]
                amount = 0.0
                zero = rng.random() < 0.03
                n_lines = 1 + int(rng.random() * 4)
                lines = []
                for s in range(n_lines):
                    prod = 10 if zero else rng.randrange(len(PRODUCTS) - 1)
                    eid, unit = self.pbe[(prod, cur)]
                    qty = float(1 if prod in (2, 7) else rng.randint(1, 12))
                    total = _round_money(qty * unit, cur)
                    amount += total
                    lines.append({
                        "Id": t["OpportunityLineItem"].new_id(), "OpportunityId": oid, "PricebookEntryId": eid,
                        "Product2Id": prods[prod]["Id"], "ProductCode": PRODUCTS[prod][0],
                        "Name": PRODUCTS[prod][1], "Quantity": qty, "UnitPrice": unit, "ListPrice": unit, "TotalPrice": total,
                        "Discount": None, "ServiceDate": close_date, "SortOrder": s + 1, "CurrencyIsoCode": cur,
                    })
                name = f"{c.name[:80]} - {rng.choice(['New business', 'Renewal', 'Upsell', 'Expansion'])} {k + 1}"
                for line in lines:
                    line["Name"] = f"{name} {line['Name']}"[:376]
                    olis.append(self._sys(line, o_created, o_modified, None))
                year, month = int(close_date[:4]), int(close_date[5:7])
                opps.append(self._sys({
                    "Id": oid, "Name": name, "AccountId": aid, "StageName": stage, "CloseDate": close_date,
                    "Amount": _round_money(amount, cur), "Probability": float(prob), "IsClosed": closed, "IsWon": won,
                    "ForecastCategoryName": forecast,
                    "ForecastCategory": {"Commit": "Forecast"}.get(forecast, forecast),
                    "Type": "New Customer" if k == 0 else "Existing Customer - Upgrade",
                    "LeadSource": rng.choice(["Web", "Phone Inquiry", "Partner Referral", "Other"]),
                    "Pricebook2Id": pb_id, "HasOpportunityLineItem": True, "FiscalYear": year,
                    "FiscalQuarter": (month - 1) // 3 + 1, "Fiscal": f"{year} {(month - 1) // 3 + 1}",
                    "CurrencyIsoCode": cur,
                }, o_created, o_modified, owner))
                if won and won_opp is None:
                    won_opp = oid
            if rng.random() < 0.3:
                ord_id = t["Order"].new_id()
                org.auto_numbers["Order"] += 1
                status = "Activated" if rng.random() < 0.6 else "Draft"
                o_created, o_modified = self._times(i, n, rng)
                total = 0.0
                for s in range(1 + int(rng.random() * 3)):
                    prod = rng.randrange(len(PRODUCTS) - 2)
                    eid, unit = self.pbe[(prod, c.currency)]
                    qty = float(rng.randint(1, 5))
                    line_total = _round_money(qty * unit, c.currency)
                    total += line_total
                    org.auto_numbers["OrderItem"] += 1
                    oitems.append(self._sys({
                        "Id": t["OrderItem"].new_id(), "OrderId": ord_id, "PricebookEntryId": eid,
                        "Product2Id": prods[prod]["Id"], "OrderItemNumber": f"{org.auto_numbers['OrderItem']:010d}",
                        "Quantity": qty, "UnitPrice": unit, "ListPrice": unit, "TotalPrice": line_total,
                        "ServiceDate": o_created[:10], "CurrencyIsoCode": c.currency,
                    }, o_created, o_modified, None))
                orders.append(self._sys({
                    "Id": ord_id, "AccountId": aid, "OpportunityId": won_opp, "Pricebook2Id": pb_id,
                    "Status": status, "StatusCode": status, "EffectiveDate": o_created[:10],
                    "OrderNumber": f"{org.auto_numbers['Order']:08d}", "TotalAmount": _round_money(total, c.currency),
                    "Type": "New", "ActivatedDate": o_modified if status == "Activated" else None,
                    "BillingStreet": c.street, "BillingCity": c.city, "BillingPostalCode": c.postcode,
                    "BillingCountry": c.country, "CurrencyIsoCode": c.currency,
                }, o_created, o_modified, owner))

        n_leads = max(1, int(n * 0.3))
        lead_rows, lead_ids = [], []
        for j in range(n_leads):
            c = world.company(n + j)
            rng = random.Random((world.seed * 7_919 + j) * 37 + 11)
            created, modified = self._times(j, n_leads, rng)
            p = c.contacts[0]
            lid = t["Lead"].new_id()
            lead_ids.append(lid)
            lead_rows.append(self._sys({
                "Id": lid, "FirstName": p.first_name, "LastName": p.last_name, "Name": f"{p.first_name} {p.last_name}",
                "Company": c.name, "Email": p.email, "Phone": p.phone, "Street": c.street, "City": c.city,
                "State": c.state, "PostalCode": c.postcode, "Country": c.country,
                "Status": rng.choice(LEAD_STATUSES[:2] + LEAD_STATUSES[3:]), "Industry": c.industry,
                "LeadSource": rng.choice(["Web", "Purchased List", "Other"]), "IsConverted": False,
                "CurrencyIsoCode": c.currency,
            }, created, modified, reps[j % len(reps)]))
        org.bulk_load("Lead", lead_rows)
        del lead_rows

        n_campaigns = min(20, 3 + n // 2000)
        camp_rows, camp_ids = [], []
        for k in range(n_campaigns):
            cid = t["Campaign"].new_id()
            camp_ids.append(cid)
            start = fmt_dt(self.anchor - (300 - k * 10) * _DAY)[:10]
            camp_rows.append(self._sys({
                "Id": cid, "Name": ["Overdue accounts follow-up", "Spring webinar", "Partner summit"][k]
                if k < 3 else f"Campaign {k + 1}", "Type": ["Email", "Webinar", "Conference"][k % 3],
                "Status": "In Progress", "IsActive": True, "StartDate": start, "CurrencyIsoCode": "USD",
            }, t0, t0, user_ids[1]))
        org.bulk_load("Campaign", camp_rows)
        members = []
        rng = random.Random(world.seed * 97 + 3)
        # Campaign 0 is the dunning campaign recipe R6 manages; seed it nearly empty, the others with members.
        for k, who in enumerate(contact_ids[:: 7] + lead_ids[:: 5]):
            camp = camp_ids[1 + k % (n_campaigns - 1)]
            status = "Responded" if rng.random() < 0.3 else "Sent"
            is_lead = who.startswith("00Q")
            members.append(self._sys({
                "Id": t["CampaignMember"].new_id(), "CampaignId": camp, "LeadId": who if is_lead else None,
                "ContactId": None if is_lead else who, "Status": status, "HasResponded": status == "Responded",
                "FirstRespondedDate": fmt_dt(self.anchor - 10 * _DAY)[:10] if status == "Responded" else None,
            }, t0, t0, None))
        org.bulk_load("CampaignMember", members)
        self.sort_tables()

    def sort_tables(self) -> None:
        # Keep each table in (SystemModstamp, Id) order so the extractor's window queries sort in ~linear time.
        for table in self.org.tables.values():
            sm = table.pos["systemmodstamp"]
            table.rows = dict(sorted(table.rows.items(), key=lambda kv: (kv[1][sm], kv[0])))


def load_fixtures(org: Org, fixtures: dict, username: str) -> None:
    """Make the org contain exactly the fixture data (plus a standard price book and an integration user)."""
    org.clear()
    # Custom objects (shipped or from a schema) load after the standard ones, in the schema's order.
    order = LOAD_ORDER + [name for name in org.schema.objects if name not in LOAD_ORDER]
    unknown = [k for k in fixtures if k not in order and k != "schema"]
    if unknown:
        raise ValueError(f"fixtures: unknown Salesforce object(s) {', '.join(sorted(unknown))}")
    users = fixtures.get("User") or []
    now = fmt_dt(org.now())
    if not any(u.get("Username") == username for u in users):
        uid = org.tables["User"].new_id()
        org.bulk_load("User", [{"Id": uid, "Username": username, "FirstName": "Integration", "LastName": "User",
                                "Name": "Integration User", "Email": username, "Alias": "integ", "IsActive": True,
                                "UserType": "Standard", "TimeZoneSidKey": "GMT", "CurrencyIsoCode": "USD",
                                "IsDeleted": False, "CreatedDate": now, "LastModifiedDate": now,
                                "SystemModstamp": now, "CreatedById": uid, "LastModifiedById": uid}])
        org.user_id = uid
    for obj_name in order:
        for i, rec in enumerate(fixtures.get(obj_name) or []):
            try:
                rid = org.create(obj_name, {k: v for k, v in rec.items() if k != "IsDeleted"}, fixture=True)
            except Exception as exc:  # noqa: BLE001 - re-raised with the fixture's location
                raise ValueError(f"fixtures: salesforce.{obj_name}[{i}]: {exc}") from None
            if obj_name == "User" and rec.get("Username") == username:
                org.user_id = rid
            if rec.get("IsDeleted"):
                table = org.tables[obj_name]
                row = list(table.rows[rid])
                row[1] = True
                table.rows[rid] = tuple(row)
                org.deleted_log[obj_name].append((rid, row[table.pos["systemmodstamp"]]))
        if obj_name == "Pricebook2" and not any(
                r[org.tables["Pricebook2"].pos["isstandard"]] for r in org.tables["Pricebook2"].rows.values()):
            pid = org.tables["Pricebook2"].new_id()
            org.bulk_load("Pricebook2", [{"Id": pid, "Name": "Standard Price Book", "IsActive": True,
                                          "IsStandard": True, "IsDeleted": False, "CreatedDate": now,
                                          "LastModifiedDate": now, "SystemModstamp": now,
                                          "CreatedById": org.user_id, "LastModifiedById": org.user_id}])
    for table in org.tables.values():
        sm = table.pos["systemmodstamp"]
        table.rows = dict(sorted(table.rows.items(), key=lambda kv: (kv[1][sm], kv[0])))


__all__ = ["Seeder", "load_fixtures", "LOAD_ORDER", "parse_dt"]
