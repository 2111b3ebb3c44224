"""The transforms a declared recipe's fields name (`transform: truncate(50)`), in one place.

Each works on a column (pandas Series of staged text, None for absent) and returns one, so a
recipe's field is computed for every record at once. The names, their arguments and the kinds of
value they accept are the language's (config/declared.py `TRANSFORMS`); this module implements
exactly those (a test holds the two together). Normalisers are normalize.py's, not copies: a
phone, email, country or currency compares the same in a declared recipe as in R1.

Field sources that are not transforms of one field also live here: `template` ("{Name} ({City})"),
`constant` (value:) and `default` (written when the source is empty).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import pandas as pd

from ..config.declared import TRANSFORMS, FieldArg, parse_transform, template_fields
from . import fields, normalize
from .fields import inverse_mapper, value_mapper

Column = pd.Series
#: A field of the records being transformed → its values, aligned with the column transformed (by index).
Fields = Callable[[str], Column]


def _text(s: Column) -> Column:
    return normalize.v_text(s)


def _truncate(n: int) -> Callable[[Column], Column]:
    return lambda s: _text(s).map(lambda v: v[:n] if isinstance(v, str) else v).astype("object")


def _phone(region: str | FieldArg | None = None, default_country: str = "US", *,
           countries: dict[str, str] | None = None, field: Fields | None = None) -> Callable[[Column], Column]:
    if isinstance(region, FieldArg):
        # Each record's own country (a name or an ISO code, through mapping.value_maps.country), as R1
        # reads an Account's phone in its BillingCountry; none or unknown: default_country.
        regions = normalize.v_country(_text(_field(field, region)), countries)
        return lambda s: normalize.v_phone(s, regions.loc[s.index], default_country)
    return lambda s: normalize.v_phone(s, None, region or default_country)


def _field(field: Fields | None, arg: FieldArg) -> Column:
    if field is None:
        raise AssertionError(f"transform argument {{{arg.field}}} given no record to read it from")
    return field(arg.field)


def _parse_when(v) -> dt.datetime | dt.date | None:
    if v is None or (isinstance(v, float) and v != v):
        return None
    text = str(v).strip()
    if not text:
        return None
    if text.startswith("/Date("):  # Xero's MS date: /Date(1573755038314+0000)/
        millis = int(text[6:].split("+")[0].split("-")[0].rstrip(")/"))
        return dt.datetime.fromtimestamp(millis / 1000, dt.timezone.utc)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when


def _date(fmt: str | None = None) -> Callable[[Column], Column]:
    def apply(s: Column) -> Column:
        def one(v):
            when = _parse_when(v)
            if when is None:
                return None
            day = when.date() if isinstance(when, dt.datetime) else when
            return day.strftime(fmt) if fmt else day.isoformat()
        return s.map(one).astype("object")
    return apply


def _datetime(fmt: str | None = None) -> Callable[[Column], Column]:
    def apply(s: Column) -> Column:
        def one(v):
            when = _parse_when(v)
            if when is None:
                return None
            if isinstance(when, dt.datetime) and when.tzinfo is None:
                when = when.replace(tzinfo=dt.timezone.utc)
            return when.strftime(fmt) if fmt else when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return s.map(one).astype("object")
    return apply


def _money(dp: int = 2) -> Callable[[Column], Column]:
    # Decimal half-up (what Xero rounds amounts by), not float rounding: 2.675 → 2.68.
    quantum = Decimal(1).scaleb(-dp)

    def one(v):
        if v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip()):
            return None
        try:
            return float(Decimal(str(v).strip()).quantize(quantum, rounding=ROUND_HALF_UP))
        except InvalidOperation:
            return None
    return lambda s: s.map(one).astype("object")


def _number(s: Column) -> Column:
    n = pd.to_numeric(s, errors="coerce")
    return n.astype("object").where(n.notna(), None)


_TRUE, _FALSE = {"true", "t", "1", "yes", "y"}, {"false", "f", "0", "no", "n"}


def _bool(s: Column) -> Column:
    def one(v):
        if isinstance(v, bool):
            return v
        text = str(v).strip().lower() if v is not None else ""
        return True if text in _TRUE else False if text in _FALSE else None
    return s.map(one).astype("object")


def build(text: str, *, value_maps: dict[str, dict[str, str]] | None = None, default_country: str = "US",
          countries: dict[str, str] | None = None, field: Fields | None = None) -> Callable[[Column], Column]:
    """The column function of one transform as written in a declaration ("truncate(50)"); `field` reads
    the records' own fields that an argument names (`phone({BillingCountry})`)."""
    name, args = parse_transform(text)
    if name == "text":
        return _text
    if name == "upper":
        return lambda s: _text(s).str.upper().astype("object")
    if name == "lower":
        return lambda s: _text(s).str.lower().astype("object")
    if name == "truncate":
        return _truncate(*args)
    if name == "email":
        return normalize.v_email
    if name == "phone":
        return _phone(*args, default_country=default_country, countries=countries, field=field)
    if name == "country":
        return lambda s: normalize.v_country(_text(s), countries)
    if name == "currency":
        return lambda s: normalize.v_currency(_text(s))
    if name == "date":
        return _date(*args)
    if name == "datetime":
        return _datetime(*args)
    if name == "money":
        return _money(*args)
    if name == "number":
        return _number
    if name == "bool":
        return _bool
    if name == "map":
        return value_mapper((value_maps or {}).get(args[0]))
    raise AssertionError(f"transform {name} is in the catalogue but not implemented")  # test_every_transform


