"""A real SOQL subset: tokenizer, recursive-descent parser, binder (type checks) and evaluator.

Supported (as the real API documents it): field lists with relationship paths (`Account.Name`,
also deeper), compound address fields, `COUNT()` / `COUNT(field)`; WHERE with AND / OR / NOT and
parentheses (mixing AND and OR without parentheses is rejected, as Salesforce does);
`= != <> < <= > >=`, `IN` / `NOT IN`, `LIKE`, `= null` / `!= null`; unquoted date and datetime
literals and relative date literals (`TODAY`, `LAST_N_DAYS:n`, `THIS_MONTH`, ...); ORDER BY
with ASC/DESC and NULLS FIRST/LAST; LIMIT; OFFSET (max 2000).
Errors come back as `SfError` with Salesforce's codes: MALFORMED_QUERY (syntax), INVALID_TYPE
(unknown object), INVALID_FIELD (unknown field/relationship, wrong literal type, unfilterable
field), INVALID_QUERY_FILTER_OPERATOR (malformed id literal), NUMBER_OUTSIDE_VALID_RANGE (OFFSET).
Strings compare case-insensitively, as SOQL does; ids compare exactly.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .schema import NUMBER_TYPES, SObject
from .store import Org, SfError, Table, normalize_id, parse_dt

_TOKEN = re.compile(r"""
 (?P<ws>\s+)
