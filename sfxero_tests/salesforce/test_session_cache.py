"""One Salesforce session shared by every client (clients/salesforce/session_cache.py), against the sandbox:
- clients one after another, and eight at once on threads, cost one token call between them;
- the cached access token is stored encrypted, and `sfxero connections` does not list it;
- a session Salesforce refuses (401 INVALID_SESSION_ID) is replaced once, and the new one is shared;
- a session is not reused past the configured session timeout (less the margin).
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from sfxero_pipelines.clients.salesforce.session_cache import CACHE_SYSTEM
from sfxero_pipelines.staging.schema import oauth_token
from sfxero_tests.conftest import sandbox_call

from .conftest import resource


def token_calls(server) -> int:
    stats = sandbox_call(server, "sf", "GET", "/__sandbox/stats")
    return sum(n for endpoint, n in stats["requests"].items() if "oauth2/token" in endpoint)


@pytest.fixture(params=["sqlite", "postgresql"])
def cached(request, tmp_path, monkeypatch):
    """Staging (where the cache lives, on either backend) and the token key, both the test's own."""
    monkeypatch.setenv("SFXERO_SECRET_KEY", Fernet.generate_key().decode())
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'staging.db'}"
    return request.getfixturevalue("pg_url")


def test_clients_one_after_another_and_at_once_share_one_session(make_sandbox, cached):
    server = make_sandbox(size="small", seed=3)
    before = token_calls(server)
    for _ in range(3):
        with resource(server, staging_url=cached).get_client() as sf:
            assert sf.count("SELECT COUNT() FROM Account") > 0
    errors: list[BaseException] = []

    def one_client() -> None:
        try:
            with resource(server, staging_url=cached).get_client() as sf:
                sf.count("SELECT COUNT() FROM Contact")
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=one_client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert token_calls(server) - before == 1

    engine = sa.create_engine(cached)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(oauth_token).where(oauth_token.c.system == CACHE_SYSTEM)).all()
    engine.dispose()
    assert len(rows) == 1 and rows[0].access_token_enc and rows[0].refresh_token_enc is None
    assert '"access_token"' not in rows[0].access_token_enc and "instance_url" not in rows[0].access_token_enc


def test_a_refused_session_is_replaced_once_and_the_new_one_shared(make_sandbox, cached):
    server = make_sandbox(size="small", seed=4, faults="token_ttl_s=60")
    before = token_calls(server)
    with resource(server, staging_url=cached).get_client() as sf:
        sf.count("SELECT COUNT() FROM Account")
    sandbox_call(server, "sf", "POST", "/__sandbox/clock", {"advance_s": 120})  # Salesforce drops the session
    with resource(server, staging_url=cached).get_client() as sf:
        assert sf.count("SELECT COUNT() FROM Account") > 0  # 401 INVALID_SESSION_ID, then a new session
    with resource(server, staging_url=cached).get_client() as sf:
        sf.count("SELECT COUNT() FROM Contact")
    assert token_calls(server) - before == 2


def test_a_session_is_not_reused_past_the_session_timeout(make_sandbox, cached):
    server = make_sandbox(size="small", seed=5)
    before = token_calls(server)
    # 121 s of session, less the 120 s margin: handed out for one second.
    with resource(server, staging_url=cached, session_timeout_s=121).get_client() as sf:
        sf.count("SELECT COUNT() FROM Account")
    with resource(server, staging_url=cached, session_timeout_s=121).get_client() as sf:
        sf.count("SELECT COUNT() FROM Account")
    assert token_calls(server) - before == 1
    time.sleep(1.2)
    with resource(server, staging_url=cached, session_timeout_s=121).get_client() as sf:
        sf.count("SELECT COUNT() FROM Account")
    assert token_calls(server) - before == 2


def test_a_session_cached_under_another_key_is_a_miss_not_an_error(make_sandbox, cached, monkeypatch):
    """Two processes with different keys (another SFXERO_SECRET_KEY, or key files in other directories)
    on one staging database: the second cannot read the first's entry, so it opens its own session and
    replaces the entry, instead of failing the run on "cannot decrypt"."""
    server = make_sandbox(size="small", seed=6)
    before = token_calls(server)
    with resource(server, staging_url=cached).get_client() as sf:
        sf.count("SELECT COUNT() FROM Account")
    monkeypatch.setenv("SFXERO_SECRET_KEY", Fernet.generate_key().decode())
    with resource(server, staging_url=cached).get_client() as sf:
        assert sf.count("SELECT COUNT() FROM Account") > 0
    with resource(server, staging_url=cached).get_client() as sf:
        sf.count("SELECT COUNT() FROM Contact")
    assert token_calls(server) - before == 2  # one per key; the replaced entry is shared again
