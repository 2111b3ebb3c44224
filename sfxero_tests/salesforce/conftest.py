"""Helpers for the Salesforce tests: real simple-salesforce / SalesforceResource over HTTPS.

Sessions set `trust_env = False` as well as `verify`: with REQUESTS_CA_BUNDLE in the environment,
requests ignores `session.verify` (a requests quirk, not a sandbox one).
"""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from simple_salesforce import Salesforce

from sfxero_pipelines.defs.salesforce.resources import SalesforceResource
from sfxero_pipelines.sandbox.runner import SandboxServer
from sfxero_pipelines.sandbox.salesforce.store import id18

from ..conftest import salesforce_resource
from .soql_fixture import soql_fixtures


def ca_session(server: SandboxServer) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = str(server.tls.ca_cert)
    return s


def token(server: SandboxServer, session: requests.Session | None = None) -> dict:
    c = server.credentials
    r = (session or ca_session(server)).post(
        server.salesforce_url + "/services/oauth2/token",
        data={"grant_type": "client_credentials"}, auth=(c.sf_client_id, c.sf_client_secret))
    r.raise_for_status()
    return r.json()


def raw_sf(server: SandboxServer) -> Salesforce:
    """Unmodified simple-salesforce, direct session, pointed at the emulator's instance_url."""
    s = ca_session(server)
    t = token(server, s)
    return Salesforce(instance_url=t["instance_url"], session_id=t["access_token"], session=s)


def resource(server: SandboxServer, **overrides) -> SalesforceResource:
    """The shared builder with a short retry backoff (these tests provoke retries on purpose)."""
    return salesforce_resource(server, **{"retry_backoff_s": 0.01, "timeout_s": 20, **overrides})


def sfid(prefix: str, n: int) -> str:
    return id18(f"{prefix}5Hs{n:09d}")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@pytest.fixture(scope="module")
def soql_sandbox(sandbox_state_dir):
    with SandboxServer(size="small", fixtures={"salesforce": soql_fixtures()}, state_dir=sandbox_state_dir) as s:
        yield s


@pytest.fixture(scope="module")
def medium_sandbox(sandbox_state_dir):
    """1,000 accounts (~1,400 contacts, ~3,800 line items): enough rows to page and to bulk-query."""
    with SandboxServer(size=1000, seed=7, state_dir=sandbox_state_dir) as s:
        yield s
