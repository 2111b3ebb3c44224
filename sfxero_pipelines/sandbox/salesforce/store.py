"""The emulated org's data: compact rows, validated writes and the system fields a real org maintains.

Rows are tuples in the object's stored-field order (not dicts) so that an org of 200,000 accounts
and its related records fits comfortably in memory. Every write stamps `LastModifiedDate` and
`SystemModstamp` from the emulator's clock; deletes are soft (`IsDeleted`) except for objects
without a recycle bin (CampaignMember), which `queryAll` never sees; every delete is logged for
the `/deleted` endpoint. Derived fields (Opportunity IsWon/IsClosed from StageName, line-item
totals and the parent's Amount roll-up, Name on person objects) are recomputed the way the
platform does.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable

from .schema import DEFAULT, NUMBER_TYPES, STAGES, Schema, SObject

_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
#: Line objects → (parent object, the line's parent field): totals roll up to the parent.
LINE_PARENTS = {"OpportunityLineItem": ("Opportunity", "OpportunityId"), "OrderItem": ("Order", "OrderId"),
                "QuoteLineItem": ("Quote", "QuoteId")}
_ID15 = re.compile(r"^[a-zA-Z0-9]{15}$")
_ID18 = re.compile(r"^[a-zA-Z0-9]{18}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SfError(Exception):
    """A Salesforce API error: errorCode, message, fields and the HTTP status it is served with."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.fields, self.status = code, message, fields or [], status

    def body(self) -> list[dict]:
        return [{"message": self.message, "errorCode": self.code, "fields": self.fields}]

    def item(self) -> dict:
        # sObject Collections report per-record errors with `statusCode`, not `errorCode` (doc §3.2).
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def id18(id15: str) -> str:
    suffix = ""
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        suffix += _CHECKSUM[bits]
    return id15 + suffix


def normalize_id(value: str) -> str | None:
    """15- or 18-char id -> 18-char id; None if it is not shaped like an id."""
    if not isinstance(value, str):
        return None
    if _ID18.match(value):
        return id18(value[:15]) if id18(value[:15]) == value else None
    if _ID15.match(value):
        return id18(value)
    return None


def fmt_dt(epoch: float) -> str:
    """Salesforce's REST datetime shape: UTC, milliseconds, +0000."""
    t = time.gmtime(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(epoch * 1000) % 1000:03d}+0000"


def parse_instant(value: str) -> dt.datetime | None:
    """Any ISO-8601 datetime (Z, +hh:mm, +hhmm, any number of fractional digits) -> an aware UTC datetime."""
    s = value.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    m = re.match(r"^(.*[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)([+-]\d{2}):?(\d{2})$", s)
    if m:
        s = f"{m.group(1)}{m.group(2)}:{m.group(3)}"
    try:
        d = dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return d.astimezone(dt.timezone.utc)


