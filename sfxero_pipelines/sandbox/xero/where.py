"""The subset of Xero's `where` and `order` query language that real integrations use.

`where`: comparisons `==`, `!=`, `>=`, `<=`, `>`, `<` between a dotted field path (`Contact.ContactID`)
and a literal (`"text"`, number, `true`/`false`, `null`, `DateTime(y,m,d[,h,mi,s])`, `Guid("…")`);
string methods `.Contains("x")`, `.StartsWith("x")`, `.EndsWith("x")`; `&&`/`AND`, `||`/`OR`, `!`/`NOT`,
parentheses; a bare boolean field (`IsSupplier`). Strings compare case-insensitively, as Xero does.
`order`: `Field [ASC|DESC][, Field2 …]`. A malformed expression raises `QueryError` (→ 400
QueryParseException, ErrorNumber 16).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .wire import parse_date_ms, to_ms

import datetime as dt


class QueryError(ValueError):
    pass


_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<op>==|!=|>=|<=|&&|\|\||>|<|!|\(|\)|,|\.)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""", re.X)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QueryError(f"unexpected character at position {pos}: {text[pos:pos + 10]!r}")
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "ident" and value.upper() in ("AND", "OR", "NOT"):
            kind, value = "op", {"AND": "&&", "OR": "||", "NOT": "!"}[value.upper()]
        tokens.append((kind, value))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


class _Date:
    __slots__ = ("ms",)

    def __init__(self, ms: int) -> None:
        self.ms = ms


class _Guid(str):
    pass


def _resolve(record: dict, path: list[str]):
    value = record
    for part in path:
        if not isinstance(value, dict):
            return None
        if part in value:
            value = value[part]
        else:
            # Field names are case-insensitive in Xero's query language.
            lowered = part.lower()
            value = next((v for k, v in value.items() if k.lower() == lowered), None)
    return value


def _norm(value, literal):
    """Bring a record value to the literal's type for comparison."""
    if isinstance(literal, _Date):
        if value is None:
            return None
        ms = parse_date_ms(value)
        return ms
    if isinstance(literal, bool):
        if isinstance(value, str):
            return value.lower() == "true"
        return value
    if isinstance(literal, (int, float)):
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None
    if isinstance(literal, str):
        return str(value).lower() if value is not None else None
    return value


def _lit_value(literal):
    if isinstance(literal, _Date):
        return literal.ms
    if isinstance(literal, bool):
        return literal
    if isinstance(literal, (int, float)):
        return float(literal)
    if isinstance(literal, str):
        return literal.lower()
    return literal


