"""`XeroResource`: the one way production code talks to Xero (or the sandbox emulator).

A `dg.ConfigurableResource` whose fields are the docs/architecture.md §8 settings (secrets as `dg.EnvVar`). Call
`get_client()` for a `XeroClient` (see `client.py` for the SDK quirks it fixes, the pacing and the
retry policy) and use it as a context manager:

    with xero.get_client() as client:
        for page in client.iter_pages("Invoices", if_modified_since=cursor):
            ...
        context.add_output_metadata({"xero_api_calls": dict(client.api_calls)})

Tokens: a connection stored by `sfxero connect xero` (table `oauth_token` in the staging database)
is used when there is one, shared by every client; `refresh_token` (XERO_REFRESH_TOKEN) with a tenant
seeds that store once; otherwise client credentials (custom connection), or a tenant-less
`refresh_token` kept in memory.

`xero_resource_from_env()` builds one from the environment (the variables that are set), without
registering it anywhere.
"""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from ...errors import ConfigError
from ...settings import check_ca_bundle
from ..env_values import env_value
from ...clients.secret_key import token_cipher
from ...clients.xero import XeroClient
from ...clients.xero_tokens import StoredTokenProvider, stored_provider
from ...settings import staging_url

DEFAULT_API_URL = "https://api.xero.com/api.xro/2.0"
DEFAULT_IDENTITY_URL = "https://identity.xero.com"


class XeroResource(dg.ConfigurableResource):
    """Xero Accounting API access for one organisation: tokens, pacing, retries, call accounting."""

    api_url: str = Field(default=DEFAULT_API_URL, description="Accounting API base URL (XERO_API_URL).")
    identity_url: str = Field(default=DEFAULT_IDENTITY_URL, description="Identity base URL (XERO_IDENTITY_URL).")
    client_id: str = Field(description="OAuth2 client id (XERO_CLIENT_ID).", repr=False)
    client_secret: str = Field(description="OAuth2 client secret (XERO_CLIENT_SECRET).", repr=False)
    tenant_id: str | None = Field(default=None, description="Xero organisation id (XERO_TENANT_ID); optional "
                                  "for custom connections, which reach exactly one organisation.")
    ca_bundle: str | None = Field(default=None, description="Extra CA to trust (SFXERO_CA_BUNDLE).")
    refresh_token: str | None = Field(default=None, repr=False, description="Refresh token for auth-code apps; "
                                      "client credentials (custom connection) are used when unset.")
    timeout_s: float = 60
    max_retries: int = 5
    per_minute_limit: int = Field(default=60, description="Calls a minute sfxero allows itself per organisation "
                                  "(XERO_MINUTE_LIMIT): Xero's 60, or fewer to leave room for other apps.")
    concurrent_limit: int = 5
    day_limit: int = Field(default=5000, description="The tenant's daily call limit (tier dependent).")
    day_budget_stop_share: float = 0.95
    limit_window_s: float = Field(default=60.0, description="Length of Xero's rate-limit 'minute' (tests shorten "
                                  "it together with the emulator's).")
    backoff_initial_s: float = 0.5
    pacing_url: str | None = Field(default=None, repr=False, description="Where the per-tenant pacing state lives "
                                   "(SFXERO_PACING_URL, redis://...): shared by every process and machine "
                                   "calling Xero. Unset: each client paces in its own memory (one process).")
    pacing_namespace: str | None = Field(default=None, description="Prefix of the pacing keys in Redis "
                                         "(SFXERO_PACING_NAMESPACE; default `sfxero:pace:`).")
    staging_url: str | None = Field(default=None, description="Where stored connections live (SFXERO_STAGING_URL; "
                                    "default the staging database).", repr=False)

    def get_client(self) -> XeroClient:
        client_id, client_secret = env_value(self.client_id), env_value(self.client_secret)
        if not client_id:
            raise ConfigError("XERO_CLIENT_ID", "is not set")
        if not client_secret:
            raise ConfigError("XERO_CLIENT_SECRET", "is not set")
        if not 0 < self.day_budget_stop_share <= 1:
            raise ConfigError("day_budget_stop_share", "must be in (0, 1]")
        try:
            per_minute = int(env_value(self.per_minute_limit))
        except ValueError:  # dg.EnvVar.int reading something else
            per_minute = 0
        if per_minute < 1:
            given = os.environ.get(MINUTE_LIMIT_VAR) or self.per_minute_limit
            raise ConfigError(MINUTE_LIMIT_VAR, f"must be a whole number of calls a minute (Xero's limit is 60), "
                                                f"not {str(given)!r}")
        ca_bundle = check_ca_bundle(env_value(self.ca_bundle))
        identity_url = env_value(self.identity_url) or DEFAULT_IDENTITY_URL
        tenant_id = env_value(self.tenant_id)
        refresh_token = env_value(self.refresh_token)
        provider = None
        if not refresh_token or tenant_id:
            provider = stored_provider(staging_url=env_value(self.staging_url) or staging_url(),
                                       tenant_id=tenant_id, cipher_factory=token_cipher, identity_url=identity_url,
                                       client_id=client_id, client_secret=client_secret,
                                       verify=ca_bundle or True, timeout_s=self.timeout_s,
                                       seed_refresh_token=refresh_token,
                                       staging_named=bool(env_value(self.staging_url)))
            if provider is not None:
                tenant_id = provider.tenant_id
        return XeroClient(
            api_url=env_value(self.api_url) or DEFAULT_API_URL,
            identity_url=identity_url, token_provider=provider,
            client_id=client_id, client_secret=client_secret, tenant_id=tenant_id,
            ca_bundle=ca_bundle, timeout_s=self.timeout_s, max_retries=self.max_retries,
            per_minute_limit=per_minute, concurrent_limit=self.concurrent_limit,
            day_budget_stop_share=self.day_budget_stop_share, day_limit=self.day_limit,
            limit_window_s=self.limit_window_s, refresh_token=None if provider else refresh_token,
            backoff_initial_s=self.backoff_initial_s, pacing_url=env_value(self.pacing_url),
            pacing_namespace=env_value(self.pacing_namespace))

    def stored_connection(self, tenant_id: str, engine) -> StoredTokenProvider:
        """The token provider of one stored organisation on `engine` (the keep-alive rotates through it)."""
        client_id, client_secret = env_value(self.client_id), env_value(self.client_secret)
        if not client_id or not client_secret:
            raise ConfigError("XERO_CLIENT_ID" if not client_id else "XERO_CLIENT_SECRET", "is not set")
        return StoredTokenProvider(engine=engine, cipher=token_cipher(), tenant_id=tenant_id,
                                   identity_url=env_value(self.identity_url) or DEFAULT_IDENTITY_URL,
                                   client_id=client_id, client_secret=client_secret,
                                   verify=check_ca_bundle(env_value(self.ca_bundle)) or True, timeout_s=self.timeout_s)


