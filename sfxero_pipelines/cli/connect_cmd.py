"""`sfxero connect xero`, `sfxero connections`, `sfxero disconnect xero TENANT`: stored OAuth connections
(`connect salesforce` / `disconnect salesforce` are registered here too; their flow is in connect_salesforce.py).

`connect xero` runs Xero's authorization-code flow with PKCE: a one-shot server on
`http://127.0.0.1:<port>/callback` (the redirect URI to register on the Xero app), the consent page
opened in the browser (or printed with `--no-browser`), the code exchanged, and each organisation
`GET /connections` lists stored as a connection (table `oauth_token`, tokens encrypted). Nothing it
prints contains a token, the client secret or the key.

The Xero app comes from `XERO_CLIENT_ID` / `XERO_CLIENT_SECRET` (with `XERO_LOGIN_URL`,
`XERO_IDENTITY_URL`, `XERO_API_URL` for other hosts), or from a running sandbox (`.sfxero/sandbox.env`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import click

from ..errors import AuthError, ConfigError

STALE_REFRESH_DAYS = 45  # Xero drops a refresh token unused for 60 days: warn with time to act


@dataclass(frozen=True)
class XeroApp:
    client_id: str
    client_secret: str
    login_url: str
    identity_url: str
    connections_url: str
    verify: bool | str


def _xero_app() -> XeroApp:
    from ..clients.xero_oauth import DEFAULT_LOGIN_URL
    from ..settings import has_xero_credentials
    from .connections import app_env

    env = app_env(has_xero_credentials, "XERO_CLIENT_ID", "is not set (register an app at developer.xero.com, "
                  "see README 'Connect your real accounts'; or start `sfxero sandbox`)")
    api_url = env.get("XERO_API_URL") or "https://api.xero.com/api.xro/2.0"
    return XeroApp(client_id=env["XERO_CLIENT_ID"], client_secret=env["XERO_CLIENT_SECRET"],
                   login_url=env.get("XERO_LOGIN_URL") or DEFAULT_LOGIN_URL,
                   identity_url=env.get("XERO_IDENTITY_URL") or "https://identity.xero.com",
                   connections_url=api_url.rstrip("/").removesuffix("/api.xro/2.0") + "/connections",
                   verify=env.get("SFXERO_CA_BUNDLE") or True)


def _staging():
    from ..defs.staging.resources import staging_for_cli

    return staging_for_cli()


def _consent_over_http(url: str, redirect_uri: str, verify: bool | str) -> None:
    """`--headless`: play the browser's part where consent needs no person (an identity server that
    approves at once, as `sfxero sandbox --auto-consent`): fetch the consent address and follow its
    redirect to the loopback callback. A page that asks for a login or a click is one clear error."""
    import requests

    session = requests.Session()
    session.trust_env = False  # a proxy from the environment must not see the code on its way to loopback
    try:
        answer = session.get(url, verify=verify, allow_redirects=False, timeout=60)
        target = answer.headers.get("location", "")
        if answer.status_code not in (302, 303) or not target.startswith(redirect_uri):
            raise AuthError("xero", f"the consent page answered {answer.status_code} without approving: it needs a "
                            "person (run without --headless); a sandbox needs --auto-consent "
                            "(`sfxero sandbox --stop`, then start it with --auto-consent)")
        session.get(target, timeout=60)
    except requests.RequestException as exc:
        raise AuthError("xero", f"could not fetch the consent page ({type(exc).__name__})") from None
    finally:
        session.close()


def run_connect_xero(*, no_browser: bool, port: int, scopes: str, headless: bool = False) -> int:
    from ..clients import xero_oauth
    from ..clients.secret_key import token_cipher
    from ..staging.state import tokens
    from .oauth_loopback import checked_scopes, obtain_consent

    scopes = checked_scopes(scopes, any_of={"offline_access"}, why="without it Xero gives no refresh token and "
                            "the connection dies after 30 minutes")
    app = _xero_app()
    staging = _staging()
    cipher = token_cipher()
    consent = obtain_consent(
        system="xero", port=port, no_browser=no_browser, register="Redirect URI (register it on your Xero app)",
        access_to="your Xero organisation(s)",
        consent_url=lambda redirect_uri, state, challenge: xero_oauth.authorize_url(
            app.login_url, client_id=app.client_id, redirect_uri=redirect_uri, scopes=scopes, state=state,
            challenge=challenge),
        fetch_consent=(lambda url, redirect_uri: _consent_over_http(url, redirect_uri, app.verify)) if headless else None)
    pair = xero_oauth.exchange_code(app.identity_url, client_id=app.client_id, client_secret=app.client_secret,
                                    code=consent.code, redirect_uri=consent.redirect_uri, verifier=consent.verifier,
                                    verify=app.verify)
    if not pair.get("refresh_token"):
        raise AuthError("xero", "Xero returned no refresh token (was offline_access granted?)")
    granted = [c for c in xero_oauth.granted_connections(app.connections_url, pair["access_token"], verify=app.verify)
               if c.get("tenantType", "ORGANISATION") == "ORGANISATION"]
    if not granted:
        raise AuthError("xero", "the consent granted no organisation; run the command again and pick one")
    expires_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=float(pair.get("expires_in") or 1800))
    with staging.begin() as conn:
        for tenant in granted:
            tokens.save_connection(conn, cipher, system="xero", tenant_id=tenant["tenantId"],
                                   tenant_name=tenant.get("tenantName"), scopes=pair.get("scope") or scopes,
                                   refresh_token=pair["refresh_token"], access_token=pair["access_token"],
                                   access_expires_at=expires_at, grant_id=tenant.get("authEventId"),
                                   connection_id=tenant.get("id"))
    staging.dispose()
    for tenant in granted:
        click.echo(f"Connected Xero organisation '{tenant.get('tenantName')}' (tenant {tenant['tenantId']}).")
    if len(granted) > 1:
        click.echo("Several organisations are connected: set XERO_TENANT_ID to the one to sync.")
    return 0


def connection_rows(now: dt.datetime | None = None) -> list[dict]:
    from ..clients.salesforce.session_cache import CACHE_SYSTEM
    from ..staging.state import tokens

    now = now or dt.datetime.now(dt.timezone.utc)
    staging = _staging()
    with staging.begin() as conn:
        # Salesforce's cached sessions are not connections (clients/salesforce/session_cache.py).
        stored = [c for c in tokens.list_connections(conn) if c.system != CACHE_SYSTEM]
    staging.dispose()
    rows = []
    for c in stored:
        age_days = (now - c.refreshed_at).total_seconds() / 86400
        rows.append({"system": c.system, "organisation": c.tenant_name, "tenant_id": c.tenant_id, "scopes": c.scopes,
                     "token_age_days": round(age_days, 2), "last_refresh": c.refreshed_at.isoformat(),
                     "last_used": c.last_used_at.isoformat() if c.last_used_at else None, "state": c.state,
                     "state_reason": c.state_reason,
                     # Only Xero drops idle refresh tokens after 60 days; Salesforce keeps them by default.
                     "refresh_token_stale": c.system == "xero" and age_days > STALE_REFRESH_DAYS})
    return rows


def run_connections(as_json: bool) -> int:
    rows = connection_rows()
    if as_json:
        click.echo(json.dumps(rows))
        return 0
    if not rows:
        click.echo("No stored connections (custom connections need none; `sfxero connect xero` or "
                   "`sfxero connect salesforce` adds one).")
        return 0
    for r in rows:
        flag = f"  [refresh token {r['token_age_days']:.0f} days old: reconnect before 60]" if r["refresh_token_stale"] else ""
        reason = f" ({r['state_reason']})" if r["state"] != "active" and r["state_reason"] else ""
        click.echo(f"{r['system']:<10} {r['organisation'] or '-':<28} {r['tenant_id']}  {r['state']}{reason}  "
                   f"token age {r['token_age_days']:.1f} d, last refresh {r['last_refresh'][:19]}Z{flag}")
        click.echo(f"           scopes: {r['scopes']}")
    return 0


def run_disconnect_xero(tenant_id: str) -> int:
    from ..clients import xero_oauth
    from ..clients.secret_key import token_cipher
    from ..clients.xero_tokens import StoredTokenProvider
    from ..staging.state import tokens

    app = _xero_app()
    staging = _staging()
    cipher = token_cipher()
    with staging.begin() as conn:
        row = tokens.load(conn, cipher, "xero", tenant_id)
        siblings = [c for c in tokens.list_connections(conn, "xero")
                    if c.tenant_id != tenant_id and row is not None and row.grant_id and c.grant_id == row.grant_id]
    if row is None:
        staging.dispose()
        raise ConfigError("TENANT", f"no stored Xero connection for {tenant_id} (`sfxero connections` lists them)")
    note = ""
    try:
        if row.state != tokens.ACTIVE:
            note = " (it was already unusable at Xero)"
        elif siblings and row.connection_id:
            # Revoking the refresh token would cut the other organisations of the same consent too.
            provider = StoredTokenProvider(engine=staging.engine, cipher=cipher, identity_url=app.identity_url,
                                           client_id=app.client_id, client_secret=app.client_secret,
                                           tenant_id=tenant_id, verify=app.verify)
            access, _left, _scopes = provider.access_token()
            provider.close()
            xero_oauth.delete_connection(app.connections_url, row.connection_id, access, verify=app.verify)
        else:
            xero_oauth.revoke(app.identity_url, client_id=app.client_id, client_secret=app.client_secret,
                              refresh_token=row.refresh_token or "", verify=app.verify)
    except AuthError:
        note = " (Xero no longer accepted its tokens)"
    with staging.begin() as conn:
        tokens.forget(conn, "xero", tenant_id)
    staging.dispose()
    click.echo(f"Disconnected Xero organisation '{row.tenant_name}' (tenant {tenant_id}){note}.")
    return 0


@click.group()
def connect() -> None:
    """Connect an account through its owner's consent (OAuth with PKCE); stored encrypted."""


