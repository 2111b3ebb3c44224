"""Normalisation used for matching and for comparing values across the two systems.

Matching keys are deliberately lossy (case, accents, punctuation, legal suffixes go). Transforms
whose output is *written* to the other system only canonicalise format, through the field's own
libraries, and never turn a value into a different one:

- Phones (`phonenumbers`): a number is read in the region of the record's country (the mapping's
  `default_phone_country` when the record has none, or one phonenumbers does not know) and written
  E.164 (a number written with 00 in a region that dials out with another prefix, as the US's 011,
  is still read as international). E.164 has no room for an extension, so one is kept after it as
  " ext. N" (libphonenumber's default wording, which it parses back). A number phonenumbers cannot
  parse, or parses to a number that is not valid, is written exactly as the source gave it
  (trimmed) and compares with the other side by its digits (`phone_key`): "555 0100" and
  "555-0100" stay in sync, and "06 1234 5678" in a record without a country never becomes a
  different number. Kept rather than held: it is the user's value, writing it back verbatim loses
  nothing, and holding the record for its phone would stop every other field of it from syncing.
- Countries (`pycountry`): ISO 3166-1 names, alpha-2/alpha-3/numeric codes and a small table of
  everyday spellings pycountry does not carry ("UK", "Deutschland", "Holland") give the alpha-2
  code; `mapping.value_maps.country` extends the table. An unknown name passes through trimmed,
  so it still compares and is written as given.
- Currencies (`pycountry`): an ISO 4217 code in any case gives the upper-case code; anything else
  passes through trimmed, as given, for Xero to accept or refuse.

Each rule has one implementation. Names, countries, currencies and phones are scalar functions
whose `v_*` form applies them once per distinct value of a column (phones once per distinct number
and region, cached: parsing is the costly step). Email, text and money exist only as pandas column
operations: nothing needs them per value, and the scalar email twin, no faster on the reconcile
bench, went.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import pandas as pd
import phonenumbers
import pycountry

# Legal-form suffixes stripped from the end of company names before name matching ("Acme Ltd" = "ACME, Inc.").
LEGAL_SUFFIXES = (
    "inc", "incorporated", "llc", "llp", "lp", "ltd", "limited", "plc", "corp", "corporation", "co", "company",
    "gmbh", "ag", "kg", "ug", "sarl", "sas", "sa", "srl", "spa", "bv", "nv", "oy", "ab", "as", "aps",
    "pty", "pty ltd", "kk", "株式会社", "有限会社",
)
_SUFFIX_RE = re.compile(r"(?:\s+(?:" + "|".join(sorted((re.escape(s) for s in LEGAL_SUFFIXES), key=len, reverse=True))
                        + r"))+$")
_PREFIX_JP = re.compile(r"^(?:株式会社|有限会社)\s*")
_PUNCT = re.compile(r"[^\w\s]+")
_JOINERS = re.compile(r"[.'\u2019`]")
_SPACES = re.compile(r"\s+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Everyday spellings of a country that pycountry's ISO 3166 names and codes do not carry (keys are
# case- and accent-folded, dots removed: "U.K." = "uk").
COUNTRY_ALIASES: dict[str, str] = {
    "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "america": "US", "united states": "US", "deutschland": "DE", "holland": "NL",
    "the netherlands": "NL", "nederland": "NL", "aotearoa": "NZ", "uae": "AE", "eire": "IE",
    "republic of ireland": "IE", "espana": "ES", "italia": "IT", "schweiz": "CH", "suisse": "CH",
    "svizzera": "CH", "osterreich": "AT", "belgique": "BE", "belgie": "BE", "sverige": "SE", "norge": "NO",
    "danmark": "DK", "suomi": "FI", "polska": "PL", "brasil": "BR", "russia": "RU", "turkey": "TR",
    "korea": "KR", "ivory coast": "CI", "macau": "MO", "brunei": "BN", "cape verde": "CV", "burma": "MM",
    "swaziland": "SZ", "macedonia": "MK", "vatican": "VA", "palestine": "PS", "nippon": "JP", "日本": "JP",
    "中国": "CN",
}
_DOTS = re.compile(r"\.")
# An E.164 number as norm_phone writes it (with its extension, if any).
_E164 = re.compile(r"^\+\d{1,15}(?: ext\. \d+)?$")
_NOT_DIGIT = re.compile(r"\D")


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip())


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def norm_name(value) -> str | None:
    """Matching key for a company name: unicode-folded, accents/case/punctuation/legal suffixes removed.

    "Müller GmbH" == "MULLER gmbh." == "Mu\u0308ller, GmbH"; "Acme, Inc." == "acme". Keeps only what
    tells companies apart, so two different companies that collide here become a conflict, never a guess.
    """
    if _blank(value):
        return None
    text = _fold(str(value)).casefold()
    text = text.replace("&", " and ")
    # Dots and apostrophes join ("S.A.R.L." = "SARL", "O'Neil" = "ONeil"); other punctuation separates.
    text = _JOINERS.sub("", text)
    text = _PUNCT.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    text = _PREFIX_JP.sub("", text)
    stripped = _SUFFIX_RE.sub("", text).strip()
    text = stripped or text  # a name that is only a suffix ("Limited") keeps itself
    return text or None


@functools.lru_cache(maxsize=4096)
def _iso_country(text: str) -> str | None:
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        pass
    key = _DOTS.sub("", _fold(text)).casefold()
    if key in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[key]
    try:
        return pycountry.countries.lookup(key).alpha_2
    except LookupError:
        return None


def norm_country(value, extra: dict[str, str] | None = None) -> str | None:
    """Country name or code → ISO 3166-1 alpha-2; an unknown name passes through trimmed (so it still
    compares, and is written as given). `extra` (casefolded name → code) is checked first."""
    if _blank(value):
        return None
    text = _SPACES.sub(" ", str(value).strip())
    if extra and text.casefold() in extra:
        return extra[text.casefold()]
    return _iso_country(text) or text


def norm_currency(value) -> str | None:
    """ISO 4217 code (any case) → upper-case code; anything else passes through trimmed, as given."""
    if _blank(value):
        return None
    text = str(value).strip()
    return text.upper() if pycountry.currencies.get(alpha_3=text.upper()) else text


def phone_region(country, default_country: str = "US") -> str:
    """The region a national-format number is read in: the record's ISO country when phonenumbers
    knows it, else the mapping's default."""
    code = country.strip().upper() if isinstance(country, str) else ""
    return code if code in phonenumbers.SUPPORTED_REGIONS else default_country


