"""`bench scale`'s counting of one tenant's Xero calls: the busiest 60 s and the 429s (pure logic)."""

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
