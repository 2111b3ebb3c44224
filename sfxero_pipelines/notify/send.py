"""Carry a failure report to the channels `sfxero.yaml`'s `notify:` names: a webhook, SMTP, or the log.

`notify` never raises: a notifier that fails (webhook down, SMTP refusing the login) is logged and
reported in its return value, because the sensor calling it would otherwise fail and evaluate the
same failed run again, and again. Nothing it sends or logs carries a secret: the report is scrubbed
first, SMTP credentials come from the environment variables the config names (never from the
YAML), and a webhook's URL (whose path is often itself a token) is shown only as scheme://host.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from urllib.parse import urlsplit

import requests

from ..errors import SfxeroError
from ..config import NotifyConfig, SmtpConfig
from .message import RunFailure, first_line, scrub

#: Seconds a webhook or an SMTP server gets to answer: a slow receiver must not hold up the sensor.
TIMEOUT = 10.0


class NotifyError(SfxeroError):
    """A notification could not be delivered (the message says where, never with a secret)."""


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


def post_webhook(url: str, payload: dict, *, timeout: float = TIMEOUT) -> None:
    """POST `payload` as JSON; anything but a 2xx answer is a NotifyError."""
    try:
        # No redirects: following one would turn the POST into a GET and "succeed" without delivering.
        response = requests.post(url, json=payload, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise NotifyError(f"webhook {_where(url)}: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise NotifyError(f"webhook {_where(url)} answered HTTP {response.status_code}")


def _login(smtp: SmtpConfig, environ: Mapping[str, str]) -> tuple[str, str] | None:
    if not smtp.username_env and not smtp.password_env:
        return None
    if not (smtp.username_env and smtp.password_env):
        raise NotifyError("notify.smtp: username_env and password_env must be set together")
    values = []
    for key, name in (("username_env", smtp.username_env), ("password_env", smtp.password_env)):
        value = environ.get(name)
        if not value:
            raise NotifyError(f"notify.smtp.{key}: environment variable {name} is not set")
        values.append(value)
    return values[0], values[1]


def email_for(smtp: SmtpConfig, report: RunFailure) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = report.subject()
    message["From"] = smtp.sender
    message["To"] = ", ".join(smtp.to)
    message.set_content(report.text())
    return message


def send_email(smtp: SmtpConfig, report: RunFailure, *, environ: Mapping[str, str] | None = None,
               timeout: float = TIMEOUT) -> None:
    """Mail the report. Port 465 is implicit TLS; otherwise STARTTLS when `starttls` (the default)."""
    environ = os.environ if environ is None else environ
    login = _login(smtp, environ)
    implicit_tls = smtp.port == 465
    try:
        if implicit_tls:
            server = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
        with server:
            if smtp.starttls and not implicit_tls:
                server.starttls(context=ssl.create_default_context())
            if login:
                server.login(*login)
            server.send_message(email_for(smtp, report))
    except (smtplib.SMTPException, OSError) as exc:
        detail = first_line(str(exc)) or type(exc).__name__
        raise NotifyError(f"SMTP {smtp.host}:{smtp.port}: {type(exc).__name__}: {detail}") from None


def notify(report: RunFailure, cfg: NotifyConfig, log: logging.Logger | logging.LoggerAdapter, *,
           environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Send `report` to every configured channel; log it when none is configured.

    Returns channel → "sent" | "logged" | "failed: <why>". Never raises.
    """
    environ = os.environ if environ is None else environ
    secret_names = [cfg.smtp.username_env, cfg.smtp.password_env] if cfg.smtp else []
    report = report.scrubbed(environ, secret_names)
    if not cfg.webhook_url and not cfg.smtp:
        log.warning("run failure (no notify.webhook_url or notify.smtp in sfxero.yaml, so only logged):\n"
                    + report.text())
        return {"log": "logged"}
    channels = []
    if cfg.webhook_url:
        channels.append(("webhook", lambda: post_webhook(cfg.webhook_url, report.payload())))
    if cfg.smtp:
        channels.append(("email", lambda: send_email(cfg.smtp, report, environ=environ)))
    outcome: dict[str, str] = {}
    for name, send in channels:
        try:
            send()
        except Exception as exc:  # noqa: BLE001 — any notifier failure is logged, never raised (see module doc)
            why = scrub(str(exc) if isinstance(exc, NotifyError) else f"{type(exc).__name__}: {first_line(str(exc))}",
                        environ, secret_names)
            log.error(f"could not notify {name} about failed run {report.run_id} of {report.job}: {why}")
            outcome[name] = f"failed: {why}"
        else:
            log.info(f"notified {name} about failed run {report.run_id} of {report.job}")
            outcome[name] = "sent"
    return outcome
