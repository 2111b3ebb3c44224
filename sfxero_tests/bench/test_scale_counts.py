"""`bench scale`'s pure logic: the counting of one tenant's Xero calls (the busiest 60 s and the 429s), and
the routing that spreads the sandbox's Accounts over its organisations."""

from __future__ import annotations

from sfxero_pipelines.bench.scale_bench import CallLog


def test_busiest_minute_counts_answered_calls_in_any_60_seconds_and_429s_apart():
    log = CallLog()
    log.calls = [(0.0, 200)] + [(10.0 + i, 200) for i in range(55)] + [(59.9, 429), (60.5, 200), (69.9, 200)]
    # [0, 60): 51 answered; [10, 70): 57 (the 429 at 59.9 was refused, not answered, and is not counted).
    assert log.busiest_minute() == 57
    assert log.refused() == 1
    log.hook("GET", "/api.xro/2.0/Contacts", "", 200)
    log.hook("POST", "/connect/token", "", 200)  # token calls are not the tenant's API budget
    assert len(log.calls) == 60


def test_routing_gives_every_organisation_accounts_and_one_the_rest():
    from sfxero_pipelines.bench.scale_bench import routing
    from sfxero_pipelines.config.routing import RoutingConfig

    assert routing(["only"]) is None  # one organisation: every Account is its own
    tenants = [f"t{k}" for k in range(8)]
    routed = RoutingConfig.model_validate(routing(tenants))
    assert [rule.tenant for rule in routed.rules] == tenants and routed.default == "t0"
    countries = [value for rule in routed.rules[1:] for value in rule.country]
    assert len(countries) == len(set(countries)) == 14  # seven countries, each by name and ISO code
