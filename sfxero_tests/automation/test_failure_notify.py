"""Failure notifications end to end: a real failed run on a real instance, the run-failure sensor
evaluated as the daemon does, and the message received by a local webhook (HTTP on 127.0.0.1) and
a local SMTP server. The body names the job, the run, the failed step and the first line of its
error; no secret reaches it (nor the log); SMTP logs in with credentials from the environment
variables the config names; with no channel configured the failure is logged; a failing channel
is logged, the other channels still get the message, and the sensor itself never fails."""

from __future__ import annotations

import logging

import dagster as dg
import pytest

from sfxero_pipelines.defs.automation.failures import build_failure_sensor, run_failure
from sfxero_pipelines.notify import FailedStep, RunFailure, notify, scrub
from sfxero_pipelines.config import NotifyConfig, SmtpConfig

from .conftest import status_event

SECRET = "xero-s3cret-value-42"
ERROR = f"ApiError: xero POST /Invoices failed (500 ): token for client {SECRET} expired\nsecond line of detail"


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("XERO_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("SFXERO_STAGING_URL", "postgresql+psycopg://sync:pg-pa55word@db.internal/staging")


def start(sensor, instance) -> str:
    """The sensor's first daemon tick: it sets the cursor (runs that fail after it are handled)."""
    return sensor.evaluate_tick(dg.build_sensor_context(instance=instance)).cursor


def tick(sensor, instance, cursor: str):
    """A later tick: handles the runs that failed since `cursor`."""
    return sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_failed_run_is_posted_to_the_webhook(instance, run_job, webhook, secret_env):
    sensor = build_failure_sensor(NotifyConfig(webhook_url=webhook.url), dg.DefaultSensorStatus.RUNNING)
    cursor = start(sensor, instance)
    failed = run_job("push_xero_job", fail=True, error=ERROR, tags={"dagster/partition": "2025-03-01"})

    data = tick(sensor, instance, cursor)
    assert not data.run_requests
    [received] = webhook.requests
    assert received["path"] == "/hooks/T0KEN-in-path"
    assert received["content_type"] == "application/json"
    body = received["json"]
    assert body == {
        "event": "sfxero.run_failed",
        "job": "push_xero_job",
        "run_id": failed.run_id,
        "short_run_id": failed.run_id[:8],
        "run_path": f"/runs/{failed.run_id}",
        "partition": "2025-03-01",
        "failed_step": "push_xero_job_step",
        "error": "ValueError: ApiError: xero POST /Invoices failed (500 ): token for client *** expired",
        "failed_steps": [{"step": "push_xero_job_step",
                          "error": "ValueError: ApiError: xero POST /Invoices failed (500 ): token for client *** expired"}],
        "message": body["message"],
    }
    assert body["message"].startswith('Execution of run for "push_xero_job" failed.')
    assert SECRET not in repr(received)

    # The run is handled once: the next tick notifies nothing.
    tick(sensor, instance, data.cursor)
    assert len(webhook.requests) == 1


def test_failed_run_is_mailed_with_login_from_the_environment(instance, run_job, smtp_server, monkeypatch, secret_env):
    monkeypatch.setenv("SFXERO_SMTP_USER", "alerts@example.com")
    monkeypatch.setenv("SFXERO_SMTP_PASSWORD", "smtp-pa55word-from-env")
    cfg = NotifyConfig(smtp=SmtpConfig(host=smtp_server.host, port=smtp_server.port, sender="sfxero@example.com",
                                       to=["ops@example.com", "finance@example.com"], starttls=False,
                                       username_env="SFXERO_SMTP_USER", password_env="SFXERO_SMTP_PASSWORD"))
    sensor = build_failure_sensor(cfg, dg.DefaultSensorStatus.RUNNING)
    cursor = start(sensor, instance)
    failed = run_job("check_job", fail=True, error=ERROR)
    tick(sensor, instance, cursor)

    [session] = smtp_server.sessions
    assert session.auth == ("alerts@example.com", "smtp-pa55word-from-env")
    assert session.mail_from == "sfxero@example.com"
    assert session.rcpt_to == ["ops@example.com", "finance@example.com"]
    mail = session.message
    assert mail["Subject"] == f"[sfxero] check_job failed at check_job_step (run {failed.run_id[:8]})"
    text = mail.get_payload(decode=True).decode()
    assert f"sfxero: run {failed.run_id} of check_job failed." in text
    assert f"/runs/{failed.run_id}" in text
    assert "Step check_job_step: ValueError: ApiError: xero POST /Invoices failed (500 ): token for client *** expired" in text
    assert SECRET not in text and "smtp-pa55word-from-env" not in text and "second line" not in text


def test_no_channel_logs_the_failure(instance, run_job, caplog):
    failed = run_job("reconcile_job", fail=True, error="KeyError: 'Name'")
    context = dg.build_run_status_sensor_context(
        sensor_name="notify_run_failure_sensor", dagster_instance=instance, dagster_run=failed,
        dagster_event=status_event(instance, failed, dg.DagsterEventType.RUN_FAILURE)).for_run_failure()
    report = run_failure(context)
    assert report.steps == (FailedStep("reconcile_job_step", "ValueError: KeyError: 'Name'"),)

    log = logging.getLogger("sfxero.test.notify")
    with caplog.at_level(logging.INFO, logger=log.name):
        assert notify(report, NotifyConfig(), log) == {"log": "logged"}
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert f"sfxero: run {failed.run_id} of reconcile_job failed." in record.getMessage()
    assert "Step reconcile_job_step: ValueError: KeyError: 'Name'" in record.getMessage()

    # The sensor with no channel: handles the run without error (logs through its own context).
    sensor = build_failure_sensor(NotifyConfig(), dg.DefaultSensorStatus.RUNNING)
    sensor(context)


def test_a_failing_channel_is_logged_and_the_others_still_notified(webhook, smtp_server, caplog, secret_env):
    webhook.status = 500
    cfg = NotifyConfig(webhook_url=webhook.url, smtp=SmtpConfig(
        host=smtp_server.host, port=smtp_server.port, sender="sfxero@example.com", to=["ops@example.com"],
        starttls=False))
    report = RunFailure(job="extract_job", run_id="0123456789abcdef", message="Execution failed.",
                        steps=(FailedStep("sf_account", f"ApiError: refused {SECRET}"),))
    log = logging.getLogger("sfxero.test.notify")
    with caplog.at_level(logging.INFO, logger=log.name):
        outcome = notify(report, cfg, log)
    port = webhook.url.split(":")[2].split("/")[0]
    assert outcome == {"webhook": f"failed: webhook http://127.0.0.1:{port} answered HTTP 500", "email": "sent"}
    assert len(webhook.requests) == 1 and len(smtp_server.sessions) == 1
    assert webhook.requests[0]["json"]["error"] == "ApiError: refused ***"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "could not notify webhook about failed run 0123456789abcdef of extract_job" in logged
    assert "T0KEN" not in logged, "a webhook URL's path can be a secret: only scheme://host is logged"


def test_unreachable_receivers_and_missing_login_are_logged_not_raised(instance, run_job, monkeypatch, caplog):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.delenv("SFXERO_SMTP_PASSWORD", raising=False)
    cfg = NotifyConfig(webhook_url=f"http://127.0.0.1:{closed}/hook", smtp=SmtpConfig(
        host="127.0.0.1", port=closed, sender="a@example.com", to=["b@example.com"],
        username_env="SFXERO_SMTP_USER", password_env="SFXERO_SMTP_PASSWORD"))
    report = RunFailure(job="extract_job", run_id="r" * 36, message="failed")
    outcome = notify(report, cfg, logging.getLogger("sfxero.test.notify"))
    assert outcome["webhook"] == f"failed: webhook http://127.0.0.1:{closed}: ConnectionError"
    assert outcome["email"] == "failed: notify.smtp.username_env: environment variable SFXERO_SMTP_USER is not set"

    # Through the sensor as the daemon runs it: the tick succeeds (no error on the tick, no retry loop).
    sensor = build_failure_sensor(cfg, dg.DefaultSensorStatus.RUNNING)
    cursor = start(sensor, instance)
    run_job("extract_job", fail=True)
    data = tick(sensor, instance, cursor)
    assert data.cursor != cursor
    assert not [r for r in data.dagster_run_reactions if r.error]


def test_scrub_removes_secret_env_values_and_url_passwords(secret_env):
    text = (f"connect postgresql+psycopg://sync:pg-pa55word@db.internal/staging failed; secret {SECRET}; "
            "https://user:hunter22@example.com/x")
    assert scrub(text) == ("connect postgresql+psycopg://sync:***@db.internal/staging failed; secret ***; "
                           "https://user:***@example.com/x")


def test_a_run_failing_outside_any_step_reports_the_run_error(instance, webhook, secret_env):
    """E.g. a resource that cannot start: no step failed, the run's own error is the message."""
    @dg.resource
    def staging_db(_):
        raise RuntimeError("could not connect to postgresql+psycopg://sync:pg-pa55word@db.internal/staging\ntrace")

    @dg.op(required_resource_keys={"staging"})
    def extract():
        pass

    @dg.job(name="extract_job", resource_defs={"staging": staging_db})
    def job():
        extract()

    sensor = build_failure_sensor(NotifyConfig(webhook_url=webhook.url), dg.DefaultSensorStatus.RUNNING)
    cursor = start(sensor, instance)
    failed = job.execute_in_process(instance=instance, raise_on_error=False)
    tick(sensor, instance, cursor)
    [received] = webhook.requests
    body = received["json"]
    assert body["run_id"] == failed.run_id and body["failed_step"] is None and body["failed_steps"] == []
    assert body["error"] == body["message"] == (
        'Execution of run for "extract_job" failed. An exception was thrown during execution. '
        "RuntimeError: could not connect to postgresql+psycopg://sync:***@db.internal/staging")
