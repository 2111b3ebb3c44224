"""A stored Xero connection as consent leaves it, for the token tests: a fresh refresh token from the
sandbox (its test hook stands in for the browser), no access token yet."""

from __future__ import annotations

from cryptography.fernet import Fernet

from sfxero_pipelines.staging.state import tokens


def store_connection(staging, server, key: bytes) -> str:
    """Save the connection encrypted with `key`; returns its refresh token."""
    refresh = server.xero.issue_refresh_token()
    with staging.begin() as conn:
        tokens.save_connection(conn, Fernet(key), system="xero", tenant_id=server.env["XERO_TENANT_ID"],
                               tenant_name="Sandbox Trading Co", scopes="offline_access accounting.contacts",
                               refresh_token=refresh, access_token=None, access_expires_at=None)
    return refresh
