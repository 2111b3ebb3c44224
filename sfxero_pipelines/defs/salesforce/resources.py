"""`SalesforceResource`: Salesforce access for assets and the push step (a `dg.ConfigurableResource`).

Fields are the docs/architecture.md §8 settings; secrets are passed as `dg.EnvVar` and excluded from repr. The grant
follows what is configured: `auth` = "connection" (SALESFORCE_AUTH) -> the refresh token stored by
`sfxero connect salesforce`; otherwise (`auth` = "auto", the default) `private_key_file` + `username` -> JWT
bearer; `username` + `password` -> username-password; else client credentials. `get_client()` returns a
`SalesforceClient` (see `clients/salesforce/` for the simple-salesforce quirks it works around, pacing and retries):

    with salesforce.get_client() as sf:
        for page in sf.query_pages_auto("Account", soql, include_deleted=True):
            ...
        context.add_output_metadata({"salesforce_api_calls": dict(sf.api_calls)})

`salesforce_resource_from_env()` builds one from the variables that are set; it is not registered
anywhere by this module.
"""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from ...errors import ConfigError
from ...settings import check_ca_bundle
from ..env_values import env_value
from ...clients.salesforce import AUTH_MODES, SalesforceClient, Settings

_ENV = {
    "login_url": "SALESFORCE_LOGIN_URL",
    "client_id": "SALESFORCE_CLIENT_ID",
    "client_secret": "SALESFORCE_CLIENT_SECRET",
    "username": "SALESFORCE_USERNAME",
    "password": "SALESFORCE_PASSWORD",
    "private_key_file": "SALESFORCE_PRIVATE_KEY_FILE",
    "api_version": "SALESFORCE_API_VERSION",
    "ca_bundle": "SFXERO_CA_BUNDLE",
    "auth": "SALESFORCE_AUTH",
    "staging_url": "SFXERO_STAGING_URL",
}


class SalesforceResource(dg.ConfigurableResource):
    """One Salesforce org: OAuth, timeouts, retries, API-budget pacing and call accounting."""

    login_url: str = Field(description="Token endpoint host, e.g. https://login.salesforce.com or a My Domain "
                           "(SALESFORCE_LOGIN_URL).")
    client_id: str = Field(description="Connected/External Client App consumer key (SALESFORCE_CLIENT_ID).")
    client_secret: str | None = Field(default=None, repr=False,
                                      description="Consumer secret (SALESFORCE_CLIENT_SECRET); not used by JWT.")
    username: str | None = Field(default=None, description="Integration user (SALESFORCE_USERNAME).")
    password: str | None = Field(default=None, repr=False,
                                 description="Password + security token (SALESFORCE_PASSWORD): password grant.")
    private_key_file: str | None = Field(default=None, description="PEM RSA key for the JWT bearer grant "
                                         "(SALESFORCE_PRIVATE_KEY_FILE).")
    api_version: str = Field(default="59.0", description="REST API version without 'v' (SALESFORCE_API_VERSION).")
    ca_bundle: str | None = Field(default=None, description="Extra CA to trust (SFXERO_CA_BUNDLE).")
    timeout_s: float = Field(default=60, description="Connect/read timeout for every HTTP call.")
    max_retries: int = Field(default=5, description="Retries for 5xx, connection errors and UNABLE_TO_LOCK_ROW.")
    budget_stop_share: float = Field(default=0.9, description="Stop (BudgetExhausted) once this share of the daily "
                                     "API request limit is used.")
    bulk_threshold: int = Field(default=50_000, description="Reads expected at or above this many rows use Bulk 2.0.")
    retry_backoff_s: float = Field(default=0.5, description="Base of the exponential retry backoff (with jitter).")
    auth: str = Field(default="auto", description="How to sign in (SALESFORCE_AUTH): 'auto' picks JWT bearer, "
                      "password or client credentials from what is set; 'connection' uses the refresh token "
                      "stored by `sfxero connect salesforce`.")
    session_timeout_s: float = Field(default=7200, description="The org's session timeout in seconds (Setup → "
                                     "Session Settings; Salesforce's default 2 hours): how long one session, "
                                     "cached encrypted in the staging database, serves every asset and run.")
    staging_url: str | None = Field(default=None, repr=False, description="Where the stored connection lives "
                                    "(SFXERO_STAGING_URL; default the staging database).")

    def settings(self) -> Settings:
        values = {name: env_value(getattr(self, name)) for name in Settings.__dataclass_fields__}
        for required in ("login_url", "client_id"):
            if not values.get(required):
                raise ConfigError(_ENV[required], "is not set")
        if not values["login_url"].startswith("https://"):
            raise ConfigError(_ENV["login_url"], "must be an https:// URL")
        values["auth"] = (values.get("auth") or "auto").strip().lower()
        if values["auth"] not in AUTH_MODES:
            raise ConfigError(_ENV["auth"], f"must be one of {', '.join(AUTH_MODES)}")
        connection = values["auth"] == "connection"  # the web-server flow: the app's secret is optional
        if not connection and not (values["private_key_file"] and values["username"]) and not values.get("client_secret"):
            raise ConfigError(_ENV["client_secret"], "is not set (needed unless SALESFORCE_PRIVATE_KEY_FILE and "
                              "SALESFORCE_USERNAME select the JWT bearer grant)")
        if not 0 < float(values["budget_stop_share"]) <= 1:
            raise ConfigError("budget_stop_share", "must be in (0, 1]")
        values["ca_bundle"] = check_ca_bundle(values["ca_bundle"])
        return Settings(**values)

    def get_client(self) -> SalesforceClient:
        return SalesforceClient(self.settings())


def salesforce_resource_from_env() -> SalesforceResource:
    """A resource reading docs/architecture.md §8's variables (only those that are set are bound)."""
    kwargs = {field: dg.EnvVar(var) for field, var in _ENV.items()
              if field in ("login_url", "client_id") or os.environ.get(var)}
    return SalesforceResource(**kwargs)
