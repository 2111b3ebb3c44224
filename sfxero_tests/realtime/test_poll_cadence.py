"""The Salesforce change poll keeps its cadence when the lane's sensor ticks more often than the poll
interval (realtime/feed._poll_slot): the next poll is due an interval after the previous one was due,
so a tick arriving a little early does not push the poll to the tick after (one poll per 15 s instead
of 10), and polling never costs more than one call per interval over an hour (the idle budget)."""

from __future__ import annotations

import datetime as dt
import random

from sfxero_pipelines.realtime.feed import _poll_slot

START = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
TEN_S = dt.timedelta(seconds=10)


def _polls(tick_s: float, jitter_s: float, hours: float = 1.0) -> list[dt.datetime]:
    rng, state, polls, now = random.Random(5), {}, [], START
    while now < START + dt.timedelta(hours=hours):
        slot = _poll_slot(state, TEN_S, now)
        if slot is not None:
            polls.append(now)
            state.update(polled_at=now.isoformat(), poll_slot=slot.isoformat())
        now += dt.timedelta(seconds=tick_s + rng.uniform(-jitter_s, jitter_s))
    return polls


def test_ticks_every_five_seconds_poll_every_ten_on_average():
    polls = _polls(tick_s=5, jitter_s=0.4)
    assert 355 <= len(polls) <= 361  # 360 an hour: one composite call per 10 s, never more
    gaps = [(b - a).total_seconds() for a, b in zip(polls, polls[1:])]
    assert min(gaps) > 4 and max(gaps) < 16


def test_ten_minutes_opened_at_a_poll_hold_sixty_polls_at_most():
    """What `sfxero bench latency` counts for its idle figure: a window opened just after a poll."""
    for tick_s, jitter_s in ((5.0, 0.01), (5.0, 0.4), (5.01, 0.05)):
        polls = [(p - START).total_seconds() for p in _polls(tick_s=tick_s, jitter_s=jitter_s, hours=3)]
        for i, opened in enumerate(polls[:-70]):
            in_window = [p for p in polls[i + 1:] if p <= opened + 0.2 + 600]
            assert 58 <= len(in_window) <= 60, (tick_s, jitter_s, opened, len(in_window))


def test_timing_from_the_tick_would_stretch_the_interval():
    """What the slot prevents: measured from the last poll's tick, jittered ticks poll every 15 s half the time."""
    rng, last, polls, now = random.Random(5), None, 0, START
    while now < START + dt.timedelta(hours=1):
        if last is None or now - last >= TEN_S:
            polls, last = polls + 1, now
        now += dt.timedelta(seconds=5 + rng.uniform(-0.4, 0.4))
    assert polls < 330
    assert len(_polls(tick_s=5, jitter_s=0.4)) > polls


def test_a_stopped_sensor_starts_again_from_now_and_an_old_poll_is_due():
    state = {"polled_at": (START - dt.timedelta(hours=2)).isoformat()}
    assert _poll_slot(state, TEN_S, START) == START
    # A cursor whose last poll is long ago is due whatever its slot says (slots never follow their poll).
    state = {"polled_at": "2000-01-01T00:00:00+00:00", "poll_slot": START.isoformat()}
    assert _poll_slot(state, TEN_S, START + dt.timedelta(seconds=1)) is not None
    state = {"polled_at": START.isoformat(), "poll_slot": START.isoformat()}
    assert _poll_slot(state, TEN_S, START + dt.timedelta(seconds=9)) is None