_CMP = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">=": lambda a, b: a is not None and b is not None and a >= b,
    "<=": lambda a, b: a is not None and b is not None and a <= b,
    ">": lambda a, b: a is not None and b is not None and a > b,
    "<": lambda a, b: a is not None and b is not None and a < b,
}
_FLIP = {"==": "==", "!=": "!=", ">=": "<=", "<=": ">=", ">": "<", "<": ">"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def take(self, value: str | None = None):
        tok = self.peek()
        if tok[0] is None or (value is not None and tok[1] != value):
            raise QueryError(f"expected {value or 'more input'} at token {self.i}")
        self.i += 1
        return tok

    def parse(self) -> Callable[[dict], bool]:
        fn = self.expr()
        if self.i != len(self.tokens):
            raise QueryError(f"unexpected {self.tokens[self.i][1]!r}")
        return fn

    def expr(self):
        left = self.conj()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.conj()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def conj(self):
        left = self.unary()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.unary()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def unary(self):
        if self.peek() == ("op", "!"):
            self.take()
            inner = self.unary()
            return lambda r: not inner(r)
        if self.peek() == ("op", "("):
            self.take()
            inner = self.expr()
            self.take(")")
            return inner
        return self.comparison()

    def literal(self):
        kind, value = self.peek()
        if kind == "str":
            self.take()
            return bytes(value[1:-1], "utf-8").decode("unicode_escape") if "\\" in value else value[1:-1]
        if kind == "num":
            self.take()
            return float(value)
        if kind == "ident":
            low = value.lower()
            if low in ("true", "false"):
                self.take()
                return low == "true"
            if low == "null":
                self.take()
                return None
            if low in ("datetime", "guid"):
                self.take()
                self.take("(")
                args = []
                while self.peek() != ("op", ")"):
                    args.append(self.literal())
                    if self.peek() == ("op", ","):
                        self.take()
                self.take(")")
                if low == "guid":
                    if len(args) != 1 or not isinstance(args[0], str):
                        raise QueryError("Guid() takes one string")
                    return _Guid(args[0].lower())
                try:
                    nums = [int(a) for a in args]
                    return _Date(to_ms(dt.datetime(*nums, tzinfo=dt.timezone.utc)))
                except (TypeError, ValueError) as exc:
                    raise QueryError(f"bad DateTime: {exc}") from None
        return _NOT_LITERAL

    def operand(self):
        lit = self.literal()
        if lit is not _NOT_LITERAL:
            return ("lit", lit)
        kind, value = self.take()
        if kind != "ident":
            raise QueryError(f"unexpected {value!r}")
        path = [value]
        method = None
        while self.peek() == ("op", "."):
            self.take()
            _, name = self.take()
            if self.peek() == ("op", "("):
                self.take("(")
                arg = None if self.peek() == ("op", ")") else self.literal()
                self.take(")")
                method = (name.lower(), arg)
                break
            path.append(name)
        return ("path", path, method)

    def comparison(self):
        left = self.operand()
        kind, op = self.peek()
        if kind == "op" and op in _CMP:
            self.take()
            right = self.operand()
            if left[0] == "lit" and right[0] == "path":
                left, right, op = right, left, _FLIP[op]
            if left[0] != "path" or right[0] != "lit":
                raise QueryError("a comparison needs a field and a literal")
            path, literal = left[1], right[1]
            cmp = _CMP[op]
            if literal is None:
                return lambda r: cmp(_resolve(r, path) in (None, ""), True)
            lit = _lit_value(literal)
            return lambda r: cmp(_norm(_resolve(r, path), literal), lit)
        if left[0] != "path":
            if isinstance(left[1], bool):
                return lambda r, _v=left[1]: _v
            raise QueryError("expected a condition")
        path, method = left[1], left[2]
        if method:
            name, arg = method
            if not isinstance(arg, str):
                raise QueryError(f"{name}() needs a string argument")
            needle = arg.lower()
            funcs = {"contains": lambda s: needle in s, "startswith": lambda s: s.startswith(needle),
                     "endswith": lambda s: s.endswith(needle)}
            if name not in funcs:
                raise QueryError(f"unsupported method {name}()")
            f = funcs[name]
            return lambda r: (lambda v: v is not None and f(str(v).lower()))(_resolve(r, path))
        return lambda r: (lambda v: v is True or (isinstance(v, str) and v.lower() == "true"))(_resolve(r, path))


_NOT_LITERAL = object()


def compile_where(text: str) -> Callable[[dict], bool]:
    return _Parser(text).parse()


def compile_order(text: str) -> list[tuple[list[str], bool]]:
    """[(path, descending)] from `Name ASC, UpdatedDateUTC DESC`."""
    keys = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", words[0]):
            raise QueryError(f"bad order clause {part.strip()!r}")
        desc = len(words) == 2 and words[1].upper() == "DESC"
        if len(words) == 2 and words[1].upper() not in ("ASC", "DESC"):
            raise QueryError(f"bad order direction {words[1]!r}")
        keys.append((words[0].split("."), desc))
    return keys


def sort_key(value):
    """Order values of mixed type: None first, MS dates by instant, strings case-insensitively."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        ms = parse_date_ms(value) if value.startswith("/Date(") else None
        if ms is not None:
            return (1, ms)
        return (2, value.lower())
    return (3, str(value))