|(?P<str>'(?:[^'\\]|\\.)*')
|(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
|(?P<date>\d{4}-\d{2}-\d{2})
|(?P<num>[+-]?\d+(?:\.\d+)?)
|(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
|(?P<op><=|>=|!=|<>|=|<|>)
|(?P<punct>[(),:])
""", re.X)

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}
_STRINGISH = {"string", "textarea", "picklist", "email", "phone", "url", "combobox", "multipicklist"}
_DATE_LITERALS = {
    "TODAY", "YESTERDAY", "TOMORROW", "LAST_WEEK", "THIS_WEEK", "NEXT_WEEK", "LAST_MONTH", "THIS_MONTH",
    "NEXT_MONTH", "LAST_90_DAYS", "NEXT_90_DAYS", "THIS_QUARTER", "LAST_QUARTER", "NEXT_QUARTER", "THIS_YEAR",
    "LAST_YEAR", "NEXT_YEAR", "THIS_FISCAL_YEAR", "LAST_FISCAL_YEAR", "THIS_FISCAL_QUARTER",
}
_DATE_LITERALS_N = {"LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "LAST_N_WEEKS", "NEXT_N_WEEKS", "LAST_N_MONTHS",
                    "NEXT_N_MONTHS", "LAST_N_YEARS", "NEXT_N_YEARS"}


@dataclass
class Tok:
    kind: str
    text: str
    pos: int

    @property
    def up(self) -> str:
        return self.text.upper()


def _error_at(soql: str, pos: int, detail: str, code: str = "MALFORMED_QUERY") -> SfError:
    # Salesforce echoes the query with a caret under the offending token.
    return SfError(code, f"\n{soql}\n{' ' * pos}^\nERROR at Row:1:Column:{pos + 1}\n{detail}")


def tokenize(soql: str) -> list[Tok]:
    out, i = [], 0
    while i < len(soql):
        m = _TOKEN.match(soql, i)
        if not m:
            if soql[i] == "'":
                raise _error_at(soql, i, "line 1:%d no viable alternative at character '''" % i)
            raise _error_at(soql, i, f"line 1:{i} no viable alternative at character '{soql[i]}'")
        kind = m.lastgroup
        if kind != "ws":
            out.append(Tok(kind, m.group(), i))
        i = m.end()
    out.append(Tok("eof", "<EOF>", len(soql)))
    return out


def _unescape(raw: str, soql: str, pos: int) -> str:
    body, out, i = raw[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in "%_":
                out.append("\\" + nxt)  # only meaningful to LIKE; kept escaped
            else:
                raise _error_at(soql, pos, f"Invalid string literal '{raw}'. Illegal character sequence '\\{nxt}' in string literal.")
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


# -- AST ---------------------------------------------------------------------------------------
@dataclass
class Value:
    kind: str  # str num bool null date datetime dlit
    value: Any
    pos: int
    n: int | None = None
    between_ms: bool = False  # a datetime literal with non-zero sub-millisecond digits


@dataclass
class Query:
    soql: str
    sobject: str
    sobject_pos: int
    fields: list[tuple[str, int]] = field(default_factory=list)
    count: bool = False
    count_field: tuple[str, int] | None = None
    where: Any = None
    order: list[tuple[str, int, bool, bool]] = field(default_factory=list)  # path, pos, desc, nulls_first
    limit: int | None = None
    offset: int | None = None
    features: set[str] = field(default_factory=set)


class Parser:
    def __init__(self, soql: str) -> None:
        self.soql = soql
        self.toks = tokenize(soql)
        self.i = 0

    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def fail(self, tok: Tok | None = None, detail: str | None = None) -> SfError:
        tok = tok or self.tok
        return _error_at(self.soql, tok.pos, detail or f"unexpected token: '{tok.text}'")

    def next(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def kw(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.up in words

    def expect_kw(self, word: str) -> Tok:
        if not self.kw(word):
            raise self.fail()
        return self.next()

    def expect(self, kind: str, text: str | None = None) -> Tok:
        t = self.tok
        if t.kind != kind or (text is not None and t.text != text):
            raise self.fail()
        return self.next()

    def parse(self) -> Query:
        self.expect_kw("SELECT")
        q = Query(self.soql, "", 0)
        if self.kw("COUNT") and self.toks[self.i + 1].text == "(":
            self.next(), self.next()
            if self.tok.kind == "ident":
                t = self.next()
                q.count_field = (t.text, t.pos)
                q.features.add("aggregate")
            else:
                q.count = True
            self.expect("punct", ")")
        else:
            while True:
                t = self.tok
                if t.kind != "ident" or t.up in ("FROM",):
                    raise self.fail()
                if self.toks[self.i + 1].text == "(":
                    raise self.fail(t, f"unexpected token: '{t.text}('" if t.up != "FIELDS" else
                                    "FIELDS() is not supported by this org's API version")
                self.next()
                q.fields.append((t.text, t.pos))
                if self.tok.text == ",":
                    self.next()
                    continue
                break
        self.expect_kw("FROM")
        t = self.tok
        if t.kind != "ident" or "." in t.text:
            raise self.fail()
        self.next()
        q.sobject, q.sobject_pos = t.text, t.pos
        if self.kw("WHERE"):
            self.next()
            q.where = self.condition()
        if self.kw("GROUP"):
            raise self.fail(detail="GROUP BY is not supported by the sandbox org")
        if self.kw("ORDER"):
            self.next()
            self.expect_kw("BY")
            while True:
                t = self.tok
                if t.kind != "ident":
                    raise self.fail()
                self.next()
                desc, nulls_first = False, None
                if self.kw("ASC", "DESC"):
                    desc = self.next().up == "DESC"
                if self.kw("NULLS"):
                    self.next()
                    if not self.kw("FIRST", "LAST"):
                        raise self.fail()
                    nulls_first = self.next().up == "FIRST"
                q.order.append((t.text, t.pos, desc, (not desc) if nulls_first is None else nulls_first))
                if self.tok.text == ",":
                    self.next()
                    continue
                break
        if self.kw("LIMIT"):
            self.next()
            t = self.tok
            if t.kind != "num" or not t.text.isdigit():
                raise self.fail()
            q.limit = int(self.next().text)
        if self.kw("OFFSET"):
            self.next()
            t = self.tok
            if t.kind != "num" or not t.text.isdigit():
                raise self.fail()
            q.offset = int(self.next().text)
            if q.offset > 2000:
                raise SfError("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
        if self.tok.kind != "eof":
            raise self.fail()
        return q

    # condition := and_or_chain ; mixing AND/OR at one level is a syntax error in SOQL
    def condition(self):
        first = self.unary()
        if not self.kw("AND", "OR"):
            return first
        joiner = self.tok.up
        items = [first]
        while self.kw("AND", "OR"):
            if self.tok.up != joiner:
                raise self.fail()
            self.next()
            items.append(self.unary())
        return (joiner.lower(), items)

    def unary(self):
        if self.kw("NOT"):
            self.next()
            return ("not", self.unary())
        if self.tok.text == "(":
            self.next()
            inner = self.condition()
            self.expect("punct", ")")
            return inner
        return self.predicate()

    def predicate(self):
        t = self.tok
        if t.kind != "ident" or t.up in ("AND", "OR", "NOT"):
            raise self.fail()
        self.next()
        path = (t.text, t.pos)
        if self.tok.kind == "op":
            op = self.next().text
            op = "!=" if op == "<>" else op
            return ("cmp", path, op, self.value())
        negate = False
        if self.kw("NOT"):
            self.next()
            negate = True
            if not self.kw("IN"):
                raise self.fail()
        if self.kw("IN"):
            self.next()
            self.expect("punct", "(")
            if self.kw("SELECT"):
                raise self.fail(detail="semi-join sub-selects are not supported by the sandbox org")
            values = [self.value()]
            while self.tok.text == ",":
                self.next()
                values.append(self.value())
            self.expect("punct", ")")
            return ("in", path, negate, values)
        if self.kw("LIKE"):
            self.next()
            v = self.value()
            if v.kind != "str":
                raise self.fail()
            return ("like", path, v)
        if self.kw("INCLUDES", "EXCLUDES"):
            raise self.fail(detail="INCLUDES/EXCLUDES apply only to multi-select picklists")
        raise self.fail()

    def value(self) -> Value:
        t = self.tok
        if t.kind == "str":
            self.next()
            return Value("str", _unescape(t.text, self.soql, t.pos), t.pos)
        if t.kind == "num":
            self.next()
            return Value("num", float(t.text), t.pos)
        if t.kind == "date":
            self.next()
            try:
                dt.date.fromisoformat(t.text)
            except ValueError:
                raise self.fail(t, f"line 1:{t.pos} no viable alternative at character '{t.text}'") from None
            return Value("date", t.text, t.pos)
        if t.kind == "datetime":
            self.next()
            stored = parse_dt(t.text)
            if stored is None:
                raise self.fail(t)
            # Stored values carry milliseconds; a literal with non-zero digits past them lies strictly
            # between two stored instants, which the comparison must honour (`>= x.511000Z` == `>= x.511Z`).
            frac = re.search(r"\.(\d+)", t.text)
            return Value("datetime", stored, t.pos, between_ms=bool(frac and frac.group(1)[3:].strip("0")))
        if t.kind == "ident":
            up = t.up
            if up in ("TRUE", "FALSE"):
                self.next()
                return Value("bool", up == "TRUE", t.pos)
            if up == "NULL":
                self.next()
                return Value("null", None, t.pos)
            if up in _DATE_LITERALS:
                self.next()
                return Value("dlit", up, t.pos)
            if up in _DATE_LITERALS_N:
                self.next()
                if self.tok.text != ":":
                    raise self.fail()
                self.next()
                n = self.tok
                if n.kind != "num" or not n.text.isdigit():
                    raise self.fail()
                self.next()
                return Value("dlit", up, t.pos, int(n.text))
        raise self.fail()


def parse(soql: str) -> Query:
    return Parser(soql).parse()


# -- binding -----------------------------------------------------------------------------------
@dataclass
class Path:
    """A resolved field path: a chain of lookups then a field on the last object."""
    hops: list[tuple[int, Table, str]]  # (index of the reference field, target table, relationship name)
    table: Table
    fname: str
    ftype: str
    index: int | None  # None for compound address fields
    parts: list[tuple[str, int]] | None = None  # compound: (key, index)

    def accessor(self) -> Callable[[tuple], Any]:
        idx = self.index
        if self.parts is not None:
            parts = self.parts

            def leaf(r):
                vals = {k: r[i] for k, i in parts}
                if all(v is None for v in vals.values()):
                    return None
                vals.update({"geocodeAccuracy": None, "latitude": None, "longitude": None})
                return vals
        else:
            def leaf(r):
                return r[idx]
        if not self.hops:
            return leaf
        hops = [(i, t.rows) for i, t, _ in self.hops]

        def walk(r):
            for i, rows in hops:
                ref = r[i]
                if ref is None:
                    return None
                r = rows.get(ref)
                if r is None:
                    return None
            return leaf(r)
        return walk


def _invalid_field(q: Query, pos: int, name: str, obj: SObject) -> SfError:
    return _error_at(q.soql, pos, f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use "
                     "a custom field, be sure to append the '__c' after the custom field name. Please reference "
                     "your WSDL or the describe call for the appropriate names.", "INVALID_FIELD")


def resolve(org: Org, q: Query, table: Table, text: str, pos: int) -> Path:
    parts = text.split(".")
    hops = []
    t = table
    # Salesforce accepts the object name as a leading qualifier: `Account.Name` FROM Account.
    if len(parts) > 1 and parts[0].lower() == t.obj.name.lower() and t.obj.relationships.get(parts[0].lower()) is None:
        parts = parts[1:]
    for rel in parts[:-1]:
        f = t.obj.relationships.get(rel.lower())
        if f is None:
            raise _error_at(q.soql, pos, f"Didn't understand relationship '{rel}' in field path. If you are attempting "
                            "to use a custom relationship, be sure to append the '__r' after the custom relationship "
                            "name. Please reference your WSDL or the describe call for the appropriate names.",
                            "INVALID_FIELD")
        target = org.tables[f.reference_to]
        hops.append((t.pos[f.name.lower()], target, f.relationship_name))
        t = target
    f = t.obj.field(parts[-1])
    if f is None:
        raise _invalid_field(q, pos, parts[-1], t.obj)
    if f.type == "address":
        subs = [(k, t.pos[(f.name.replace("Address", "") + suffix).lower()])
                for k, suffix in (("street", "Street"), ("city", "City"), ("state", "State"),
                                  ("postalCode", "PostalCode"), ("country", "Country"))]
        return Path(hops, t, f.name, f.type, None, subs)
    return Path(hops, t, f.name, f.type, t.pos[f.name.lower()])


def _type_error(q: Query, v: Value, p: Path) -> SfError:
    if p.ftype in _STRINGISH or p.ftype in ("id", "reference"):
        what = "must be of type string and should be enclosed in quotes"
    elif p.ftype in NUMBER_TYPES:
        what = f"must be of type {'integer' if p.ftype == 'int' else 'double'} and should not be enclosed in quotes"
    elif p.ftype == "datetime":
        what = "must be of type dateTime and should not be enclosed in quotes"
    else:
        what = f"must be of type {p.ftype} and should not be enclosed in quotes"
    return _error_at(q.soql, v.pos, f"value of filter criterion for field '{p.fname}' {what}", "INVALID_FIELD")


def _day(d: dt.date) -> str:
    return d.isoformat()


def date_range(name: str, n: int | None, today: dt.date) -> tuple[str, str]:
    """A relative date literal as a half-open [start, end) range of ISO dates."""
    one = dt.timedelta(days=1)
    if name == "TODAY":
        s, e = today, today + one
    elif name == "YESTERDAY":
        s, e = today - one, today
    elif name == "TOMORROW":
        s, e = today + one, today + 2 * one
    elif name in ("THIS_WEEK", "LAST_WEEK", "NEXT_WEEK"):
        start = today - dt.timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday (en_US)
        shift = {"THIS_WEEK": 0, "LAST_WEEK": -7, "NEXT_WEEK": 7}[name]
        s = start + dt.timedelta(days=shift)
        e = s + 7 * one
    elif name in ("THIS_MONTH", "LAST_MONTH", "NEXT_MONTH"):
        shift = {"THIS_MONTH": 0, "LAST_MONTH": -1, "NEXT_MONTH": 1}[name]
        m = today.year * 12 + today.month - 1 + shift
        s = dt.date(m // 12, m % 12 + 1, 1)
        e = dt.date((m + 1) // 12, (m + 1) % 12 + 1, 1)
    elif name in ("THIS_QUARTER", "LAST_QUARTER", "NEXT_QUARTER", "THIS_FISCAL_QUARTER"):
        shift = {"LAST_QUARTER": -3, "NEXT_QUARTER": 3}.get(name, 0)
        m = today.year * 12 + (today.month - 1) // 3 * 3 + shift
        s = dt.date(m // 12, m % 12 + 1, 1)
        e = dt.date((m + 3) // 12, (m + 3) % 12 + 1, 1)
    elif name in ("THIS_YEAR", "THIS_FISCAL_YEAR"):
        s, e = dt.date(today.year, 1, 1), dt.date(today.year + 1, 1, 1)
    elif name in ("LAST_YEAR", "LAST_FISCAL_YEAR"):
        s, e = dt.date(today.year - 1, 1, 1), dt.date(today.year, 1, 1)
    elif name == "NEXT_YEAR":
        s, e = dt.date(today.year + 1, 1, 1), dt.date(today.year + 2, 1, 1)
    elif name in ("LAST_90_DAYS", "LAST_N_DAYS"):
        # Salesforce: starts with the current day and continues for the past n days.
        s, e = today - dt.timedelta(days=90 if n is None else n), today + one
    elif name in ("NEXT_90_DAYS", "NEXT_N_DAYS"):
        s = today + one
        e = s + dt.timedelta(days=90 if n is None else n)
    elif name == "N_DAYS_AGO":
        s = today - dt.timedelta(days=n)
        e = s + one
    elif name in ("LAST_N_WEEKS", "NEXT_N_WEEKS"):
        start = today - dt.timedelta(days=(today.weekday() + 1) % 7)
        if name == "LAST_N_WEEKS":
            s, e = start - dt.timedelta(weeks=n), start
        else:
            s, e = start + dt.timedelta(weeks=1), start + dt.timedelta(weeks=1 + n)
    elif name in ("LAST_N_MONTHS", "NEXT_N_MONTHS", "LAST_N_YEARS", "NEXT_N_YEARS"):
        months = n * (12 if "YEARS" in name else 1)
        if "YEARS" in name:
            base = today.year * 12
        else:
            base = today.year * 12 + today.month - 1
        if name.startswith("LAST"):
            a, b = base - months, base
        else:
            step = 12 if "YEARS" in name else 1
            a, b = base + step, base + step + months
        s, e = dt.date(a // 12, a % 12 + 1, 1), dt.date(b // 12, b % 12 + 1, 1)
    else:  # pragma: no cover - the parser only admits the names above
        raise SfError("MALFORMED_QUERY", f"unsupported date literal {name}")
    return _day(s), _day(e)


def _like_regex(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z", re.S | re.I)


class Plan:
    """A bound query, ready to run against the org."""

    def __init__(self, org: Org, q: Query, now: dt.datetime) -> None:
        self.q = q
        obj = org.schema.sobject(q.sobject)
        if obj is None:
            raise _error_at(q.soql, q.sobject_pos, f"sObject type '{q.sobject}' is not supported. If you are "
                            "attempting to use a custom object, be sure to append the '__c' after the entity name. "
                            "Please reference your WSDL or the describe call for the appropriate names.",
                            "INVALID_TYPE")
        self.org, self.table, self.obj = org, org.tables[obj.name], obj
        self.today = now.date()
        self.paths: list[Path] = []
        seen = set()
        for text, pos in q.fields:
            p = resolve(org, q, self.table, text, pos)
            key = (tuple(h[2] for h in p.hops), p.fname)
            if key in seen:
                raise _error_at(q.soql, pos, f"duplicate field selected: {text}")
            seen.add(key)
            self.paths.append(p)
        self.count_path = resolve(org, q, self.table, *q.count_field) if q.count_field else None
        self.pred = self._compile(q.where) if q.where is not None else None
        self.order = []
        for text, pos, desc, nulls_first in q.order:
            p = resolve(org, q, self.table, text, pos)
            if p.ftype == "address" or (p.ftype == "textarea" and self._long(p)):
                raise _error_at(q.soql, pos, f"field '{p.fname}' can not be sorted in a query call", "INVALID_FIELD")
            self.order.append((p, desc, nulls_first))
        self.tree = self._build_tree()
        self.accessors = [p.accessor() for p in self.paths]

    @staticmethod
    def _long(p: Path) -> bool:
        f = p.table.obj.field(p.fname)
        return f is not None and f.length > 255

    # -- predicates ------------------------------------------------------------------------------
    def _compile(self, node) -> Callable[[tuple], bool]:
        kind = node[0]
        if kind == "and":
            preds = [self._compile(n) for n in node[1]]
            return lambda r: all(p(r) for p in preds)
        if kind == "or":
            preds = [self._compile(n) for n in node[1]]
            return lambda r: any(p(r) for p in preds)
        if kind == "not":
            inner = self._compile(node[1])
            return lambda r: not inner(r)
        (text, pos) = node[1]
        p = resolve(self.org, self.q, self.table, text, pos)
        if p.ftype == "address" or (p.ftype == "textarea" and self._long(p)):
            raise _error_at(self.q.soql, pos, f"field '{p.fname}' can not be filtered in query call", "INVALID_FIELD")
        get = p.accessor()
        if kind == "cmp":
            return self._cmp(p, get, node[2], node[3])
        if kind == "in":
            negate = node[2]
            lits = [self._literal(p, v, "=") for v in node[3] if not v.between_ms]
            has_null = any(lit is None for lit in lits)
            if p.ftype in _STRINGISH:
                members = {lit.casefold() for lit in lits if lit is not None}
                norm = str.casefold
            else:
                members = {lit for lit in lits if lit is not None}
                norm = None

            def pred_in(r):
                v = get(r)
                if v is None:
                    hit = has_null
                else:
                    hit = (norm(v) if norm else v) in members
                return hit != negate
            return pred_in
        if kind == "like":
            if p.ftype not in _STRINGISH and p.ftype not in ("id", "reference"):
                raise _error_at(self.q.soql, node[2].pos, f"invalid operator on field '{p.fname}' of type {p.ftype}",
                                "INVALID_FIELD")
            rx = _like_regex(node[2].value)
            return lambda r: (v := get(r)) is not None and rx.match(v) is not None
        raise AssertionError(kind)

    def _literal(self, p: Path, v: Value, op: str):
        t = p.ftype
        if v.kind == "null":
            return None
        if v.kind == "dlit":
            if t not in ("date", "datetime"):
                raise _type_error(self.q, v, p)
            return date_range(v.value, v.n, self.today)
        if t in ("id", "reference"):
            if v.kind != "str":
                raise _type_error(self.q, v, p)
            nid = normalize_id(v.value)
            if nid is None:
                raise SfError("INVALID_QUERY_FILTER_OPERATOR", f"\n{self.q.soql}\n{' ' * v.pos}^\nERROR at Row:1:Column:"
                              f"{v.pos + 1}\ninvalid ID field: {v.value}")
            return nid
        if t in _STRINGISH:
            if v.kind != "str":
                raise _type_error(self.q, v, p)
            return v.value
        if t in NUMBER_TYPES:
            if v.kind != "num":
                raise _type_error(self.q, v, p)
            return v.value
        if t == "boolean":
            if v.kind != "bool":
                raise _type_error(self.q, v, p)
            return v.value
        if t == "date":
            if v.kind != "date":
                raise _type_error(self.q, v, p)
            return v.value
        if t == "datetime":
            if v.kind != "datetime":
                raise _type_error(self.q, v, p)
            return v.value
        raise _type_error(self.q, v, p)

    def _cmp(self, p: Path, get, op: str, v: Value):
        lit = self._literal(p, v, op)
        if lit is None:
            if op == "=":
                return lambda r: get(r) is None
            if op == "!=":
                return lambda r: get(r) is not None
            return lambda r: False
        if isinstance(lit, tuple):  # relative date literal: [start, end)
            start, end = lit
            if p.ftype == "datetime":
                start, end = start + "T00:00:00.000+0000", end + "T00:00:00.000+0000"
            if op == "=":
                return lambda r: (x := get(r)) is not None and start <= x < end
            if op == "!=":
                return lambda r: (x := get(r)) is None or not (start <= x < end)
            if op == "<":
                return lambda r: (x := get(r)) is not None and x < start
            if op == "<=":
                return lambda r: (x := get(r)) is not None and x < end
            if op == ">":
                return lambda r: (x := get(r)) is not None and x >= end
            return lambda r: (x := get(r)) is not None and x >= start
        if v.between_ms:
            # The literal is floor + a fraction of a millisecond: no stored value equals it,
            # `>`/`>=` mean "after floor", `<`/`<=` mean "at or before floor".
            if op == "=":
                return lambda r: False
            if op == "!=":
                return lambda r: True
            if op in (">", ">="):
                return lambda r: (x := get(r)) is not None and x > lit
            return lambda r: (x := get(r)) is not None and x <= lit
        if p.ftype in _STRINGISH:
            lit = lit.casefold()
            key = str.casefold
        else:
            key = None
        if p.ftype == "boolean" and op not in ("=", "!="):
            raise _error_at(self.q.soql, v.pos, f"invalid operator on boolean field '{p.fname}'", "INVALID_FIELD")
        import operator as _op
        fn = {"=": _op.eq, "!=": _op.ne, "<": _op.lt, "<=": _op.le, ">": _op.gt, ">=": _op.ge}[op]
        if op == "!=":
            if key:
                return lambda r: (x := get(r)) is None or key(x) != lit
            return lambda r: (x := get(r)) is None or x != lit
        if key:
            return lambda r: (x := get(r)) is not None and fn(key(x), lit)
        return lambda r: (x := get(r)) is not None and fn(x, lit)

    # -- execution -------------------------------------------------------------------------------
    def run(self, include_deleted: bool) -> list[tuple]:
        """Matching rows, ordered, with OFFSET/LIMIT applied."""
        rows = self.table.rows.values()
        include_deleted = include_deleted and self.obj.recycle_bin
        pred = self.pred
        if pred is None:
            out = list(rows) if include_deleted else [r for r in rows if not r[1]]
        elif include_deleted:
            out = [r for r in rows if pred(r)]
        else:
            out = [r for r in rows if not r[1] and pred(r)]
        for p, desc, nulls_first in reversed(self.order):
            get = p.accessor()
            null_rank = 0 if nulls_first != desc else 2
            fold = p.ftype in _STRINGISH

            def key(r, get=get, null_rank=null_rank, fold=fold):
                v = get(r)
                if v is None:
                    return (null_rank, "")
                return (1, v.casefold() if fold else v)
            out.sort(key=key, reverse=desc)
        if self.q.offset:
            out = out[self.q.offset:]
        if self.q.limit is not None:
            out = out[:self.q.limit]
        return out

    def _build_tree(self):
        # Nest relationship fields the way the REST API does: {"Account": {"attributes":..., "Name": ...}}
        root: dict = {"fields": [], "children": {}}
        for p in self.paths:
            node = root
            for idx, target, rel in p.hops:
                if rel not in node["children"]:
                    child = {"fields": [], "children": {}, "ref": idx, "table": target}
                    node["children"][rel] = child
                    node["fields"].append(("rel", rel, child))
                node = node["children"][rel]
            if p.parts is not None:
                node["fields"].append(("addr", p.fname, Path([], p.table, p.fname, p.ftype, None, p.parts).accessor()))
            else:
                node["fields"].append(("f", p.fname, p.index))
        return root

    def render(self, row: tuple, version: str) -> dict:
        return _render(self.tree, self.table, row, version)

    def csv_columns(self) -> list[str]:
        return [".".join([h[2] for h in p.hops] + [p.fname]) for p in self.paths]

    def csv_row(self, row: tuple) -> list:
        return [get(row) for get in self.accessors]


def _render(node: dict, table: Table, row: tuple, version: str) -> dict:
    name = table.obj.name
    rec = {"attributes": {"type": name, "url": f"/services/data/v{version}/sobjects/{name}/{row[0]}"}}
    for kind, key, arg in node["fields"]:
        if kind == "f":
            rec[key] = row[arg]
        elif kind == "addr":
            rec[key] = arg(row)
        else:
            parent = arg["table"].rows.get(row[arg["ref"]]) if row[arg["ref"]] else None
            rec[key] = _render(arg, arg["table"], parent, version) if parent is not None else None
    return rec
