"""Checks made before `sfxero` launches a run, so that what would otherwise fail inside the run
(after its retries, as a traceback) is one line naming the key or variable instead: a
`ConfigError`, exit 2.

In order, cheapest first; nothing is started (no sandbox, no run) until the local checks pass:
1. `sfxero.yaml`: types, ranges and cross-references (`config.load_config`).
2. `SFXERO_STAGING_URL`: the database answers within `CONNECT_TIMEOUT_S` (no retries: an address
   that refuses or a database that does not exist does not heal by asking again).
3. `DAGSTER_HOME`: a directory that exists or can be created, and is writable.
4. For stages that call the APIs, with the configured credentials or the sandbox's:
   `SFXERO_CA_BUNDLE` is a CA file; Xero accepts its credentials and reaches `XERO_TENANT_ID`
   (a token and `/connections`, which the API's call limits do not count); Salesforce accepts its
   credentials, every object in `extract.salesforce.objects` is in the org's global describe
   (`/sobjects`, one call), and every mapped field (`mapping.contact_fields[].sf`, the enabled
   recipes' filters, the fields declared recipes name) is in its object's describe (one call per object
   they read).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..config import SfxeroConfig, config_path, load_config
from ..errors import AuthError, ConfigError, redact
from ..recipes import R1, R2, R7
from ..settings import check_ca_bundle, dagster_home, staging_url

#: Seconds to wait for the staging database to accept a connection.
CONNECT_TIMEOUT_S = 3
#: Stages whose runs call Salesforce and Xero.
API_STAGES = ("extract", "push", "all")
#: Which object each enabled recipe's filters name fields of.
FILTER_OBJECTS = {R1: "Account", R2: "Opportunity", R7: "Order"}


def preflight(stage: str = "all") -> SfxeroConfig:
    """Raise a `ConfigError` naming the first problem found; return the loaded config."""
    config = check_local()
    if stage in API_STAGES:
        from .connections import use_configured_or_sandbox

        with use_configured_or_sandbox():
            check_ca_bundle(os.environ.get("SFXERO_CA_BUNDLE"))
            check_xero()
            check_salesforce(config)
    return config


def check_local() -> SfxeroConfig:
    """Checks 1-3: what needs no API (and starts no sandbox)."""
    config = load_config()
    check_staging(staging_url())
    check_dagster_home(dagster_home())
    return config


def check_staging(url: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from ..settings import display_url, engine_for

    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        try:
            engine = engine_for(url)  # creates the file's directory, as a run would
        except OSError as exc:
            raise ConfigError("SFXERO_STAGING_URL", f"cannot create the directory of {parsed.database} "
                              f"({exc.strerror})") from None
    else:
        engine = sa.create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        # The driver's own first line says what is wrong (refused, unknown database, bad password).
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise ConfigError("SFXERO_STAGING_URL", f"cannot connect to {display_url(url)}: "
                          f"{redact(reason, [parsed.password])}") from None
    finally:
        engine.dispose()


def check_dagster_home(home: Path) -> None:
    if home.exists() and not home.is_dir():
        raise ConfigError("DAGSTER_HOME", f"{home} is a file, not a directory")
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("DAGSTER_HOME", f"cannot create {home} ({exc.strerror})") from None
    if not os.access(home, os.W_OK | os.X_OK):
        raise ConfigError("DAGSTER_HOME", f"{home} is not writable")


@contextmanager
def _credentials_are_configuration(system: str) -> Iterator[None]:
    try:
        yield
    except AuthError as exc:
        # The message names the variables to check, never their values.
        raise ConfigError(" / ".join(exc.variables) or f"{system} credentials",
                          f"refused by {system}: {exc.detail}") from None


def check_xero() -> None:
    """The credentials get a token, and the organisation is one they reach."""
    from ..defs.xero.resources import xero_resource_from_env

    resource = xero_resource_from_env(timeout_s=5, max_retries=1, backoff_initial_s=0.2)
    with _credentials_are_configuration("Xero"), resource.get_client() as client:
        tenants = {t.get("tenantId") for t in client.connections()}
        if client.tenant_id and client.tenant_id not in tenants:
            raise ConfigError("XERO_TENANT_ID", f"{client.tenant_id} is not an organisation these credentials "
                              f"reach ({len(tenants)} connected)")


def check_salesforce(config: SfxeroConfig) -> None:
    """Objects and mapped fields against the org's describe, with short timeouts (one retry)."""
    from ..clients.salesforce import SalesforceClient
    from ..defs.salesforce.resources import salesforce_resource_from_env

    source = str(config_path())
    settings = dataclasses.replace(salesforce_resource_from_env().settings(), timeout_s=5, max_retries=1,
                                   retry_backoff_s=0.2)
    with _credentials_are_configuration("Salesforce"), SalesforceClient(settings) as client:
        known = {o["name"].lower() for o in client.describe_global().get("sobjects") or []}
        for i, name in enumerate(config.extract.salesforce.objects):
            if name.lower() not in known:
                raise ConfigError(f"{source}: extract.salesforce.objects[{i}]",
                                  f"Salesforce has no object '{name}' (not in the org's describe; check the "
                                  "API name and the integration user's access)")
        fields: dict[str, set[str]] = {}

        def has_field(sobject: str, name: str) -> bool:
            if sobject not in fields:
                fields[sobject] = {f["name"].lower() for f in client.describe(sobject).get("fields") or []}
            return name.lower() in fields[sobject]

        for i, mapping in enumerate(config.mapping.contact_fields):
            sobject, _, name = mapping.sf.rpartition(".")
            sobject = sobject or "Account"
            if not has_field(sobject, name):
                raise ConfigError(f"{source}: mapping.contact_fields[{i}].sf",
                                  f"{sobject} has no field '{name}' (not in its describe)")
        for recipe, sobject in FILTER_OBJECTS.items():
            cfg = getattr(config.recipes, recipe)
            for i, flt in enumerate(cfg.filters if cfg.enabled else []):
                if not has_field(sobject, flt.field):
                    raise ConfigError(f"{source}: recipes.{recipe}.filters[{i}].field",
                                      f"{sobject} has no field '{flt.field}' (not in its describe)")
        declared = {n: r for n, r in config.recipes.declarations.items() if r.enabled}
        if declared:
            # Declared recipes: objects, fields and the kinds transforms take, against the org's describe.
            from ..config.declared import salesforce_problems

            described: dict[str, dict[str, str] | None] = {}

            def describe(sobject: str) -> dict[str, str] | None:
                if sobject not in described:
                    described[sobject] = None if sobject.lower() not in known else {
                        f["name"]: f["type"] for f in client.describe(sobject).get("fields") or []}
                return described[sobject]

            problems = salesforce_problems(declared, describe)
            if problems:
                raise ConfigError(f"{source}: {problems[0][0]}", problems[0][1])
