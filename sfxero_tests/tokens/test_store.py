"""The token store on SQLite and the real PostgreSQL: encrypted at rest, keyed by (system, tenant),
migrated like every sync-state table, and a key that never leaves its file."""

from __future__ import annotations

import datetime as dt
import stat

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from sfxero_pipelines.clients.secret_key import token_cipher
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.staging import migrations
from sfxero_pipelines.staging.state import tokens

REFRESH, ACCESS = "rt-plain-text-0123456789", "at-plain-text-9876543210"


def _save(conn, cipher, tenant="tenant-1"):
    tokens.save_connection(conn, cipher, system="xero", tenant_id=tenant, tenant_name="Demo Co",
                           scopes="offline_access accounting.contacts", refresh_token=REFRESH, access_token=ACCESS,
                           access_expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=30))


def test_tokens_round_trip_and_are_never_stored_in_clear(staging):
    cipher = Fernet(Fernet.generate_key())
    with staging.begin() as conn:
        assert migrations.current_version(conn) >= 2
        _save(conn, cipher)
    with staging.begin() as conn:
        stored = tokens.load(conn, cipher, "xero", "tenant-1")
        raw = conn.execute(sa.text("SELECT * FROM oauth_token")).mappings().all()
    assert (stored.refresh_token, stored.access_token, stored.state) == (REFRESH, ACCESS, tokens.ACTIVE)
    assert REFRESH not in repr(stored) and ACCESS not in repr(stored)
    dump = repr([dict(r) for r in raw])
    assert "tenant-1" in dump and REFRESH not in dump and ACCESS not in dump
    # Another key cannot read it: one line naming the variable, no token text.
    with staging.begin() as conn, pytest.raises(ConfigError, match="SFXERO_SECRET_KEY") as err:
        tokens.load(conn, Fernet(Fernet.generate_key()), "xero", "tenant-1")
    assert REFRESH not in str(err.value)


def test_listing_decrypts_nothing_and_forget_removes_one_tenant(staging):
    cipher = Fernet(Fernet.generate_key())
    with staging.begin() as conn:
        _save(conn, cipher, "tenant-1")
        _save(conn, cipher, "tenant-2")
        tokens.mark(conn, "xero", "tenant-2", tokens.REVOKED, "invalid_grant")
    with staging.begin() as conn:
        listed = tokens.list_connections(conn, "xero")
        assert [(c.tenant_id, c.state, c.refresh_token) for c in listed] == [
            ("tenant-1", "active", None), ("tenant-2", "revoked", None)]
        assert tokens.forget(conn, "xero", "tenant-2") and not tokens.forget(conn, "xero", "tenant-2")
        assert [c.tenant_id for c in tokens.list_connections(conn)] == ["tenant-1"]


def test_key_file_is_generated_once_owner_only(tmp_path):
    env = {"SFXERO_SECRET_KEY_FILE": str(tmp_path / "k" / "secret.key")}
    first = token_cipher(env)
    path = tmp_path / "k" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token_cipher(env).decrypt(first.encrypt(b"x")) == b"x"  # the same key the second time


def test_a_bad_key_is_one_line_without_its_value():
    with pytest.raises(ConfigError) as err:
        token_cipher({"SFXERO_SECRET_KEY": "not-a-key-hunter2"})
    assert "SFXERO_SECRET_KEY" in str(err.value) and "hunter2" not in str(err.value)
    assert "\n" not in str(err.value)


def test_tenants_of_one_consent_rotate_together(staging):
    cipher = Fernet(Fernet.generate_key())
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=30)
    with staging.begin() as conn:
        for tenant in ("tenant-1", "tenant-2"):
            tokens.save_connection(conn, cipher, system="xero", tenant_id=tenant, tenant_name=tenant, scopes="s",
                                   refresh_token=REFRESH, access_token=ACCESS, access_expires_at=later,
                                   grant_id="auth-event-1", connection_id=f"conn-{tenant}")
        _save(conn, cipher, "tenant-3")  # another consent
        tokens.record_rotation(conn, cipher, system="xero", tenant_id="tenant-1", grant_id="auth-event-1",
                               refresh_token="rt-2", access_token="at-2", access_expires_at=later, scopes=None)
    with staging.begin() as conn:
        pairs = {t: (c.refresh_token, c.access_token, c.rotations) for t in ("tenant-1", "tenant-2", "tenant-3")
                 for c in [tokens.load(conn, cipher, "xero", t)]}
    assert pairs == {"tenant-1": ("rt-2", "at-2", 1), "tenant-2": ("rt-2", "at-2", 1),
                     "tenant-3": (REFRESH, ACCESS, 0)}
