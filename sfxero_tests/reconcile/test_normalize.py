"""Normalisation rules used for matching and comparison, on a corpus whose expected values come from
phonenumbers and pycountry themselves (data/normalise_corpus.json), not from sfxero's output."""

import json
from pathlib import Path

import pandas as pd
import pytest

from sfxero_pipelines.reconcile import normalize as N


@pytest.mark.parametrize("a, b", [
    ("Acme Ltd", "ACME, Inc."),
    ("Müller GmbH", "Mu\u0308ller gmbh."),          # NFC vs NFD and case
    ("  Smith   &  Sons  Pty Ltd ", "smith and sons"),
    ("Ｆｕｌｌｗｉｄｔｈ Co", "fullwidth"),            # NFKC compatibility forms
    ("Café Olé S.A.R.L.", "cafe ole"),
    ("株式会社 サクラ", "サクラ KK"),
])
def test_names_that_are_the_same_company_normalise_equal(a, b):
    assert N.norm_name(a) == N.norm_name(b)


@pytest.mark.parametrize("a, b", [("Acme Holdings", "Acme"), ("Acme Ltd", "Acne Ltd"), ("Nord AG", "Sud AG")])
def test_different_companies_stay_different(a, b):
    assert N.norm_name(a) != N.norm_name(b)


def test_name_that_is_only_a_suffix_keeps_itself():
    assert N.norm_name("Limited") == "limited"
    assert N.norm_name("   ") is None


@pytest.mark.parametrize("raw, country, expected", [
    ("+44 20 7946 0000", None, "+442079460000"),
    ("020 7946 0000", "GB", "+442079460000"),
    ("0044 20 7946 0000", None, "+442079460000"),
    ("(415) 555-0100", "US", "+14155550100"),
    ("1-415-555-0100", "US", "+14155550100"),
    ("030 123456", "DE", "+4930123456"),
    ("12", "US", "12"),       # not a number phonenumbers can read: kept as given, not dropped
    ("", "US", None),
])
def test_phone_e164(raw, country, expected):
    assert N.norm_phone(raw, country) == expected
    v = N.v_phone(pd.Series([raw], dtype="object"), pd.Series([country], dtype="object"))
    assert v.iloc[0] == expected


@pytest.mark.parametrize("raw, expected", [("United Kingdom", "GB"), ("  usa ", "US"), ("Deutschland", "DE"),
                                           ("GB", "GB"), ("Atlantis", "Atlantis")])
def test_country_iso(raw, expected):
    assert N.norm_country(raw) == expected
    assert N.v_country(pd.Series([raw])).iloc[0] == expected


CORPUS = json.loads((Path(__file__).parent / "data" / "normalise_corpus.json").read_text(encoding="utf-8"))
PHONES = CORPUS["phones"]


def test_corpus_covers_the_field():
    assert len(PHONES) >= 60 and len({p["country"] for p in PHONES if p["country"]}) >= 15
    assert len(CORPUS["countries"]) >= 40 and len({c["iso"] for c in CORPUS["countries"]}) >= 15


@pytest.mark.parametrize("case", PHONES, ids=[f"{p['country']}:{p['raw']}" for p in PHONES])
def test_phone_corpus_is_e164_as_phonenumbers_formats_it_or_kept_as_given(case):
    # A record without a country reads national numbers in the mapping's default region (US).
    expected = case["e164"] or case["raw"].strip()
    assert N.norm_phone(case["raw"], case["country"], "US") == expected


def test_phone_column_form_gives_the_corpus_values_row_by_row():
    raw = pd.Series([p["raw"] for p in PHONES] + [None], dtype="object", index=range(5, 5 + len(PHONES) + 1))
    country = pd.Series([p["country"] for p in PHONES] + ["GB"], dtype="object", index=raw.index)
    out = N.v_phone(raw, country, "US")
    assert out.index.equals(raw.index)
    assert out.tolist() == [p["e164"] or p["raw"].strip() for p in PHONES] + [None]


@pytest.mark.parametrize("country, default, region", [("IT", "US", "IT"), (None, "GB", "GB"), ("Atlantis", "GB", "GB"),
                                                      ("it", "US", "IT"), ("", "AU", "AU")])
def test_national_numbers_are_read_in_the_records_country_else_the_default(country, default, region):
    assert N.phone_region(country, default) == region