#: Calls a minute per organisation (an int field: read with EnvVar.int).
MINUTE_LIMIT_VAR = "XERO_MINUTE_LIMIT"
_ENV = {"api_url": "XERO_API_URL", "identity_url": "XERO_IDENTITY_URL", "client_id": "XERO_CLIENT_ID",
        "client_secret": "XERO_CLIENT_SECRET", "tenant_id": "XERO_TENANT_ID", "ca_bundle": "SFXERO_CA_BUNDLE",
        "staging_url": "SFXERO_STAGING_URL", "refresh_token": "XERO_REFRESH_TOKEN",
        "pacing_url": "SFXERO_PACING_URL", "pacing_namespace": "SFXERO_PACING_NAMESPACE"}


def xero_resource_from_env(**overrides) -> XeroResource:
    """A XeroResource reading docs/architecture.md §8's variables (as `dg.EnvVar`, so values stay out of config dumps).
    Credentials are always bound, so definitions load anywhere; `get_client()` names a missing one.
    Unset optional variables keep their defaults."""
    kwargs: dict = {field: dg.EnvVar(var) for field, var in _ENV.items()
                    if field in ("client_id", "client_secret") or os.environ.get(var)}
    if os.environ.get(MINUTE_LIMIT_VAR):
        kwargs["per_minute_limit"] = dg.EnvVar.int(MINUTE_LIMIT_VAR)
    kwargs.update(overrides)
    return XeroResource(**kwargs)
