"""The soak's simulator: a person editing both systems through their public APIs (Salesforce REST
sObjects, Xero Accounting), with random but seeded choices, and what both systems hold, read back.

It only touches records the previous cycle left in agreement, so that the model (`soak_model.py`)
can say what each edit must become. The sandbox's injected faults reach the simulator too: a 429,
5xx, 503 or `UNABLE_TO_LOCK_ROW` answer was not applied, and the request is sent again.
"""

from __future__ import annotations

import datetime as dt
import random
import time

import requests

from .harness import sandbox_session
from .soak_model import FIELDS, Edit

CITIES = ("Lisbon", "Osaka", "Quito", "Tallinn", "Perth", "Accra", "Bergen", "Cusco")
_RETRY_STATUS = {429, 500, 502, 503, 504}


class Simulator:
    def __init__(self, env: dict[str, str], seed: int) -> None:
        self.env, self.rng = env, random.Random(seed)
        self.http = sandbox_session(env)
        self.faults_seen = 0
        self._n = 0
        version = env["SALESFORCE_API_VERSION"]
        token = self._send("POST", f"{env['SALESFORCE_LOGIN_URL']}/services/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": env["SALESFORCE_CLIENT_ID"],
            "client_secret": env["SALESFORCE_CLIENT_SECRET"]}).json()
        self.sf_base = f"{token['instance_url']}/services/data/v{version}"
        self.sf_headers = {"Authorization": f"Bearer {token['access_token']}"}
        self._xero_token()

    def _xero_token(self) -> None:
        token = self._send("POST", f"{self.env['XERO_IDENTITY_URL']}/connect/token",
                           data={"grant_type": "client_credentials"},
                           auth=(self.env["XERO_CLIENT_ID"], self.env["XERO_CLIENT_SECRET"])).json()
        self.xero_headers = {"Authorization": f"Bearer {token['access_token']}",
                             "xero-tenant-id": self.env["XERO_TENANT_ID"], "Accept": "application/json"}

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        for _ in range(20):
            r = self.http.request(method, url, timeout=60, **kwargs)
            if r.status_code in _RETRY_STATUS or (r.status_code == 400 and b"UNABLE_TO_LOCK_ROW" in r.content):
                self.faults_seen += 1
                time.sleep(min(float(r.headers.get("Retry-After") or 0.05), 2))
                continue
            if r.status_code == 401 and "xero-tenant-id" in kwargs.get("headers", {}):
                self._xero_token()
                kwargs["headers"] = self.xero_headers
                continue
            if r.status_code >= 400:
                raise RuntimeError(f"soak simulator: {method} {url.split('?')[0]} answered {r.status_code}: "
                                   f"{r.text[:300]}")
            return r
        raise RuntimeError(f"soak simulator: {method} {url} kept failing")

    def _sf(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        return self._send(method, self.sf_base + path, json=body, headers=self.sf_headers)

    def _xero(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        return self._send(method, self.env["XERO_API_URL"] + path, json=body, headers=self.xero_headers)

    # -- reading ---------------------------------------------------------------------------------
    def records(self, system: str, obj: str) -> list[dict]:
        base = self.env["SALESFORCE_LOGIN_URL"] if system == "sf" else self.env["XERO_IDENTITY_URL"]
        return self._send("GET", f"{base}/__sandbox/records/{obj}").json()

    def observe(self) -> dict:
        """Both systems as they are: Accounts, Contacts, pairs linked by `Xero_Contact_Id__c`, invoices."""
        accounts = {a["Id"]: a for a in self.records("sf", "Account") if not a.get("IsDeleted") and not a.get("_deleted")}
        contacts = {c["ContactID"]: c for c in self.records("xero", "Contacts")}
        opps = {o["Id"]: o for o in self.records("sf", "Opportunity") if not o.get("IsDeleted")}
        pairs = {}
        for aid, a in accounts.items():
            c = contacts.get(a.get("Xero_Contact_Id__c") or "")
            if c is None or c.get("ContactStatus") == "ARCHIVED":
                continue
            pairs[aid] = {"contact": c["ContactID"], "sf": {f: _blank(a.get(f)) for f in FIELDS},
                          "xero": {f: _blank(xero_value(c, FIELDS[f][0])) for f in FIELDS}}
        invoices = {}
        for inv in self.records("xero", "Invoices"):
            opp = opps.get(inv.get("Reference") or "")
            if inv.get("Type") == "ACCREC" and opp is not None:
                invoices[inv["InvoiceID"]] = {"opportunity": opp["Id"], "status": inv.get("Status"),
                                              "total": float(inv.get("Total") or 0), "paid": float(inv.get("AmountPaid") or 0),
                                              "currency": inv.get("CurrencyCode"),
                                              "sf_paid": opp.get("Xero_Amount_Paid__c"), "sf_status": opp.get("Xero_Invoice_Status__c")}
        return {"accounts": accounts, "contacts": contacts, "pairs": pairs, "invoices": invoices, "opportunities": opps}

    # -- editing ---------------------------------------------------------------------------------
    def _name(self, what: str) -> str:
        self._n += 1
        return f"Soak {what} {self._n:05d}-{self.rng.randrange(10**6):06d}"

    def _value(self, name: str) -> str:
        if name == "Name":
            return self._name("Renamed")
        if name == "AccountNumber":
            return f"SOAK-{self.rng.randrange(10**8):08d}"
        return f"{self.rng.choice(CITIES)} {self.rng.randrange(1000)}"

    def update(self, before: dict, system: str, account: str, name: str, value: str) -> Edit:
        if system == "salesforce":
            self._sf("PATCH", f"/sobjects/Account/{account}", {name: value})
        else:
            contact = before["contacts"][before["pairs"][account]["contact"]]
            self._xero("POST", "/Contacts", {"Contacts": [{"ContactID": contact["ContactID"],
                                                           **xero_fields(contact, FIELDS[name][0], value)}]})
        return Edit(system, "update", account, name, value)

    def edits(self, before: dict, count: int, in_sync: list[str]) -> list[Edit]:
        """`count` random edits over the Accounts of `in_sync` (pairs agreeing now) and the invoices."""
        done: list[Edit] = []
        touched: set[str] = set()
        payable = [i for i, inv in before["invoices"].items()
                   if inv["status"] == "AUTHORISED" and inv["currency"] == "USD" and inv["total"] - inv["paid"] > 0.01
                   and _same_money(inv["sf_paid"], inv["paid"]) and inv["sf_status"] == inv["status"]]
        with_opps = {o.get("AccountId") for o in before["opportunities"].values()}
        for _ in range(count):
            kind = self.rng.choices(["update", "concurrent", "sf_create", "xero_create", "delete", "payment"],
                                    weights=[8, 2, 1, 1, 1, 2])[0]
            free = [a for a in in_sync if a not in touched]
            if kind in ("update", "concurrent", "delete") and not free:
                continue
            if kind == "update":
                account, name = self.rng.choice(free), self.rng.choice(list(FIELDS))
                system = self.rng.choice(["salesforce", "xero"])
                done.append(self.update(before, system, account, name, self._value(name)))
                touched.add(account)
            elif kind == "concurrent":  # the same field edited in both systems within one cycle
                account, name = self.rng.choice(free), self.rng.choice(list(FIELDS))
                done.append(self.update(before, "salesforce", account, name, self._value(name)))
                done.append(self.update(before, "xero", account, name, self._value(name)))
                touched.add(account)
            elif kind == "sf_create":
                name = self._name("Account")
                account = self._sf("POST", "/sobjects/Account", {"Name": name, "BillingCountry": "United States"}).json()["id"]
                self._sf("POST", "/sobjects/Contact", {"LastName": "Soak", "AccountId": account,
                                                       "Email": f"soak{self._n}@example.com"})
                done.append(Edit("salesforce", "create", account, value=name))
            elif kind == "xero_create":
                name = self._name("Contact")
                self._xero("PUT", "/Contacts", {"Contacts": [{"Name": name}]})
                done.append(Edit("xero", "create", name, value=name))
            elif kind == "delete":
                candidates = [a for a in free if a not in with_opps]
                if not candidates:
                    continue
                account = self.rng.choice(candidates)
                self._sf("DELETE", f"/sobjects/Account/{account}")
                done.append(Edit("salesforce", "delete", account))
                touched.add(account)
            elif kind == "payment" and payable:
                invoice = self.rng.choice(payable)
                inv = before["invoices"][invoice]
                due = round(inv["total"] - inv["paid"], 2)
                amount = due if self.rng.random() < 0.5 else round(max(0.01, due * self.rng.uniform(0.2, 0.8)), 2)
                self._xero("PUT", "/Payments", {"Payments": [{"Invoice": {"InvoiceID": invoice}, "Account": {"Code": "090"},
                                                              "Date": dt.date.today().isoformat(), "Amount": amount}]})
                done.append(Edit("xero", "payment", invoice, value=amount))
                payable.remove(invoice)
        return done

    def close(self) -> None:
        self.http.close()


def _blank(value):
    return None if value in ("", None) else value


def _same_money(a, b) -> bool:
    return a is not None and abs(float(a) - float(b)) < 0.005


def xero_value(contact: dict, path: str):
    if not path.startswith("Addresses."):
        return contact.get(path)
    _, kind, part = path.split(".")
    return next((a.get(part) for a in contact.get("Addresses") or [] if a.get("AddressType") == kind), None)


def xero_fields(contact: dict, path: str, value) -> dict:
    """The body fields of a Contact update setting `path` to `value` (an address is sent whole)."""
    if not path.startswith("Addresses."):
        return {path: value}
    _, kind, part = path.split(".")
    addresses = [dict(a) for a in contact.get("Addresses") or []]
    mine = next((a for a in addresses if a.get("AddressType") == kind), None)
    if mine is None:
        mine = {"AddressType": kind}
        addresses.append(mine)
    mine[part] = value
    return {"Addresses": addresses}