@connect.command("xero")
@click.option("--no-browser", is_flag=True, help="Print the consent address instead of opening a browser.")
@click.option("--port", default=8765, show_default=True, type=int,
              help="Loopback port of the redirect http://127.0.0.1:PORT/callback (0 = any free port).")
@click.option("--scopes", default=None, help="Space-separated scopes (default: offline_access "
              "accounting.transactions accounting.contacts accounting.settings.read).")
@click.option("--headless", is_flag=True, help="Fetch the consent address itself instead of a browser: only where "
              "consent needs no person (`sfxero sandbox --auto-consent`; `make run` uses it).")
def connect_xero(no_browser: bool, port: int, scopes: str | None, headless: bool) -> None:
    """Connect Xero organisation(s): consent in the browser, then each granted organisation is stored."""
    import sys

    from ..clients.xero_oauth import DEFAULT_SCOPES

    sys.exit(run_connect_xero(no_browser=no_browser, port=port, scopes=scopes or DEFAULT_SCOPES, headless=headless))


@connect.command("salesforce")
@click.option("--no-browser", is_flag=True, help="Print the consent address instead of opening a browser.")
@click.option("--port", default=8765, show_default=True, type=int,
              help="Loopback port of the callback http://127.0.0.1:PORT/callback (0 = any free port).")