def test_a_number_kept_as_given_compares_by_its_digits():
    kept = ["555 0100", "555-0100", "(555) 0100"]
    assert {N.phone_key(N.norm_phone(v, "US")) for v in kept} == {"5550100"}
    assert N.phone_key("+44 20 9000 0001") == N.phone_key("+442090000001") == "+442090000001"
    assert N.phone_key("+442079460018 ext. 123") == "+442079460018 ext. 123"   # E.164 compares as itself
    assert N.phone_key("+442079460018 ext. 123") != N.phone_key("+44207946001812 3")
    assert N.v_phone_key(pd.Series(kept + [None], dtype="object")).tolist() == ["5550100"] * 3 + [None]


@pytest.mark.parametrize("case", CORPUS["countries"], ids=[c["raw"] for c in CORPUS["countries"]])
def test_country_corpus_is_iso_alpha2_per_pycountry(case):
    assert N.norm_country(case["raw"]) == case["iso"]


def test_country_column_form_and_the_configured_table():
    raw = [c["raw"] for c in CORPUS["countries"]]
    expected = [c["iso"] for c in CORPUS["countries"]]
    assert N.v_country(pd.Series(raw + [None], dtype="object")).tolist() == expected + [None]
    # mapping.value_maps.country is checked first (keys casefolded by the caller).
    assert N.norm_country("Blighty", {"blighty": "GB"}) == "GB"
    assert N.norm_country("  Atlantis ") == "Atlantis"


@pytest.mark.parametrize("case", CORPUS["currencies"], ids=[c["raw"] for c in CORPUS["currencies"]])
def test_currency_corpus_is_iso_4217_per_pycountry_or_kept(case):
    assert N.norm_currency(case["raw"]) == case["iso"]
    assert N.v_currency(pd.Series([case["raw"], None], dtype="object")).tolist() == [case["iso"], None]


def test_vectorised_email_and_name_match_scalar():
    values = [" Ops@Acme.COM ", "not-an-email", None, "a@b.co", "   "]
    assert N.v_email(pd.Series(values, dtype="object")).tolist() == ["ops@acme.com", None, None, "a@b.co", None]
    names = ["Acme Ltd", None, "Müller GmbH"]
    assert N.v_name(pd.Series(names, dtype="object")).tolist() == [N.norm_name(v) for v in names]


@pytest.mark.parametrize("data, key", [
    ({"mapping": {"contact_fields": [{"sf": "Phone", "xero": "Phones.PAGER"}]}}, "mapping.contact_fields[0].xero"),
    ({"mapping": {"contact_fields": [{"sf": "Bad Field", "xero": "Name"}]}}, "mapping.contact_fields[0].sf"),
    ({"mapping": {"contact_fields": [{"sf": "Name", "xero": "Name"}, {"sf": "Site", "xero": "Name"}]}},
     "mapping.contact_fields"),
    ({"mapping": {"contact_fields": [{"sf": "Name", "xero": "Name", "value_map": "nope"}]}},
     "mapping.contact_fields[0].value_map"),
    ({"recipes": {"R1": {"match": ["email", "link"]}}}, "recipes.R1.match"),
    ({"recipes": {"R1": {"filters": [{"field": "Type", "op": "in", "value": "Customer"}]}}}, "recipes.R1.filters[0]"),
    ({"recipes": {"R2": {"status": "PAID"}}}, "recipes.R2.status"),
    ({"recipes": {"R2": {"status_map": "stage"}}, "mapping": {"value_maps": {"stage": {"Closed Won": "PAID"}}}},
     "mapping.value_maps.stage"),
    ({"recipes": {"R6": {"enabled": True}}}, "recipes.R6.campaign"),
    ({"recipes": {"R6": {"enabled": True, "campaign": "Dunning", "min_days_overdue": 0}}}, "recipes.R6.min_days_overdue"),
    ({"recipes": {"R7": {"status_map": "nope"}}}, "recipes.R7.status_map"),
    ({"recipes": {"R9": {}}}, "recipes.R9"),
])
def test_mapping_and_recipe_config_errors_name_the_key(data, key):
    from sfxero_pipelines.config import parse_config
    from sfxero_pipelines.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert err.value.key == f"sfxero.yaml: {key}"