def options(mapping) -> dict:
    """The transforms' settings from `mapping:` (config/mapping.py): the value maps, the phone country
    when a record gives none, and the country names `value_maps.country` adds (as R1 reads them)."""
    return {"value_maps": mapping.value_maps, "default_country": mapping.default_phone_country,
            "countries": country_names(mapping)}


def country_names(mapping) -> dict[str, str]:
    return {k.strip().casefold(): v for k, v in mapping.value_maps.get("country", {}).items()}


def chain(texts: list[str], **kw) -> Callable[[Column], Column]:
    """Transforms applied in order; none: trimmed text (a blank value is absent)."""
    fns = [build(t, **kw) for t in texts] or [_text]

    def apply(s: Column) -> Column:
        for fn in fns:
            s = fn(s)
        return s
    return apply


#: Transforms a value brought back to Salesforce does not go through: a value map is inverted instead,
#: a truncated value is Xero's already, and a country stays as Xero spells it (as R5 writes it: a
#: Salesforce country picklist takes the name, not the ISO code).
_NOT_BACK = ("map", "truncate", "country")


def back(texts: list[str], *, value_maps: dict[str, dict[str, str]] | None = None, **kw) -> Callable[[Column], Column]:
    """Xero's value of a two-way field → the value written to its Salesforce field: in the form the
    field's transforms give (a phone in E.164, an email lowercased, a currency's ISO code), with its
    value maps inverted so Salesforce keeps its own words ("Great Britain", not "GB")."""
    forms = chain([t for t in texts if parse_transform(t)[0] not in _NOT_BACK], value_maps=value_maps, **kw)
    inverses = [inverse_mapper((value_maps or {}).get(args[0])) for name, args in map(parse_transform, reversed(texts))
                if name == "map"]

    def apply(s: Column) -> Column:
        s = forms(s)
        for inverse in inverses:
            s = inverse(s)
        return s
    return apply


def same_key(texts: list[str]) -> Callable[[Column], Column] | None:
    """What values of a field with these transforms compare by, when not themselves: a phone's digits (a
    number phonenumbers cannot read is kept as given, so "555-0100" and "555 0100" are one number), as
    R1 compares them (`fields.same_key`)."""
    return next(filter(None, (fields.same_key(name) for name, _ in map(parse_transform, texts))), None)


def template(text: str, columns: dict[str, Column], index) -> Column:
    """"{Name} ({BillingCity})" per record; a placeholder whose value is empty reads as nothing, and
    a result that is only the template's punctuation (every field empty) is absent."""
    names = template_fields(text)
    values = {n: _text(columns[n]).tolist() if n in columns else [None] * len(index) for n in names}
    out = []
    for i in range(len(index)):
        if all(values[n][i] is None for n in names):
            out.append(None)
            continue
        s = text
        for n in names:
            s = s.replace("{" + n + "}", values[n][i] or "")
        out.append(" ".join(s.split()) or None)
    return pd.Series(out, index=index, dtype="object")


def constant(value, index) -> Column:
    return pd.Series([value] * len(index), index=index, dtype="object")


def with_default(s: Column, default) -> Column:
    """`default` where the value is absent (None, NaN or blank text)."""
    if default is None:
        return s
    blank = s.isna() | s.map(lambda v: isinstance(v, str) and not v.strip())
    return s.astype("object").where(~blank, default)


#: Every transform the language names (a test checks `build` makes each).
NAMES = tuple(TRANSFORMS)
