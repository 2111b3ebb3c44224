"""Rate limits, faults and retries: the emulator enforces Xero's limits and headers; the resource paces
under them, survives injected 429/5xx, and never sleeps on a daily limit."""

from __future__ import annotations

import threading
import time

import pytest
from xero_python.exceptions import RateLimitException

from sfxero_pipelines import errors
from sfxero_tests.conftest import sandbox_call
from sfxero_tests.xero.conftest import resource_for
from sfxero_tests.xero.sdk import accounting, cc_client


def test_minute_limit_429_headers_and_window_reset(xero_sandbox, monkeypatch):
    server = xero_sandbox(xero_limits={"per_minute": 3})
    client, _ = cc_client(server, monkeypatch)
    api, tenant = accounting(server, client), server.env["XERO_TENANT_ID"]
    remaining = []
    for _ in range(3):
        _data, _status, headers = api.get_currencies(tenant, _return_http_data_only=False)
        remaining.append(int(headers["X-MinLimit-Remaining"]))
        assert int(headers["X-DayLimit-Remaining"]) > 0 and int(headers["X-AppMinLimit-Remaining"]) > 0
    assert remaining == [2, 1, 0]
    with pytest.raises(RateLimitException) as exc:
        api.get_currencies(tenant)
    assert exc.value.status == 429 and exc.value.rate_limit == "minute"
    assert 0 < int(exc.value.headers["Retry-After"]) <= 60
    # Hidden urllib3 retries are off here, so that was exactly one request.
    assert sandbox_call(server, "xero", "GET", "/__sandbox/stats")["requests"]["GET /api.xro/2.0/Currencies"] == 4
    sandbox_call(server, "xero", "POST", "/__sandbox/clock", {"advance_s": 61})
    assert api.get_currencies(tenant).currencies


