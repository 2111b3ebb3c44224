"""`sfxero connect salesforce` and `sfxero disconnect salesforce`: the stored Salesforce connection.

`connect salesforce` runs Salesforce's web-server flow (authorization code with PKCE): a one-shot server
on `http://127.0.0.1:<port>/callback` (the callback URL to register on the Connected App), the consent
page opened in the browser (or printed with `--no-browser`), the code exchanged for a refresh token, and
the org stored as the one Salesforce connection (table `oauth_token`, tokens encrypted; connecting again
replaces it). The sync uses it when SALESFORCE_AUTH=connection. `disconnect salesforce` revokes the
refresh token at Salesforce (its sessions end with it) and forgets the connection. Nothing printed
contains a token, the consumer secret or the key.

The Connected App comes from SALESFORCE_LOGIN_URL / SALESFORCE_CLIENT_ID (SALESFORCE_CLIENT_SECRET when
the app requires it for the web-server flow), or from a running sandbox (`.sfxero/sandbox.env`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import click

from ..errors import AuthError, ConfigError


@dataclass(frozen=True)
class ConnectedApp:
    login_url: str
    client_id: str
    client_secret: str | None = field(repr=False)
    ca_bundle: str | None


def _connected_app() -> ConnectedApp:
    from ..settings import check_ca_bundle, has_salesforce_credentials
    from .connections import app_env

    env = app_env(has_salesforce_credentials, "SALESFORCE_CLIENT_ID", "is not set (create a Connected App, see "
                  "README 'Connect your real accounts'; or start `sfxero sandbox`)")
    login_url = env["SALESFORCE_LOGIN_URL"]
    if not login_url.startswith("https://"):
        raise ConfigError("SALESFORCE_LOGIN_URL", "must be an https:// URL")
    return ConnectedApp(login_url=login_url, client_id=env["SALESFORCE_CLIENT_ID"],
                        client_secret=env.get("SALESFORCE_CLIENT_SECRET") or None,
                        ca_bundle=check_ca_bundle(env.get("SFXERO_CA_BUNDLE") or None))


def _transport(app: ConnectedApp):
    from ..clients.salesforce.transport import Transport

    return Transport(timeout_s=30, ca_bundle=app.ca_bundle, max_retries=0, backoff_s=0.5, budget_stop_share=1.0)


def run_connect_salesforce(*, no_browser: bool, port: int, scopes: str) -> int:
    from ..clients.salesforce import auth
    from ..clients.salesforce.session_cache import forget_sessions
    from ..clients.secret_key import token_cipher
    from ..defs.staging.resources import staging_for_cli
    from ..staging.state import tokens
    from .oauth_loopback import checked_scopes, obtain_consent

    scopes = checked_scopes(scopes, any_of={"refresh_token", "offline_access"}, why="without it Salesforce gives "
                            "no refresh token and the connection ends with the session")
    app = _connected_app()
    staging = staging_for_cli()
    cipher = token_cipher()
    consent = obtain_consent(
        system="Salesforce", port=port, no_browser=no_browser,
        register="Callback URL (register it on your Connected App)", access_to="your Salesforce org",
        consent_url=lambda redirect_uri, state, challenge: auth.authorize_url(
            app.login_url, client_id=app.client_id, redirect_uri=redirect_uri, scopes=scopes, state=state,
            challenge=challenge))
    transport = _transport(app)
    try:
        pair = auth.exchange_code(transport, app.login_url, client_id=app.client_id, client_secret=app.client_secret,
                                  code=consent.code, redirect_uri=consent.redirect_uri, verifier=consent.verifier)
    finally:
        transport.close()
    if not pair.get("refresh_token"):
        raise AuthError("Salesforce", "Salesforce returned no refresh token (allow the refresh_token scope on the "
                        "Connected App)")
    # The identity URL ends in /id/<org id>/<user id>: the org is the connection's tenant.
    org_id = urlsplit(pair.get("id") or "").path.rstrip("/").split("/")[-2:-1] or [""]
    tenant_id = org_id[0] or "salesforce"
    instance = urlsplit(pair.get("instance_url") or app.login_url).netloc
    with staging.begin() as conn:
        for other in tokens.list_connections(conn, auth.CONNECTION_SYSTEM):
            tokens.forget(conn, auth.CONNECTION_SYSTEM, other.tenant_id)  # one Salesforce org per sfxero
        forget_sessions(conn)  # sessions opened by the previous consent
        tokens.save_connection(conn, cipher, system=auth.CONNECTION_SYSTEM, tenant_id=tenant_id, tenant_name=instance,
                               scopes=pair.get("scope") or scopes, refresh_token=pair["refresh_token"],
                               access_token=pair.get("access_token"), access_expires_at=None)
    staging.dispose()
    click.echo(f"Connected Salesforce org {tenant_id} ({instance}). Set SALESFORCE_AUTH=connection to sync through it.")
    return 0


def run_disconnect_salesforce() -> int:
    from ..clients.salesforce import auth
    from ..clients.salesforce.session_cache import forget_sessions
    from ..clients.secret_key import token_cipher
    from ..defs.staging.resources import staging_for_cli
    from ..staging.state import tokens

    staging = staging_for_cli()
    with staging.begin() as conn:
        stored = tokens.list_connections(conn, auth.CONNECTION_SYSTEM)
        row = tokens.load(conn, token_cipher(), auth.CONNECTION_SYSTEM, stored[0].tenant_id) if stored else None
    if row is None:
        staging.dispose()
        raise ConfigError("salesforce", "no stored Salesforce connection (`sfxero connections` lists them)")
    note = ""
    if row.state != tokens.ACTIVE:
        note = " (it was already unusable at Salesforce)"
    else:
        app = _connected_app()
        transport = _transport(app)
        try:
            auth.revoke(transport, app.login_url, row.refresh_token or "")
        except AuthError:
            note = " (Salesforce no longer accepted its token)"
        finally:
            transport.close()
    with staging.begin() as conn:
        tokens.forget(conn, auth.CONNECTION_SYSTEM, row.tenant_id)
        forget_sessions(conn)
    staging.dispose()
    click.echo(f"Disconnected Salesforce org {row.tenant_id} ({row.tenant_name}){note}.")
    return 0