@click.option("--scopes", default=None, help="Space-separated scopes (default: api refresh_token).")
def connect_salesforce(no_browser: bool, port: int, scopes: str | None) -> None:
    """Connect a Salesforce org (web-server flow): consent in the browser, the refresh token stored encrypted;
    the sync uses it with SALESFORCE_AUTH=connection."""
    import sys

    from ..clients.salesforce.auth import DEFAULT_SCOPES
    from .connect_salesforce import run_connect_salesforce

    sys.exit(run_connect_salesforce(no_browser=no_browser, port=port, scopes=scopes or DEFAULT_SCOPES))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def connections(as_json: bool) -> None:
    """Stored connections: organisation, tenant id, scopes, token age, last refresh, state."""
    import sys

    sys.exit(run_connections(as_json))


@click.group()
def disconnect() -> None:
    """Revoke and forget a stored connection."""


@disconnect.command("xero")
@click.argument("tenant")
def disconnect_xero(tenant: str) -> None:
    """Revoke the connection to one Xero organisation (tenant id) and forget it."""
    import sys

    sys.exit(run_disconnect_xero(tenant))


@disconnect.command("salesforce")
def disconnect_salesforce() -> None:
    """Revoke the stored Salesforce connection (its refresh token and sessions) and forget it."""
    import sys

    from .connect_salesforce import run_disconnect_salesforce

    sys.exit(run_disconnect_salesforce())
