"""`routing:` in sfxero.yaml and the router: rules by a field value, by CurrencyIsoCode and by billing country,
first match wins, a default, an unmatched Account held with a reason that has a sentence, and every
configuration mistake refused in one line naming the key."""

from __future__ import annotations

import pytest

from sfxero_pipelines.config import parse_config
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.reconcile import hold_sentences as H
from sfxero_pipelines.reconcile.routing import Organisation, Router

ORGS = [Organisation("t-us", "Acme Inc"), Organisation("t-uk", "Acme UK Ltd"), Organisation("t-de", "Acme GmbH")]
RULES = {"rules": [{"field": "Billing_Entity__c", "equals": ["UK"], "tenant": "Acme UK Ltd"},
                   {"currency": ["EUR"], "tenant": "t-de"},
                   {"country": ["Germany", "DE"], "tenant": "acme gmbh"}]}


def _router(routing: dict, orgs=ORGS) -> Router:
    return Router(parse_config({"routing": routing}).routing, orgs)


@pytest.mark.parametrize("account, tenant", [
    ({"Billing_Entity__c": "UK", "CurrencyIsoCode": "EUR"}, "t-uk"),      # first match wins
    ({"Billing_Entity__c": " uk ", "CurrencyIsoCode": "USD"}, "t-uk"),    # trimmed, without case
    ({"Billing_Entity__c": "US", "CurrencyIsoCode": "EUR"}, "t-de"),
    ({"CurrencyIsoCode": "USD", "BillingCountry": "germany"}, "t-de"),
    ({"CurrencyIsoCode": "USD", "BillingCountry": "United States"}, "t-us"),  # the default
])
def test_rules_in_order_then_the_default(account, tenant):
    assert _router({**RULES, "default": "Acme Inc"}).route(account) == (tenant, None)


def test_no_match_and_no_default_is_held_with_a_sentence():
    tenant, reason = _router(RULES).route({"Billing_Entity__c": "FR", "CurrencyIsoCode": "USD",
                                           "BillingCountry": "France"})
    assert tenant is None
    assert reason == ("no routing rule matches the Account (Billing_Entity__c 'FR', CurrencyIsoCode 'USD', "
                      "BillingCountry 'France') and routing has no default")
    explained = H.explain_reason(reason, table_name="sf_account", record_id="001000000000001AAA")
    assert explained.recognised and "routing.default" in explained.sentence and "Billing_Entity__c 'FR'" in explained.sentence


def test_without_routing_one_organisation_takes_all_and_several_must_be_told():
    assert _router({}, ORGS[:1]).route({"CurrencyIsoCode": "EUR"}) == ("t-us", None)
    with pytest.raises(ConfigError) as exc:
        _router({}, ORGS)
    assert exc.value.key == "sfxero.yaml: routing" and "Acme UK Ltd" in str(exc.value)


@pytest.mark.parametrize("routing, key, words", [
    ({"rules": [{"field": "Billing_Entity__c", "tenant": "t-uk"}]}, "routing.rules[0]", "field and equals"),
    ({"rules": [{"currency": ["EUR"], "country": ["DE"], "tenant": "t-de"}]}, "routing.rules[0]", "exactly one"),
    ({"rules": [{"currency": [], "tenant": "t-de"}]}, "routing.rules[0].currency", ""),
    ({"rules": [{"currency": ["EUR"]}]}, "routing.rules[0].tenant", ""),
    ({"rules": [{"currency": ["EUR"], "tenant": "t-de", "typo": 1}]}, "routing.rules[0].typo", "unknown key"),
])
def test_a_malformed_rule_names_its_key(routing, key, words):
    with pytest.raises(ConfigError) as exc:
        parse_config({"routing": routing})
    assert exc.value.key == f"sfxero.yaml: {key}" and words in str(exc.value)


def test_an_organisation_not_connected_names_its_key():
    with pytest.raises(ConfigError) as exc:
        _router({"rules": [{"currency": ["EUR"], "tenant": "Acme France"}]})
    assert exc.value.key == "sfxero.yaml: routing.rules[0].tenant" and "sfxero connections" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        _router({"default": "nobody"})
    assert exc.value.key == "sfxero.yaml: routing.default"


def test_routed_here_keeps_this_organisations_accounts_and_holds_the_unrouted(tmp_path):
    import datetime as dt

    import sqlalchemy as sa

    from sfxero_pipelines.defs.staging.resources import StagingDatabase
    from sfxero_pipelines.reconcile.routing import routed_here
    from sfxero_pipelines.staging.tables import ensure_object_table, upsert_rows

    uk, de = "0a1b2c3d-0000-4000-8000-0000000000aa", "0a1b2c3d-0000-4000-8000-0000000000bb"
    db = StagingDatabase(url=f"sqlite:///{tmp_path / 's.db'}")
    table, _ = ensure_object_table(db.engine, "sf_account", {"currencyisocode": sa.Text(), "billingcountry": sa.Text()})
    now = dt.datetime.now(dt.timezone.utc)
    rows = [("001A", "GBP", "United Kingdom", False), ("001B", "EUR", "Germany", False), ("001C", "USD", "France", False),
            ("001D", "GBP", "United Kingdom", True)]
    with db.begin() as conn:
        upsert_rows(conn, table, [{"id": i, "currencyisocode": c, "billingcountry": b, "is_deleted": d, "modified_at": now,
                                   "extracted_at": now, "raw": {}} for i, c, b, d in rows])
    cfg = parse_config({"routing": {"rules": [{"currency": ["GBP"], "tenant": uk}, {"country": ["Germany"], "tenant": de}]}})
    with db.begin() as conn:
        routed = routed_here(conn, cfg, {"XERO_TENANT_ID": uk})
        other = routed_here(conn, cfg, {"XERO_TENANT_ID": de})
        assert routed_here(conn, parse_config({}), {"XERO_TENANT_ID": uk}) is None  # no routing: everything, as before
    assert routed.keep == {"001A"} and other.keep == {"001B"}  # deleted Accounts are no one's
    assert set(routed.held) == {"001C"} and "CurrencyIsoCode 'USD'" in routed.held["001C"]
    assert routed.covers("001A") and routed.covers("001C") and not routed.covers("001B")
    # No default: a record without an Account (held for that) shows in every organisation's plan, never in none.
    assert routed.takes_unowned and routed.covers(None) and other.covers(None)

    by_field = parse_config({"routing": {"rules": [{"field": "Billing_Entity__c", "equals": ["UK"], "tenant": uk}],
                                         "default": de}})
    with db.begin() as conn, pytest.raises(ConfigError) as exc:
        routed_here(conn, by_field, {"XERO_TENANT_ID": uk})
    assert exc.value.key == "sfxero.yaml: routing.rules[0]" and "Billing_Entity__c" in str(exc.value)
    db.dispose()
