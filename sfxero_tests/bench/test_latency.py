"""`sfxero bench latency` (bench/latency_bench.py, latency_changes.py).

In `make test`: the pure parts — when a change counts as crossed (its effect read back from the other
system's records) and the percentiles reported. The bench itself (a sandbox, two first syncs, the
webhook receiver and a real `dagster-daemon`, a few minutes) runs as `chaos`: at its smallest it
takes minutes, far beyond what `make test` can spend; it asserts the docs/architecture.md §9 shape and
that every change crossed, with no Xero call while idle (webhooks) and at most one Salesforce poll per 10 s.
"""

from __future__ import annotations

import pytest

from sfxero_pipelines.bench.latency_bench import _pct, summary
from sfxero_pipelines.bench.latency_changes import Change, visible

from .test_benches import SPEC_KEYS, bench, scratch  # noqa: F401 - scratch is a fixture

LATENCY_KEYS = {"changes", "p50_seconds", "p95_seconds", "max_seconds", "idle_calls_per_hour", "by_kind"}


def _records(**by_object) -> dict:
    return {tuple(k.split("_", 1)): v for k, v in by_object.items()}


def test_a_change_crosses_when_its_effect_is_in_the_other_system():
    invoice = Change("won_opportunity", "salesforce:Opportunity:006A", ("xero", "Invoices", None, "Reference", "006A"))
    assert not visible(invoice, _records(xero_Invoices=[{"Reference": "006A", "Type": "ACCPAY", "Status": "DRAFT"},
                                                        {"Reference": "006A", "Type": "ACCREC", "Status": "VOIDED"}]))
    assert visible(invoice, _records(xero_Invoices=[{"Reference": "006A", "Type": "ACCREC", "Status": "AUTHORISED"}]))

    city = Change("xero_contact_edit", "xero:Contacts:c1", ("sf", "Account", "001A", "BillingCity", "Latency City 0001"))
    assert not visible(city, _records(sf_Account=[{"Id": "001A", "BillingCity": "Perth"}]))
    assert visible(city, _records(sf_Account=[{"Id": "001A", "BillingCity": "Latency City 0001"}]))

    paid = Change("xero_payment", "xero:Invoices:i1", ("sf", "Opportunity", "006B", "Xero_Amount_Paid__c", 60.5))
    assert not visible(paid, _records(sf_Opportunity=[{"Id": "006B", "Xero_Amount_Paid__c": 0}]))
    assert visible(paid, _records(sf_Opportunity=[{"Id": "006B", "Xero_Amount_Paid__c": 60.50}]))

    number = Change("account_edit", "salesforce:Account:001C", ("xero", "Contacts", "c2", "AccountNumber", "LAT-1"))
    assert not visible(number, _records(xero_Contacts=[{"ContactID": "c3", "AccountNumber": "LAT-1"}]))
    assert visible(number, _records(xero_Contacts=[{"ContactID": "c2", "AccountNumber": "LAT-1"}]))


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert _pct(values, 0.5) == 10.0 and _pct(values, 0.95) == 19.0
    assert summary([3.0]) == {"changes": 1, "p50_seconds": 3.0, "p95_seconds": 3.0, "max_seconds": 3.0}
    assert summary([])["p95_seconds"] is None


@pytest.mark.chaos
@pytest.mark.timeout(1500)
def test_bench_latency_small_run_every_change_crosses(tmp_path, scratch):
    out = bench(tmp_path, scratch, "latency", "--size", "16", "--changes", "4", "--duration", "10",
                "--idle-minutes", "0.5", timeout=1400)
    assert SPEC_KEYS | LATENCY_KEYS <= set(out)
    assert out["bench"] == "latency" and out["changes"] == 4 and out["crossed"] == 4
    assert set(out["by_kind"]) == {"won_opportunity", "account_edit", "xero_payment", "xero_contact_edit"}
    for kind, figures in out["by_kind"].items():
        assert figures["changes"] == 1 and figures["not_crossed"] == 0, kind
        assert 0 < figures["p50_seconds"] == figures["max_seconds"] < 180, kind
        # Each change was carried by a lane run whose stages the op timed.
        assert {"stage_extract", "stage_push", "to_tick"} <= set(figures["where_time_goes"]), kind
    assert out["lane_runs_failed"] == 0
    assert out["idle_calls_per_hour"]["xero"] == 0  # webhooks: nothing polled
    assert 0 < out["idle_calls_per_hour"]["salesforce"] <= 360 + 120  # one poll per 10 s (+1 in a short window)


def test_latency_options_are_refused_in_one_line_where_they_do_not_apply():
    from ..test_cli import sfxero

    other = sfxero("bench", "push", "--changes", "3")
    assert other.returncode == 2 and other.stderr.strip() == "sfxero: --changes: applies to `bench latency` only"
    zero = sfxero("bench", "latency", "--idle-minutes", "0")
    assert zero.returncode == 2 and zero.stderr.strip() == "sfxero: --idle-minutes: must be positive"
