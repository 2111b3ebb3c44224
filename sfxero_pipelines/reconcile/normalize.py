"""Normalisation used for matching and for comparing values across the two systems.

Each rule exists as a scalar function (tests, small inputs) and a vectorised pandas version (the
1M-row path); both must agree, which the tests check. Matching keys are deliberately lossy (case,
accents, punctuation, legal suffixes go) while transforms that produce values to *write*
(E.164 phones, ISO country codes) only canonicalise format.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

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

# Country names (and common variants) → ISO 3166-1 alpha-2; `mapping.value_maps.country` extends it.
COUNTRY_ISO: dict[str, str] = {
    "united states": "US", "united states of america": "US", "usa": "US", "us": "US", "america": "US",
    "united kingdom": "GB", "uk": "GB", "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "gb": "GB", "germany": "DE", "deutschland": "DE", "de": "DE", "france": "FR", "fr": "FR",
    "australia": "AU", "au": "AU", "new zealand": "NZ", "nz": "NZ", "aotearoa": "NZ", "japan": "JP", "jp": "JP",
    "canada": "CA", "ca": "CA", "ireland": "IE", "ie": "IE", "netherlands": "NL", "the netherlands": "NL",
    "holland": "NL", "nl": "NL", "spain": "ES", "es": "ES", "italy": "IT", "it": "IT", "switzerland": "CH",
    "ch": "CH", "austria": "AT", "at": "AT", "belgium": "BE", "be": "BE", "sweden": "SE", "se": "SE",
    "norway": "NO", "no": "NO", "denmark": "DK", "dk": "DK", "finland": "FI", "fi": "FI", "singapore": "SG",
    "sg": "SG", "south africa": "ZA", "za": "ZA", "india": "IN", "in": "IN", "mexico": "MX", "mx": "MX",
    "brazil": "BR", "br": "BR", "portugal": "PT", "pt": "PT", "poland": "PL", "pl": "PL",
    "hong kong": "HK", "hk": "HK", "china": "CN", "cn": "CN", "united arab emirates": "AE", "uae": "AE",
}
# ISO country → international calling code, for phone numbers written without one.
CALLING_CODES: dict[str, str] = {
    "US": "1", "CA": "1", "GB": "44", "DE": "49", "FR": "33", "AU": "61", "NZ": "64", "JP": "81", "IE": "353",
    "NL": "31", "ES": "34", "IT": "39", "CH": "41", "AT": "43", "BE": "32", "SE": "46", "NO": "47", "DK": "45",
    "FI": "358", "SG": "65", "ZA": "27", "IN": "91", "MX": "52", "BR": "55", "PT": "351", "PL": "48",
    "HK": "852", "CN": "86", "AE": "971",
}


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip())


def norm_email(value) -> str | None:
    """Trimmed, lower-cased address; None when blank or not an address."""
    if _blank(value):
        return None
    email = str(value).strip().lower()
    return email if _EMAIL.match(email) else None


def norm_name(value) -> str | None:
    """Matching key for a company name: unicode-folded, accents/case/punctuation/legal suffixes removed.

    "Müller GmbH" == "MULLER gmbh." == "Mu\u0308ller, GmbH"; "Acme, Inc." == "acme". Keeps only what
    tells companies apart, so two different companies that collide here become a conflict, never a guess.
    """
    if _blank(value):
        return None
    text = unicodedata.normalize("NFKD", str(value))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.replace("&", " and ")
    # Dots and apostrophes join ("S.A.R.L." = "SARL", "O'Neil" = "ONeil"); other punctuation separates.
    text = _JOINERS.sub("", text)
    text = _PUNCT.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    text = _PREFIX_JP.sub("", text)
    stripped = _SUFFIX_RE.sub("", text).strip()
    text = stripped or text  # a name that is only a suffix ("Limited") keeps itself
    return text or None


def norm_country(value, extra: dict[str, str] | None = None) -> str | None:
    """Country name or code → ISO alpha-2 (unknown names pass through trimmed, so they still compare)."""
    if _blank(value):
        return None
    key = _SPACES.sub(" ", str(value).strip().casefold())
    if extra and key in extra:
        return extra[key]
    return COUNTRY_ISO.get(key, str(value).strip())


def norm_phone(value, country: str | None = None, default_country: str = "US") -> str | None:
    """E.164 (+<country code><number>) without a phone library: handles +, 00 and trunk-0 forms.

    A number with no international prefix takes the calling code of `country` (ISO) or
    `default_country`. Returns None for blanks and for strings with fewer than 6 digits.
    """
    if _blank(value):
        return None
    text = str(value).strip()
    digits = re.sub(r"\D", "", text)
    if len(digits) < 6:
        return None
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    code = CALLING_CODES.get((country or default_country or "").upper(), CALLING_CODES.get(default_country, "1"))
    if code == "1" and len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return "+" + code + digits.lstrip("0")


# ---- vectorised versions (same results as the scalar ones) -------------------------------------

def _strs(s: pd.Series) -> pd.Series:
    out = s.astype("object").where(s.notna(), None)
    return out.map(lambda v: v if isinstance(v, str) else (None if v is None else str(v)))


def v_email(s: pd.Series) -> pd.Series:
    t = s.astype("str").str.strip().str.lower()
    ok = s.notna() & t.str.match(_EMAIL.pattern)
    return t.where(ok, None).astype("object").where(ok, None)


def v_name(s: pd.Series) -> pd.Series:
    # Unicode folding has no vectorised form; names are only normalised for rows still unmatched
    # after link/key/email, so this runs on a small share of a large table. Unique values only.
    uniq = pd.unique(s.dropna())
    mapping = {v: norm_name(v) for v in uniq}
    return s.map(mapping).astype("object").where(s.notna(), None)


def v_country(s: pd.Series, extra: dict[str, str] | None = None) -> pd.Series:
    uniq = pd.unique(s.dropna())
    mapping = {v: norm_country(v, extra) for v in uniq}  # few distinct countries: cheap
    return s.map(mapping).astype("object").where(s.notna(), None)


def v_phone(s: pd.Series, country: pd.Series | None = None, default_country: str = "US") -> pd.Series:
    present = s.notna()
    text = s.astype("str").str.strip()
    digits = text.str.replace(r"\D", "", regex=True)
    plus = text.str.startswith("+")
    dbl = ~plus & digits.str.startswith("00")
    if country is None:
        iso = pd.Series(default_country, index=s.index)
    else:
        iso = country.astype("str").str.upper().where(country.notna(), default_country)
    code = iso.map(CALLING_CODES).fillna(CALLING_CODES.get(default_country, "1"))
    nanp = ~plus & ~dbl & code.eq("1") & digits.str.len().eq(11) & digits.str.startswith("1")
    national = "+" + code + digits.str.lstrip("0")
    out = national.where(~nanp, "+" + digits)
    out = out.where(~dbl, "+" + digits.str.slice(2))
    out = out.where(~plus, "+" + digits)
    ok = present & digits.str.len().ge(6) & text.ne("")
    return out.astype("object").where(ok, None)


def v_text(s: pd.Series) -> pd.Series:
    """Trimmed text; blank → None (Salesforce sends null, Xero sends "" for the same absence)."""
    t = s.astype("str").str.strip()
    ok = s.notna() & t.ne("")
    return t.astype("object").where(ok, None)


def v_money(s: pd.Series) -> pd.Series:
    """Rounded to cents; None when absent (0 and None differ: an unpaid invoice is 0, not unknown)."""
    n = pd.to_numeric(s, errors="coerce").round(2)
    return n.astype("object").where(n.notna(), None)
