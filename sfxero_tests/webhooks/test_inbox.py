"""webhook_inbox on SQLite and the real PostgreSQL: one row per event identity whatever the number of
deliveries, unprocessed in arrival order, marking processed idempotent, malformed events kept."""

from __future__ import annotations

import datetime as dt

from sfxero_pipelines.staging.state import inbox

TENANT = "9d2a6c1e-0000-4000-8000-000000000001"


def event(resource_id: str, *, category="CONTACT", type_="UPDATE", at="2026-12-03T10:15:39.902") -> dict:
    return {"resourceUrl": f"https://api.xero.com/api.xro/2.0/Contacts/{resource_id}", "resourceId": resource_id,
            "eventDateUtc": at, "eventType": type_, "eventCategory": category, "tenantId": TENANT,
            "tenantType": "ORGANISATION"}


def test_a_replayed_delivery_is_recorded_once(staging):
    delivery = [event("c-1"), event("c-2", category="INVOICE", type_="CREATE")]
    with staging.begin() as conn:
        assert inbox.record_events(conn, delivery) == 2
    with staging.begin() as conn:
        assert inbox.record_events(conn, delivery) == 0  # Xero's retry of the same delivery
        assert inbox.count_events(conn) == 2
    # A later change of the same resource is a new event.
    with staging.begin() as conn:
        assert inbox.record_events(conn, [event("c-1", at="2026-12-03T10:16:00.001")]) == 1
        assert inbox.count_events(conn) == 3


def test_a_burst_of_duplicates_is_one_entry(staging):
    with staging.begin() as conn:
        assert inbox.record_events(conn, [event("c-9")] * 50) == 1
        assert [(e.resource_id, e.event_category) for e in inbox.unprocessed(conn)] == [("c-9", "CONTACT")]


def test_unprocessed_then_marked_processed(staging):
    with staging.begin() as conn:
        inbox.record_events(conn, [event(f"c-{i}") for i in range(5)])
        pending = inbox.unprocessed(conn)
        assert [e.resource_id for e in pending] == [f"c-{i}" for i in range(5)]
        stamp = dt.datetime(2026, 12, 3, 11, tzinfo=dt.timezone.utc)
        assert inbox.mark_processed(conn, [pending[0].id, pending[1].id], now=stamp) == 2
        assert inbox.mark_processed(conn, [pending[0].id], now=stamp) == 0  # already stamped
        assert [e.resource_id for e in inbox.unprocessed(conn)] == ["c-2", "c-3", "c-4"]
        assert [e.resource_id for e in inbox.unprocessed(conn, limit=1)] == ["c-2"]
    # The lane consumed them: the same events delivered again are not new work.
    with staging.begin() as conn:
        assert inbox.record_events(conn, [event("c-0"), event("c-1")]) == 0
        assert len(inbox.unprocessed(conn)) == 3


def test_an_event_lacking_its_identity_is_kept_with_its_reason(staging):
    broken = {"eventCategory": "CONTACT", "eventType": "UPDATE", "tenantId": TENANT}
    with staging.begin() as conn:
        assert inbox.record_events(conn, [broken, event("c-1")]) == 2
        reasons = {e.resource_id: e.invalid_reason for e in inbox.unprocessed(conn)}
    assert reasons == {"": "event lacks resourceId, eventDateUtc", "c-1": None}