def parse_dt(value: str) -> str | None:
    """Any ISO-8601 datetime -> the stored shape (UTC, milliseconds, sub-millisecond digits dropped), or None."""
    d = parse_instant(value)
    if d is None:
        return None
    # Formatted from the datetime, not its float timestamp: .511 must not come back as .510.
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{d.microsecond // 1000:03d}+0000"


def parse_date(value: str) -> str | None:
    try:
        return dt.date.fromisoformat(value.strip()[:10]).isoformat()
    except ValueError:
        return None


class Table:
    def __init__(self, obj: SObject) -> None:
        self.obj = obj
        self.cols: list[str] = list(obj.stored)
        self.pos: dict[str, int] = {c.lower(): i for i, c in enumerate(self.cols)}
        self.rows: dict[str, tuple] = {}
        self.counter = 0
        self._id_suffix: str | None = None
        self._ext: dict[str, dict[str, list[str]]] = {}  # lazily built external-id indices
        self.journal: list | None = None  # undo log while an allOrNone request runs

    def new_id(self) -> str:
        self.counter += 1
        # prefix + 3-char "pod" + 9 digits: ids sort in creation order, like real ones mostly do.
        # Digits carry no capitals, so the checksum suffix is the prefix's alone: computed once.
        if self._id_suffix is None:
            self._id_suffix = id18(f"{self.obj.key_prefix}5Hs{0:09d}")[15:]
        return f"{self.obj.key_prefix}5Hs{self.counter:09d}{self._id_suffix}"

    def to_dict(self, row: tuple) -> dict:
        return dict(zip(self.cols, row))

    def from_dict(self, rec: dict) -> tuple:
        return tuple(rec.get(c) for c in self.cols)

    def put(self, row: tuple) -> None:
        rid = row[0]
        old = self.rows.pop(rid, None)
        if self.journal is not None:
            self.journal.append((self, rid, old))
        # Re-inserting keeps dict order ~ SystemModstamp order, so sorted window queries are near-linear.
        self.rows[rid] = row
        for fname, index in self._ext.items():
            p = self.pos[fname]
            if old is not None and old[p]:
                ids = index.get(old[p].lower())
                if ids and rid in ids:
                    ids.remove(rid)
            if row[p] and not row[1]:
                index.setdefault(row[p].lower(), []).append(rid)

    def external_index(self, fname: str) -> dict[str, list[str]]:
        key = fname.lower()
        if key not in self._ext:
            p = self.pos[key]
            index: dict[str, list[str]] = {}
            for rid, row in self.rows.items():
                if row[p] and not row[1]:
                    index.setdefault(row[p].lower(), []).append(rid)
            self._ext[key] = index
        return self._ext[key]

    def live(self, rid: str) -> tuple | None:
        row = self.rows.get(rid)
        return row if row is not None and not row[1] else None


class Org:
    """All tables of the org plus the delete log. Not thread-safe: only the event loop touches it."""

    def __init__(self, now: Callable[[], float], schema: Schema = DEFAULT) -> None:
        self.now = now
        self.schema = schema
        self.tables: dict[str, Table] = {name: Table(obj) for name, obj in schema.objects.items()}
        self.deleted_log: dict[str, list[tuple[str, str]]] = {name: [] for name in schema.objects}
        self._journal: list = []  # undo log of the open transaction(s)
        self._marks: list[tuple[int, dict[str, int]]] = []  # one savepoint per open `begin`
        self.user_id: str | None = None
        self.auto_numbers = {"Order": 0, "OrderItem": 0, "Quote": 0, "QuoteLineItem": 0}

    def table(self, name: str) -> Table | None:
        obj = self.schema.sobject(name)
        return self.tables[obj.name] if obj else None

    def clear(self) -> None:
        self.__init__(self.now, self.schema)

    def begin(self) -> None:
        """Open a transaction (allOrNone); nested ones (a collection inside a /composite) are savepoints."""
        if not self._marks:
            journal: list = []
            for t in self.tables.values():
                t.journal = journal
            self._journal = journal
        self._marks.append((len(self._journal), {k: len(v) for k, v in self.deleted_log.items()}))

    def commit(self) -> None:
        """Close the innermost transaction keeping its writes (the outer one may still roll them back)."""
        self._marks.pop()
        if not self._marks:
            self._detach()

    def rollback(self) -> None:
        """Undo every write since the innermost open `begin` and close that transaction."""
        mark, log_marks = self._marks.pop()
        undo = self._journal[mark:]
        del self._journal[mark:]
        if not self._marks:
            self._detach()
        for table, rid, old in reversed(undo):
            if old is None:
                table.rows.pop(rid, None)
            else:
                table.rows[rid] = old
            table._ext.clear()
        for k, n in log_marks.items():
            del self.deleted_log[k][n:]

    def _detach(self) -> None:
        for t in self.tables.values():
            t.journal = None
        self._journal = []

    def object_of_id(self, rid: str) -> str | None:
        return self.schema.prefixes.get(rid[:3]) if isinstance(rid, str) else None

    def get(self, rid: str) -> tuple[Table, tuple] | None:
        name = self.object_of_id(rid)
        if not name:
            return None
        t = self.tables[name]
        row = t.rows.get(rid)
        return (t, row) if row is not None else None

    # -- value coercion ------------------------------------------------------------------------
    def coerce(self, obj: SObject, fname: str, value, *, bulk: bool = False, check_refs: bool = True):
        f = obj.field(fname)
        ftype = f.type
        if value is None or (isinstance(value, str) and value == "" and ftype != "boolean"):
            return None
        if bulk and isinstance(value, str) and value == "#N/A":
            return None
        if ftype in NUMBER_TYPES:
            if isinstance(value, bool):
                raise SfError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f.name}: value not of required type: {value}", [f.name])
            if isinstance(value, (int, float)):
                return int(value) if ftype == "int" else float(value)
            try:
                return int(value) if ftype == "int" else float(value)
            except (TypeError, ValueError):
                raise SfError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f.name}: value not of required type: {value}",
                              [f.name]) from None
        if ftype == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", ""):
                return value.lower() == "true"
            raise SfError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f.name}: value not of required type: {value}", [f.name])
        if ftype == "date":
            d = parse_date(str(value))
            if d is None:
                raise SfError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f.name}: value not of required type: {value}", [f.name])
            return d
        if ftype == "datetime":
            d = parse_dt(str(value))
            if d is None:
                raise SfError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f.name}: value not of required type: {value}", [f.name])
            return d
        if ftype in ("reference", "id"):
            rid = normalize_id(str(value))
            if rid is None:
                raise SfError("MALFORMED_ID", f"{f.label or f.name}: id value of incorrect type: {value}", [f.name])
            if ftype == "reference" and check_refs:
                target = self.object_of_id(rid)
                found = self.tables[target].live(rid) if target == f.reference_to else None
                if found is None:
                    raise SfError("FIELD_INTEGRITY_EXCEPTION",
                                  f"{f.name}: id value of incorrect type: {value}" if target != f.reference_to
                                  else "invalid cross reference id", [f.name])
            return rid
        s = value if isinstance(value, str) else str(value)
        if f.length and len(s) > f.length:
            raise SfError("STRING_TOO_LONG", f"{f.name}: data value too large: {s[:40]}... (max length={f.length})", [f.name])
        if ftype == "email" and not _EMAIL.match(s):
            raise SfError("INVALID_EMAIL_ADDRESS", f"{f.name}: invalid email address: {s}", [f.name])
        return s

    def _check_fields(self, obj: SObject, data: dict, *, creating: bool, enforce_access: bool = True) -> dict:
        """Resolve field names; unless loading fixtures, refuse fields the profile cannot write."""
        clean = {}
        for key, value in data.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            if f is None:
                raise SfError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key])
            allowed = f.createable if creating else f.updateable
            if enforce_access and not allowed:
                raise SfError("INVALID_FIELD_FOR_INSERT_UPDATE",
                              f"Unable to create/update fields: {f.name}. Please check the security settings of "
                              f"this field and verify that it is read/write for your profile or permission set.",
                              [f.name])
            clean[f.name] = value
        return clean

    # -- writes ----------------------------------------------------------------------------------
    def create(self, obj_name: str, data: dict, *, bulk: bool = False, fixture: bool = False) -> str:
        t = self.table(obj_name)
        if t is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        obj = t.obj
        # Fixtures may set system fields (Id, timestamps) no API client could write.
        rec = self._check_fields(obj, data, creating=True, enforce_access=not fixture)
        for key in list(rec):
            if key == "Id" and fixture:
                continue
            rec[key] = self.coerce(obj, key, rec[key], bulk=bulk, check_refs=not fixture)
        now = fmt_dt(self.now())
        rid = rec.get("Id") if fixture else None
        if rid:
            rid = normalize_id(rid)
            if rid is None or rid[:3] != obj.key_prefix:
                raise SfError("MALFORMED_ID", f"bad fixture id {data.get('Id')!r} for {obj.name}", ["Id"])
            n = int(rid[6:15]) if rid[6:15].isdigit() and rid[3:6] == "5Hs" else 0
            t.counter = max(t.counter, n)
        else:
            rid = t.new_id()
        rec["Id"] = rid
        rec.setdefault("IsDeleted", False)
        for k in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            if not rec.get(k):
                rec[k] = rec.get("LastModifiedDate") or rec.get("CreatedDate") or now
        if self.user_id:
            for k in ("CreatedById", "LastModifiedById"):
                rec.setdefault(k, self.user_id)
            if "ownerid" in t.pos:
                rec.setdefault("OwnerId", self.user_id)
        if "currencyisocode" in t.pos:
            rec.setdefault("CurrencyIsoCode", "USD")
        self._derive(t, rec, None)
        missing = [f.name for f in obj.fields if f.required and rec.get(f.name) in (None, "")]
        if missing:
            raise SfError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        self._check_unique(t, rec, rid)
        t.put(t.from_dict(rec))
        self._after_write(t, rec)
        return rid

    def update(self, obj_name: str, rid: str, data: dict, *, bulk: bool = False) -> None:
        t = self.table(obj_name)
        if t is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        nid = normalize_id(rid) if rid else None
        if nid is None:
            raise SfError("MALFORMED_ID", f"Id: id value of incorrect type: {rid}", ["Id"])
        row = t.rows.get(nid)
        if row is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        if row[1]:
            raise SfError("ENTITY_IS_DELETED", "entity is deleted", [])
        clean = self._check_fields(t.obj, {k: v for k, v in data.items() if k != "Id"}, creating=False)
        rec = t.to_dict(row)
        before = dict(rec)
        for key, value in clean.items():
            if bulk and value == "":
                continue  # Bulk CSV: an empty cell leaves the field unchanged (doc §4.1)
            rec[key] = self.coerce(t.obj, key, value, bulk=bulk)
        self._derive(t, rec, before)
        missing = [f.name for f in t.obj.fields if f.required and rec.get(f.name) in (None, "")]
        if missing:
            raise SfError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        self._check_unique(t, rec, nid)
        self._touch(rec)
        t.put(t.from_dict(rec))
        self._after_write(t, rec, before)

    def delete(self, obj_name: str, rid: str) -> None:
        t = self.table(obj_name)
        nid = normalize_id(rid) if rid else None
        if t is None or nid is None:
            raise SfError("MALFORMED_ID", f"malformed id {rid}", [])
        row = t.rows.get(nid)
        if row is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        if row[1]:
            raise SfError("ENTITY_IS_DELETED", "entity is deleted", [])
        rec = t.to_dict(row)
        before = dict(rec)
        rec["IsDeleted"] = True
        self._touch(rec)
        t.put(t.from_dict(rec))
        self.deleted_log[t.obj.name].append((nid, rec["SystemModstamp"]))
        self._after_write(t, rec, before)
        for child_name, fk in _CASCADE.get(t.obj.name, ()):
            ct = self.tables[child_name]
            p = ct.pos[fk.lower()]
            for cid in [cid for cid, crow in ct.rows.items() if crow[p] == nid and not crow[1]]:
                self.delete(child_name, cid)

    def find_external(self, obj_name: str, fname: str, value: str) -> list[str]:
        t = self.tables[obj_name]
        if fname.lower() == "id":
            nid = normalize_id(value)
            return [nid] if nid and t.live(nid) else []
        return list(t.external_index(fname).get(str(value).lower(), []))

    # -- internals -------------------------------------------------------------------------------
    def _touch(self, rec: dict) -> None:
        now = fmt_dt(self.now())
        rec["LastModifiedDate"] = rec["SystemModstamp"] = now
        if self.user_id:
            rec["LastModifiedById"] = self.user_id

    def _check_unique(self, t: Table, rec: dict, rid: str) -> None:
        for f in t.obj.fields:
            if f.unique and rec.get(f.name):
                others = [i for i in t.external_index(f.name).get(rec[f.name].lower(), []) if i != rid]
                if others:
                    raise SfError("DUPLICATE_VALUE",
                                  f"duplicate value found: {f.name} duplicates value on record with id: {others[0]}",
                                  [f.name])

    def _derive(self, t: Table, rec: dict, before: dict | None) -> None:
        name = t.obj.name
        if name in ("Contact", "Lead", "User"):
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p) or None
        if name == "Opportunity":
            stage = rec.get("StageName")
            if stage in STAGES:
                prob, forecast, closed, won = STAGES[stage]
                if before is None or before.get("StageName") != stage:
                    if before is None and rec.get("Probability") is not None:
                        pass
                    else:
                        rec["Probability"] = float(prob)
                    rec["ForecastCategoryName"] = forecast
                rec["ForecastCategory"] = {"Best Case": "BestCase", "Commit": "Forecast"}.get(
                    rec.get("ForecastCategoryName") or forecast, rec.get("ForecastCategoryName") or forecast)
                rec["IsClosed"], rec["IsWon"] = closed, won
            elif stage is not None:
                raise SfError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f"Stage: bad value for restricted picklist field: {stage}", ["StageName"])
            if rec.get("CloseDate"):
                year, month = int(rec["CloseDate"][:4]), int(rec["CloseDate"][5:7])
                quarter = (month - 1) // 3 + 1
                rec["FiscalYear"], rec["FiscalQuarter"], rec["Fiscal"] = year, quarter, f"{year} {quarter}"
            rec.setdefault("HasOpportunityLineItem", False)
            if rec.get("HasOpportunityLineItem") is None:
                rec["HasOpportunityLineItem"] = False
        elif name == "Quote":
            opp = self.tables["Opportunity"].rows.get(rec.get("OpportunityId"))
            if opp is not None:
                # A quote takes its Opportunity's account, price book and currency, as the platform does.
                op = self.tables["Opportunity"].pos
                rec["AccountId"] = rec.get("AccountId") or opp[op["accountid"]]
                rec["Pricebook2Id"] = rec.get("Pricebook2Id") or opp[op["pricebook2id"]]
                rec["CurrencyIsoCode"] = opp[op["currencyisocode"]]
            if not rec.get("QuoteNumber"):
                self.auto_numbers["Quote"] += 1
                rec["QuoteNumber"] = f"{self.auto_numbers['Quote']:08d}"
            rec["Status"] = rec.get("Status") or "Draft"
            for k in ("Subtotal", "TotalPrice"):
                rec[k] = rec.get(k) or 0.0
            rec["GrandTotal"] = round((rec["TotalPrice"] or 0.0) + (rec.get("Tax") or 0.0), 2)
        elif name in LINE_PARENTS:
            parent_name, parent_fk = LINE_PARENTS[name]
            parent = self.tables[parent_name].rows.get(rec.get(parent_fk))
            pbe_id = rec.get("PricebookEntryId")
            if pbe_id:
                pt = self.tables["PricebookEntry"]
                pbe = pt.rows.get(pbe_id)
                if pbe is not None:
                    rec["Product2Id"] = pbe[pt.pos["product2id"]]
                    rec["ListPrice"] = pbe[pt.pos["unitprice"]]
                    if name == "OpportunityLineItem":
                        rec["ProductCode"] = pbe[pt.pos["productcode"]]
                        opp_name = parent[self.tables["Opportunity"].pos["name"]] if parent else ""
                        rec["Name"] = f"{opp_name} {pbe[pt.pos['name']]}".strip()[:376]
            elif before is None and name == "OpportunityLineItem" and not rec.get("Product2Id"):
                raise SfError("REQUIRED_FIELD_MISSING", "Required fields are missing: [PricebookEntryId]", ["PricebookEntryId"])
            if rec.get("UnitPrice") is None and rec.get("TotalPrice") is not None and rec.get("Quantity"):
                rec["UnitPrice"] = rec["TotalPrice"] / rec["Quantity"]
            if rec.get("UnitPrice") is None:
                rec["UnitPrice"] = rec.get("ListPrice")
            if rec.get("UnitPrice") is not None and rec.get("Quantity") is not None:
                disc = rec.get("Discount") or 0.0
                rec["TotalPrice"] = round(rec["Quantity"] * rec["UnitPrice"] * (1 - disc / 100.0), 2)
                if name == "QuoteLineItem":
                    rec["Subtotal"] = round(rec["Quantity"] * rec["UnitPrice"], 2)
            if parent is not None:
                ptab = self.tables[parent_name]
                rec["CurrencyIsoCode"] = parent[ptab.pos["currencyisocode"]]
            if name == "QuoteLineItem" and not rec.get("LineNumber"):
                self.auto_numbers["QuoteLineItem"] += 1
                rec["LineNumber"] = f"{self.auto_numbers['QuoteLineItem']:010d}"
            if name == "OrderItem" and not rec.get("OrderItemNumber"):
                self.auto_numbers["OrderItem"] += 1
                rec["OrderItemNumber"] = f"{self.auto_numbers['OrderItem']:010d}"
        elif name == "PricebookEntry":
            prod = self.tables["Product2"].rows.get(rec.get("Product2Id"))
            if prod is not None:
                p = self.tables["Product2"].pos
                rec["Name"], rec["ProductCode"] = prod[p["name"]], prod[p["productcode"]]
        elif name == "Order":
            rec["StatusCode"] = rec.get("Status")
            if rec.get("Status") == "Activated" and not rec.get("ActivatedDate"):
                rec["ActivatedDate"] = fmt_dt(self.now())
            if not rec.get("OrderNumber"):
                self.auto_numbers["Order"] += 1
                rec["OrderNumber"] = f"{self.auto_numbers['Order']:08d}"
            if rec.get("TotalAmount") is None:
                rec["TotalAmount"] = 0.0
        elif name == "CampaignMember":
            rec["HasResponded"] = rec.get("Status") == "Responded"
            if rec["HasResponded"] and not rec.get("FirstRespondedDate"):
                rec["FirstRespondedDate"] = fmt_dt(self.now())[:10]
        elif name == "Pricebook2":
            rec.setdefault("IsStandard", False)
            if rec.get("IsStandard") is None:
                rec["IsStandard"] = False
        for f in t.obj.fields:
            if f.type == "boolean" and rec.get(f.name) is None:
                rec[f.name] = False

    def _after_write(self, t: Table, rec: dict, before: dict | None = None) -> None:
        name = t.obj.name
        if name in LINE_PARENTS:
            fk = LINE_PARENTS[name][1]
            self.rollup(rec[fk] if rec.get(fk) else None, name)

    def rollup(self, parent_id: str | None, child_name: str) -> None:
        """Recompute a parent's roll-up (Opportunity.Amount / Order.TotalAmount / Quote totals) like the platform does."""
        if not parent_id:
            return
        parent_name, parent_fk = LINE_PARENTS[child_name]
        pt, ct = self.tables[parent_name], self.tables[child_name]
        prow = pt.rows.get(parent_id)
        if prow is None:
            return
        fk = ct.pos[parent_fk.lower()]
        tp = ct.pos["totalprice"]
        lines = [r for r in ct.rows.values() if r[fk] == parent_id and not r[1]]
        rec = pt.to_dict(prow)
        if parent_name == "Opportunity":
            rec["HasOpportunityLineItem"] = bool(lines)
            if lines:
                rec["Amount"] = round(sum(r[tp] or 0.0 for r in lines), 2)
        elif parent_name == "Quote":
            sub = ct.pos["subtotal"]
            rec["Subtotal"] = round(sum(r[sub] or 0.0 for r in lines), 2)
            rec["TotalPrice"] = round(sum(r[tp] or 0.0 for r in lines), 2)
            rec["GrandTotal"] = round(rec["TotalPrice"] + (rec.get("Tax") or 0.0), 2)
        else:
            rec["TotalAmount"] = round(sum(r[tp] or 0.0 for r in lines), 2)
        # A roll-up is a system change: SystemModstamp moves, LastModifiedDate stays (doc §7).
        rec["SystemModstamp"] = fmt_dt(self.now())
        pt.put(pt.from_dict(rec))

    def bulk_load(self, obj_name: str, rows: Iterable[dict]) -> None:
        """Seed path: trusted, pre-derived records; no validation."""
        t = self.tables[obj_name]
        put = t.rows.__setitem__
        cols = t.cols
        for rec in rows:
            put(rec["Id"], tuple([rec.get(c) for c in cols]))


# Deleting a parent deletes these children (master-detail and the platform's cascade rules).
_CASCADE = {
    "Account": [("Contact", "AccountId"), ("Opportunity", "AccountId"), ("Order", "AccountId")],
    "Opportunity": [("OpportunityLineItem", "OpportunityId"), ("Quote", "OpportunityId")],
    "Quote": [("QuoteLineItem", "QuoteId")],
    "Order": [("OrderItem", "OrderId")],
    "Campaign": [("CampaignMember", "CampaignId")],
    "Product2": [("PricebookEntry", "Product2Id")],  # a product's prices go with it
}