@functools.lru_cache(maxsize=1 << 16)
def _phone(text: str, region: str) -> str:
    # Parsing is the costly step and the same number recurs (both sides of a pair, echo checks).
    number = _valid_number(text, region)
    if number is None and text.startswith("00"):
        # "00" dials out of most countries but not of every region (US: 011); a number written
        # that way in a record of such a region is still meant as international.
        number = _valid_number("+" + text[2:], region)
    if number is None:
        return text
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164} ext. {number.extension}" if number.extension else e164


def _valid_number(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def norm_phone(value, country: str | None = None, default_country: str = "US") -> str | None:
    """E.164 ("+390612345678", with " ext. N" when the source has an extension) for a valid number;
    a number phonenumbers cannot read as valid comes back as the source gave it (trimmed).

    A number without an international prefix is read in the region of `country` (ISO alpha-2),
    or `default_country` when that is empty or not a region phonenumbers knows.
    """
    if _blank(value):
        return None
    return _phone(str(value).strip(), phone_region(country, default_country))


def phone_key(value) -> str | None:
    """What a normalised phone compares by: an E.164 value itself; a number kept as the source gave
    it by its digits (and its "+"), so differently punctuated copies of it are equal."""
    if _blank(value):
        return None
    text = str(value).strip()
    if _E164.match(text):
        return text
    return ("+" if text.startswith("+") else "") + _NOT_DIGIT.sub("", text)


# ---- column forms (pandas) ----------------------------------------------------------------------

def _distinct(s: pd.Series, rule) -> pd.Series:
    """`rule` applied once per distinct value of `s`; absent stays None."""
    uniq = pd.unique(s.dropna())
    return s.map({v: rule(v) for v in uniq}).astype("object").where(s.notna(), None)


def v_email(s: pd.Series) -> pd.Series:
    """Trimmed, lower-cased address; None when blank or not an address."""
    t = s.astype("str").str.strip().str.lower()
    ok = s.notna() & t.str.match(_EMAIL.pattern)
    return t.where(ok, None).astype("object").where(ok, None)


def v_name(s: pd.Series) -> pd.Series:
    # Names are only normalised for rows still unmatched after link/key/email, so this runs on a
    # small share of a large table.
    return _distinct(s, norm_name)


def v_country(s: pd.Series, extra: dict[str, str] | None = None) -> pd.Series:
    return _distinct(s, lambda v: norm_country(v, extra))


def v_currency(s: pd.Series) -> pd.Series:
    return _distinct(s, norm_currency)


def v_phone(s: pd.Series, country: pd.Series | None = None, default_country: str = "US") -> pd.Series:
    """norm_phone per row; `country` (ISO codes, aligned with `s`) gives each row's region."""
    if country is None:
        regions = [default_country] * len(s)
    else:
        regions = _distinct(country, lambda c: phone_region(c, default_country)).tolist()
    out = [norm_phone(v, r, default_country) for v, r in zip(s.astype("object"), regions)]
    return pd.Series(out, index=s.index, dtype="object")


def v_phone_key(s: pd.Series) -> pd.Series:
    return _distinct(s, phone_key)


def v_text(s: pd.Series) -> pd.Series:
    """Trimmed text; blank → None (Salesforce sends null, Xero sends "" for the same absence)."""
    t = s.astype("str").str.strip()
    ok = s.notna() & t.ne("")
    return t.astype("object").where(ok, None)


def v_money(s: pd.Series) -> pd.Series:
    """Rounded to cents; None when absent (0 and None differ: an unpaid invoice is 0, not unknown)."""
    n = pd.to_numeric(s, errors="coerce").round(2)
    return n.astype("object").where(n.notna(), None)
