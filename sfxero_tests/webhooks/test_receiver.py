"""The webhook receiver over real HTTP on loopback, recording into real staging (SQLite and PostgreSQL):
Xero's handshake, signatures checked over the raw body, duplicates recorded once, and 200 only after
the events are committed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests
import sqlalchemy as sa

from sfxero_pipelines.staging.state import inbox
from sfxero_pipelines.webhooks.signature import verify_xero_signature, xero_signature

from .conftest import WEBHOOK_KEY, start_receiver
from .test_inbox import event

ITR_BODY = b'{"events":[],"firstEventSequence": 0,"lastEventSequence": 0, "entropy": "S0m3r4Nd0mt3xt"}'


def post(url: str, body: bytes, signature: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["x-xero-signature"] = signature
    return requests.post(url, data=body, headers=headers, timeout=10)


def delivery(*events: dict, sequence: int = 1) -> bytes:
    return json.dumps({"events": list(events), "firstEventSequence": sequence,
                       "lastEventSequence": sequence + len(events) - 1, "entropy": "ABCDEF"}).encode()


def test_signature_matches_xeros_test_vector():
    assert xero_signature("test-webhook-key", ITR_BODY) == "oHNbSm1QAIXAdwwDNjUF0YK3J6PXHM2bwNGv2Iv5CA0="
    assert verify_xero_signature("test-webhook-key", ITR_BODY, "oHNbSm1QAIXAdwwDNjUF0YK3J6PXHM2bwNGv2Iv5CA0=")
    # Re-serialising the irregularly spaced handshake body changes the bytes, so it must not verify.
    assert not verify_xero_signature("test-webhook-key", json.dumps(json.loads(ITR_BODY)).encode(),
                                     "oHNbSm1QAIXAdwwDNjUF0YK3J6PXHM2bwNGv2Iv5CA0=")


def test_the_handshake_compares_signatures_in_constant_time(monkeypatch):
    """Every verdict, right or wrong, comes from hmac.compare_digest (whose time does not depend on how
    much of a forged signature matches), never from `==` on the strings; spied, not replaced."""
    import hmac

    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    good = xero_signature(WEBHOOK_KEY, ITR_BODY)
    near_miss = good[:-2] + ("A=" if not good.endswith("A=") else "B=")
    verdicts = [verify_xero_signature(WEBHOOK_KEY, ITR_BODY, s) for s in (good, near_miss, "x")]
    assert verdicts == [True, False, False]
    assert [a for a, _ in compared] == [good.encode("ascii")] * 3
    assert [b for _, b in compared] == [good.encode(), near_miss.encode(), b"x"]


def test_intent_to_receive_handshake(receiver, staging):
    good = post(receiver.url, ITR_BODY, xero_signature(WEBHOOK_KEY, ITR_BODY))
    assert (good.status_code, good.content) == (200, b"")
    for bad in (xero_signature("another-key", ITR_BODY), "", None, "not base64 at all"):
        refused = post(receiver.url, ITR_BODY, bad)
        assert (refused.status_code, refused.content) == (401, b""), bad
    # Signed over other bytes (one space less) than those sent: refused.
    assert post(receiver.url, ITR_BODY, xero_signature(WEBHOOK_KEY, ITR_BODY.replace(b": 0", b":0"))).status_code == 401
    with staging.begin() as conn:
        assert inbox.count_events(conn) == 0


def test_mis_signed_events_are_not_recorded(receiver, staging):
    body = delivery(event("c-1"))
    assert post(receiver.url, body, xero_signature("wrong", body)).status_code == 401
    # A signed body that is not a Xero payload, and one far larger than Xero sends: refused, nothing kept.
    assert post(receiver.url, b"[1, 2]", xero_signature(WEBHOOK_KEY, b"[1, 2]")).status_code == 400
    huge = delivery(*[event(f"c-{i}") for i in range(6000)])
    assert post(receiver.url, huge, xero_signature(WEBHOOK_KEY, huge)).status_code == 413
    with staging.begin() as conn:
        assert inbox.count_events(conn) == 0


def test_replayed_delivery_is_recorded_once(receiver, staging):
    body = delivery(event("c-1"), event("i-1", category="INVOICE", type_="CREATE"))
    for _ in range(3):  # the first delivery, Xero's retry, a replay
        answer = post(receiver.url, body, xero_signature(WEBHOOK_KEY, body))
        assert (answer.status_code, answer.content) == (200, b"")
    with staging.begin() as conn:
        assert sorted((e.event_category, e.resource_id) for e in inbox.unprocessed(conn)) == [
            ("CONTACT", "c-1"), ("INVOICE", "i-1")]


def test_a_concurrent_burst_of_duplicates_is_one_entry(receiver, staging):
    bodies = [delivery(event("c-7"), sequence=n) for n in range(1, 21)]  # same event, different envelopes
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda b: post(receiver.url, b, xero_signature(WEBHOOK_KEY, b)), bodies))
    assert [a.status_code for a in answers] == [200] * 20
    with staging.begin() as conn:
        assert [e.resource_id for e in inbox.unprocessed(conn)] == ["c-7"]


def test_answers_200_only_after_commit(staging):
    receiver = start_receiver(staging.url, write_timeout_s=1.0)
    try:
        body = delivery(event("c-1"))
        signature = xero_signature(WEBHOOK_KEY, body)
        assert post(receiver.url, ITR_BODY, xero_signature(WEBHOOK_KEY, ITR_BODY)).status_code == 200
        # Another writer holds the inbox: the events cannot be committed, so they are not acknowledged.
        with staging.engine.connect() as blocker:
            if blocker.dialect.name == "postgresql":
                blocker.exec_driver_sql("BEGIN")
                blocker.exec_driver_sql("LOCK TABLE webhook_inbox IN EXCLUSIVE MODE")
            else:
                blocker.exec_driver_sql("BEGIN IMMEDIATE")
            answer = post(receiver.url, body, signature)
            assert (answer.status_code, answer.content) == (503, b"")
            blocker.rollback()
        with staging.begin() as conn:
            assert inbox.count_events(conn) == 0
        # Xero's retry, once staging is back, is recorded.
        assert post(receiver.url, body, signature).status_code == 200
        with staging.begin() as conn:
            assert inbox.count_events(conn) == 1
    finally:
        receiver.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_staging_down_is_a_5xx_and_never_leaks_the_key(caplog):
    receiver = start_receiver(f"postgresql+psycopg://sfxero:pw-secret@127.0.0.1:{_closed_port()}/nowhere")
    try:
        body = delivery(event("c-1"))
        answer = post(receiver.url, body, xero_signature(WEBHOOK_KEY, body))
        assert (answer.status_code, answer.content) == (503, b"")
    finally:
        receiver.stop()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "not recorded, answered 503" in logged
    assert WEBHOOK_KEY not in logged and "pw-secret" not in logged


def sfxero(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sfxero_pipelines.cli", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_missing_webhook_key_is_one_line_exit_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XERO_WEBHOOK_KEY"}
    env["SFXERO_STAGING_URL"] = f"sqlite:///{tmp_path / 'staging.db'}"
    result = sfxero("webhooks", "--port", str(_closed_port()), env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "sfxero: XERO_WEBHOOK_KEY: not set: the webhook signing key Xero shows for the subscription "
        "(the sandbox writes one to .sfxero/sandbox.env)"]


def test_sfxero_webhooks_serves_and_records(tmp_path):
    port = _closed_port()
    url = f"sqlite:///{tmp_path / 'staging.db'}"
    env = {**os.environ, "XERO_WEBHOOK_KEY": WEBHOOK_KEY, "SFXERO_STAGING_URL": url}
    child = subprocess.Popen([sys.executable, "-m", "sfxero_pipelines.cli", "webhooks", "--port", str(port)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = delivery(event("c-1"))
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = post(f"http://127.0.0.1:{port}/webhooks/xero", body, xero_signature(WEBHOOK_KEY, body))
                break
            except requests.ConnectionError:
                assert child.poll() is None and time.monotonic() < deadline, "sfxero webhooks did not start"
                time.sleep(0.2)
        assert answer.status_code == 200
    finally:
        child.terminate()
        output = child.communicate(timeout=30)[0]
    assert WEBHOOK_KEY not in output
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert [e.resource_id for e in inbox.unprocessed(conn)] == ["c-1"]
    engine.dispose()
