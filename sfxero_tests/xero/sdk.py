"""Helpers that drive the real xero-python SDK (no sfxero code) against an emulator."""

from __future__ import annotations

from xero_python.accounting import AccountingApi
from xero_python.api_client import ApiClient
from xero_python.api_client.configuration import Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
from xero_python.identity import IdentityApi


def sdk_client(server, token: dict | None = None, monkeypatch=None) -> tuple[ApiClient, dict]:
    env = server.env
    holder: dict = {"token": dict(token or {})}
    cfg = Configuration()
    cfg.oauth2_token = OAuth2Token(client_id=env["XERO_CLIENT_ID"], client_secret=env["XERO_CLIENT_SECRET"])
    cfg.ssl_ca_cert = env["SFXERO_CA_BUNDLE"]
    client = ApiClient(cfg, oauth2_token_getter=lambda: holder["token"],
                       oauth2_token_saver=lambda t: holder.__setitem__("token", t))
    client.rest_client.pool_manager.clear()
    client.rest_client.pool_manager.connection_pool_kw["retries"] = False
    if monkeypatch is not None:
        for attr in ("client_credentials_token_url", "refresh_token_url"):
            monkeypatch.setattr(TokenApi, attr, env["XERO_IDENTITY_URL"] + "/connect/token")
    return client, holder


def accounting(server, client: ApiClient) -> AccountingApi:
    return AccountingApi(client, base_url=server.env["XERO_API_URL"])


def identity(server, client: ApiClient) -> IdentityApi:
    return IdentityApi(client, base_url=server.env["XERO_IDENTITY_URL"])


def cc_client(server, monkeypatch):
    """SDK client holding a client-credentials token obtained by the SDK itself."""
    client, holder = sdk_client(server, monkeypatch=monkeypatch)
    holder["token"] = {"access_token": "", "scope": "", "expires_in": 0, "token_type": "Bearer"}
    client.get_client_credentials_token()
    return client, holder
