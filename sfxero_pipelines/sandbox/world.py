"""One deterministic world of customers and products that both emulators seed from.

The Salesforce org and the Xero organisation must describe the same companies the way real ones do:
most customers exist in both, some in Xero under a slightly different name or email, some only in
Xero; and the messy cases users really have (duplicate-looking accounts, missing emails, unicode and
very long names, zero-amount and multi-currency deals).

`World(seed, size).company(i)` is a pure function of (seed, i): any emulator can generate any
subset in O(1) memory, and the same seed always gives the same data. Faker supplies locale-true
names, streets and cities; it is sampled once into small pools because calling it per record would
make a 200,000-record org take minutes to seed.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from faker import Faker

SIZES = {"small": 40, "medium": 1_000, "large": 20_000}

# (Faker locale, country name, ISO 3166 alpha-2, currency, phone country code, legal suffixes)
_LOCALES = [
    ("en_US", "United States", "US", "USD", "+1", ["Inc", "LLC", "Corp"]),
    ("en_GB", "United Kingdom", "GB", "GBP", "+44", ["Ltd", "Limited", "PLC"]),
    ("de_DE", "Germany", "DE", "EUR", "+49", ["GmbH", "AG"]),
    ("fr_FR", "France", "FR", "EUR", "+33", ["SARL", "SA"]),
    ("en_AU", "Australia", "AU", "AUD", "+61", ["Pty Ltd"]),
    ("en_NZ", "New Zealand", "NZ", "NZD", "+64", ["Ltd", "Limited"]),
    ("ja_JP", "Japan", "JP", "JPY", "+81", ["株式会社", "KK"]),
]
# Share of customers per locale (US and UK heavy, like most Xero orgs that sell abroad).
_LOCALE_WEIGHTS = [30, 25, 12, 10, 10, 8, 5]
_INDUSTRY_WORDS = [
    "Logistics", "Analytics", "Foods", "Robotics", "Design", "Consulting", "Energy", "Health",
    "Media", "Software", "Textiles", "Builders", "Partners", "Labs", "Outfitters", "Marine",
]
_INDUSTRIES = ["Technology", "Manufacturing", "Retail", "Finance", "Healthcare", "Energy", "Media"]
_POOL = 300

PRODUCTS = [
    # (ProductCode == Xero Item Code, name, unit price in USD, family)
    ("SUB-BASIC", "Subscription - Basic (annual)", 1200.0, "Subscription"),
    ("SUB-PRO", "Subscription - Pro (annual)", 4800.0, "Subscription"),
    ("SUB-ENT", "Subscription - Enterprise (annual)", 24000.0, "Subscription"),
    ("ONB-STD", "Onboarding package", 2500.0, "Services"),
    ("TRN-DAY", "Training day", 1500.0, "Services"),
    ("CONS-HR", "Consulting hour", 180.0, "Services"),
    ("SUP-PREM", "Premium support (annual)", 3600.0, "Support"),
    ("HW-GW", "Gateway appliance", 899.0, "Hardware"),
    ("HW-SENS", "Sensor kit", 129.5, "Hardware"),
    ("LIC-SEAT", "Additional seat", 96.0, "Subscription"),
    ("DISC-PROMO", "Promotional credit", 0.0, "Other"),
    ("SHIP-INT", "International shipping", 45.0, "Other"),
]
# Approximate FX to make multi-currency amounts plausible.
FX_FROM_USD = {"USD": 1.0, "GBP": 0.79, "EUR": 0.92, "AUD": 1.52, "NZD": 1.66, "JPY": 151.0}


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    email: str | None
    phone: str


@dataclass(frozen=True)
class Company:
    index: int
    name: str
    industry: str
    country: str
    country_code: str
    currency: str
    street: str
    city: str
    postcode: str
    state: str
    phone: str
    website: str
    email: str | None
    contacts: tuple[Person, ...]
    #: How this customer appears in Xero: "none", "exact", "name_variant", "email_variant".
    xero_presence: str
    #: Index of the company this one looks like a duplicate of, or None.
    duplicate_of: int | None
    #: Name used for this customer in Xero (may differ slightly from Salesforce's).
    xero_name: str
    xero_email: str | None


@lru_cache(maxsize=None)
def _pools(seed: int) -> dict[str, dict[str, list]]:
    pools: dict[str, dict[str, list]] = {}
    for j, (locale, *_rest) in enumerate(_LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed * 101 + j)
        pools[locale] = {
            "last": [fake.last_name() for _ in range(_POOL)],
            "first": [fake.first_name() for _ in range(_POOL)],
            "street": [fake.street_address().replace("\n", ", ") for _ in range(_POOL)],
            "city": [fake.city() for _ in range(_POOL)],
            "postcode": [fake.postcode() for _ in range(_POOL)],
            "state": [
                (fake.state() if hasattr(fake, "state") else fake.city()) for _ in range(_POOL // 10)
            ],
        }
    return pools


def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in folded if ch.isalnum()) or "co"


class World:
    """The companies and products both emulators seed from."""

    def __init__(self, seed: int = 42, size: int | str = "small") -> None:
        self.seed = seed
        self.size = resolve_size(size)
        # Both emulators seed from the same companies, one after the other: each is generated once
        # while they seed, then forgotten (`forget_companies`), as a 200,000-company world would
        # otherwise hold hundreds of MB for the life of the sandbox.
        self._companies: dict[int, Company] = {}

    # Share of Salesforce accounts that also exist in Xero, and how.
    _PRESENCE = [("exact", 55), ("name_variant", 8), ("email_variant", 7), ("none", 30)]

    def _rng(self, i: int, salt: int = 0) -> random.Random:
        return random.Random((self.seed * 1_000_003 + i) * 7 + salt)

    def company(self, i: int) -> Company:
        company = self._companies.get(i)
        if company is None:
            company = self._companies[i] = self._make_company(i)
        return company

    def forget_companies(self) -> None:
        """Drop the companies generated so far (a later `company(i)` generates the same one again)."""
        self._companies.clear()

    def _make_company(self, i: int) -> Company:
        rng = self._rng(i)
        locale, country, code, currency, dial, suffixes = rng.choices(_LOCALES, _LOCALE_WEIGHTS)[0]
        pool = _pools(self.seed)[locale]
        duplicate_of = None
        if i >= 10 and rng.random() < 0.03:
            # A duplicate-looking account: same name as an earlier one, different case/suffix.
            duplicate_of = rng.randrange(0, i)
            base = self.company(duplicate_of)
            name = base.name.upper() if rng.random() < 0.5 else base.name.replace(",", "") + " "
            name = name.strip()
        else:
            last = rng.choice(pool["last"])
            name = f"{last} {rng.choice(_INDUSTRY_WORDS)} {rng.choice(suffixes)}"
            if rng.random() < 0.01:
                name = (name + " " + " ".join(rng.choice(_INDUSTRY_WORDS) for _ in range(40)))[:250]
        slug = _ascii_slug(name.split(" ")[0]) + str(i)
        domain = f"{slug}.example.com"
        email = None if rng.random() < 0.06 else f"accounts@{domain}"
        contacts = []
        for k in range(1 + (rng.random() < 0.4)):
            first, last = rng.choice(pool["first"]), rng.choice(pool["last"])
            c_email = None if rng.random() < 0.05 else f"{_ascii_slug(first)}.{_ascii_slug(last)}{k}@{domain}"
            contacts.append(Person(first, last, c_email, f"{dial} {rng.randint(200, 999)} {rng.randint(100000, 999999)}"))
        presence = rng.choices([p for p, _ in self._PRESENCE], [w for _, w in self._PRESENCE])[0]
        xero_name, xero_email = name, email
        if presence == "name_variant":
            xero_name = name.replace(" Limited", " Ltd").replace(" Inc", " Inc.").lower().title()
            if xero_name == name:
                xero_name = name + "."
        elif presence == "email_variant":
            xero_email = f"billing@{domain}"
        return Company(
            index=i, name=name, industry=rng.choice(_INDUSTRIES), country=country, country_code=code,
            currency=currency, street=rng.choice(pool["street"]), city=rng.choice(pool["city"]),
            postcode=rng.choice(pool["postcode"]), state=rng.choice(pool["state"]),
            phone=f"{dial} {rng.randint(200, 999)} {rng.randint(1000000, 9999999)}",
            website=f"https://www.{domain}", email=email, contacts=tuple(contacts),
            xero_presence=presence, duplicate_of=duplicate_of, xero_name=xero_name, xero_email=xero_email,
        )

    def companies(self):
        for i in range(self.size):
            yield self.company(i)

    def xero_only_company(self, j: int) -> Company:
        """Customers that exist only in Xero (about 10% of the org's size)."""
        base = World(self.seed + 7919, self.size).company(j)
        return Company(**{**base.__dict__, "index": -1 - j, "xero_presence": "xero_only",
                          "name": base.name + " (Xero)", "xero_name": base.name + " (Xero)"})

    @property
    def xero_only_count(self) -> int:
        return max(1, self.size // 10)


def resolve_size(size: int | str) -> int:
    """'small' | 'medium' | 'large' | a positive integer (number of accounts)."""
    if isinstance(size, int):
        n = size
    elif str(size).isdigit():
        n = int(size)
    elif size in SIZES:
        n = SIZES[size]
    else:
        raise ValueError(f"unknown sandbox size '{size}' (use small, medium, large or a number)")
    if n < 1:
        raise ValueError("sandbox size must be at least 1")
    return n