# Paced on a 60-per-minute budget, it waits out real time by design: the slow lane (make test runs it).
@pytest.mark.slow
def test_burst_of_200_under_a_60_per_minute_budget_has_no_429(xero_sandbox, validate_xero_responses):
    # A "minute" of 2 seconds on both sides keeps the test short while the budget stays 60 per window.
    server = xero_sandbox(xero_limits={"per_minute": 60, "window_s": 2.0, "concurrent": 5})
    resource = resource_for(server, per_minute_limit=60, limit_window_s=2.0, concurrent_limit=5)
    failures: list[BaseException] = []
    start = time.monotonic()
    with resource.get_client() as client:
        def worker(n: int) -> None:
            try:
                for _ in range(n):
                    assert client.get_all("Currencies")
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                failures.append(exc)

        threads = [threading.Thread(target=worker, args=(40,)) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        assert not failures
        assert client.api_calls["GET Currencies"] == 200  # no retried calls: nothing was refused
        assert client.limits["min_remaining"] >= 0
    assert 429 not in validate_xero_responses.statuses
    assert validate_xero_responses.statuses.count(200) >= 200
    # 200 calls at ≤ 55 per 2 s window need at least three full windows.
    assert elapsed >= 3 * 2.0


def test_concurrent_limit_is_enforced_by_the_emulator(xero_sandbox):
    server = xero_sandbox(xero_limits={"concurrent": 1}, faults="xero.latency_ms=300")
    env = server.env
    import requests
    token = requests.post(env["XERO_IDENTITY_URL"] + "/connect/token", data={"grant_type": "client_credentials"},
                          auth=(env["XERO_CLIENT_ID"], env["XERO_CLIENT_SECRET"]),
                          verify=env["SFXERO_CA_BUNDLE"], timeout=10).json()["access_token"]
    statuses: list[tuple[int, str | None]] = []

    def call():
        r = requests.get(env["XERO_API_URL"] + "/Currencies", headers={"Authorization": f"Bearer {token}",
                         "xero-tenant-id": env["XERO_TENANT_ID"]}, verify=env["SFXERO_CA_BUNDLE"], timeout=10)
        statuses.append((r.status_code, r.headers.get("X-Rate-Limit-Problem")))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (200, None) in statuses and (429, "concurrent") in statuses


def test_resource_adapts_to_a_smaller_budget_reported_by_the_headers(xero_sandbox, validate_xero_responses):
    # The emulator's budget (3 per 1 s window) is smaller than the resource believes (60): someone else
    # is using the tenant. X-MinLimit-Remaining reaching 0 makes the resource hold off for a window.
    server = xero_sandbox(xero_limits={"per_minute": 3, "window_s": 1.0})
    with resource_for(server, limit_window_s=1.0).get_client() as client:
        for _ in range(7):
            assert client.get_all("TaxRates")
        assert client.api_calls["GET TaxRates"] == 7
        assert client.pacer.waited_s >= 1.0
    assert 429 not in validate_xero_responses.statuses


def test_daily_limit_raises_budget_exhausted_without_sleeping(xero_sandbox):
    server = xero_sandbox(xero_limits={"per_day": 3})
    # The resource believes in a huge budget, so the refusal comes from the server (429 day).
    with resource_for(server, day_limit=10**9, day_budget_stop_share=1.0).get_client() as client:
        start = time.monotonic()
        with pytest.raises(errors.BudgetExhausted) as exc:
            for _ in range(5):
                client.get_all("Currencies")
        # X-DayLimit-Remaining reached 0 after the third call: the fourth is never sent.
        assert client.api_calls["GET Currencies"] == 3 and client.limits["day_remaining"] == 0
    with resource_for(server, day_limit=10**9, day_budget_stop_share=1.0).get_client() as fresh_client:
        # A client that has not seen the headers yet gets Xero's 429 (day) and must not sleep on it.
        with pytest.raises(errors.BudgetExhausted) as exc:
            fresh_client.get_all("Currencies")
        assert "daily limit" in str(exc.value) and fresh_client.api_calls["GET Currencies"] == 1
    assert time.monotonic() - start < 5


def test_resource_stops_at_its_day_budget_share(xero_sandbox):
    server = xero_sandbox(xero_limits={"per_day": 10})
    with resource_for(server, day_limit=10, day_budget_stop_share=0.5).get_client() as client:
        with pytest.raises(errors.BudgetExhausted):
            for _ in range(10):
                client.get_all("Currencies")
        assert client.api_calls["GET Currencies"] == 5 and client.limits["day_remaining"] == 5


def test_injected_faults_are_retried_and_idempotent(xero_sandbox):
    server = xero_sandbox(faults="xero.5xx=0.25,xero.503=0.15,xero.429=0.15", seed=7)
    with resource_for(server, max_retries=8).get_client() as client:
        pages = [p for p in client.iter_pages("Invoices", page_size=10)]
        assert sum(len(p) for p in pages) == len(server.xero.records("Invoices"))
        results = client.write("Contacts", [{"Name": "Flaky Network Ltd"}], method="PUT", idempotency_key="f-1")
        assert results[0]["StatusAttributeString"] == "OK"
    assert sum(1 for c in server.xero.records("Contacts") if c["Name"] == "Flaky Network Ltd") == 1
    stats = sandbox_call(server, "xero", "GET", "/__sandbox/stats")["requests"]
    assert stats["GET /api.xro/2.0/Invoices"] > len(pages)  # some were faulted and retried


def test_persistent_5xx_gives_up_with_a_named_error_and_no_hidden_retries(xero_sandbox):
    server = xero_sandbox(faults="xero.503=1")
    with resource_for(server, max_retries=2).get_client() as client:
        with pytest.raises(errors.ApiError) as exc:
            client.get_all("Accounts")
    assert exc.value.status == 503 and "gave up after 3 attempts" in str(exc.value)
    assert sandbox_call(server, "xero", "GET", "/__sandbox/stats")["requests"]["GET /api.xro/2.0/Accounts"] == 3


def test_the_minute_budget_is_xeros_unless_the_environment_lowers_it(xero_sandbox, monkeypatch):
    """XERO_MINUTE_LIMIT is the calls a minute sfxero allows itself per organisation; a sandbox exports the
    limit it enforces (Xero's 60 unless started with another), so its clients pace to what it emulates."""
    from sfxero_pipelines.clients.pacing import cap_for
    from sfxero_pipelines.defs.xero.resources import xero_resource_from_env

    server = xero_sandbox(xero_limits={"per_minute": 24})
    assert server.env["XERO_MINUTE_LIMIT"] == "24"
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    with xero_resource_from_env().get_client() as client:
        assert client.pacer.cap == cap_for(24)
    monkeypatch.delenv("XERO_MINUTE_LIMIT")
    with xero_resource_from_env().get_client() as client:
        assert client.pacer.cap == cap_for(60)
    for bad in ("sixty", "0"):
        monkeypatch.setenv("XERO_MINUTE_LIMIT", bad)
        with pytest.raises(errors.ConfigError) as refused:
            xero_resource_from_env().get_client()
        assert str(refused.value) == (f"XERO_MINUTE_LIMIT: must be a whole number of calls a minute (Xero's limit "
                                      f"is 60), not '{bad}'")
