"""`sfxero webhooks`: serve the webhook receiver (`webhooks/receiver.py`) with uvicorn.

Reads the signing key from XERO_WEBHOOK_KEY (the Xero developer portal shows it; the sandbox writes
one to its env file) and records events into the staging database of SFXERO_STAGING_URL. It listens
on plain HTTP: Xero requires HTTPS on 443, which a reverse proxy or tunnel in front provides (README).
"""

from __future__ import annotations

import logging
import os

import click

from ..errors import ConfigError
from ..settings import display_url, staging_url
from ..webhooks.receiver import XERO_PATH, InboxWriter, create_app

KEY_VAR = "XERO_WEBHOOK_KEY"


def webhook_key() -> str:
    key = os.environ.get(KEY_VAR, "").strip()
    if not key:
        raise ConfigError(KEY_VAR, "not set: the webhook signing key Xero shows for the subscription "
                          "(the sandbox writes one to .sfxero/sandbox.env)")
    return key


def run_webhooks(host: str, port: int) -> None:
    import uvicorn

    key = webhook_key()
    url = staging_url()
    writer = InboxWriter(url)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    click.echo(f"sfxero webhooks: POST http://{host}:{port}{XERO_PATH} -> webhook_inbox in {display_url(url)}")
    try:
        uvicorn.run(create_app(webhook_key=key, writer=writer), host=host, port=port, log_level="warning",
                    access_log=False, lifespan="off", server_header=False)
    finally:
        writer.dispose()
