"""Normalisation rules used for matching and comparison: scalar and vectorised forms agree."""

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
    ("12", "US", None),
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


def test_vectorised_email_and_name_match_scalar():
    values = [" Ops@Acme.COM ", "not-an-email", None, "a@b.co"]
    assert N.v_email(pd.Series(values, dtype="object")).tolist() == [N.norm_email(v) for v in values]
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
