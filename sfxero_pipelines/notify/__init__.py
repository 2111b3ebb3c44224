"""Failure notifications: what a failed run's message says, and the channels that carry it.

Pure logic, no Dagster: `message` builds the report (and scrubs secrets from it), `send` posts it
to the webhook and/or mails it through SMTP, as `sfxero.yaml`'s `notify:` section asks. The
run-failure sensor in `defs/automation` turns a failed run into a `RunFailure` and calls `notify`.
"""

from .message import FailedStep, RunFailure, first_line, scrub
from .send import NotifyError, notify, post_webhook, send_email

__all__ = ["FailedStep", "NotifyError", "RunFailure", "first_line", "notify", "post_webhook", "scrub", "send_email"]
