"""`sfxero sync --stage all` stops at the first failed stage: what depends on it does not run, the summary
says NOT converged with the failed stage and its first error line, and the exit code is 1.

Runs the real CLI (subprocess) against a fresh sandbox, with a real instance and staging under tmp_path.
"""

from __future__ import annotations

from .push.conftest import records
from .test_cli import sfxero


def _env(server, tmp_path, **overrides) -> dict:
    return {**server.env, "SFXERO_STAGING_URL": f"sqlite:///{tmp_path / 'staging.db'}",
            "DAGSTER_HOME": str(tmp_path / "home"), **overrides}


def test_wrong_xero_secret_stops_the_sync_after_extract(make_sandbox, tmp_path):
    server = make_sandbox(size="small", seed=42)
    before = len(records(server, "xero", "Contacts"))
    result = sfxero("sync", env=_env(server, tmp_path, XERO_CLIENT_SECRET="not-the-secret"))
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "- extract: FAILED" in out
    # Nothing that depends on the extract ran: no check, reconcile, push, nor a verifying pass.
    for stage in ("check", "reconcile", "push"):
        assert f"- {stage}:" not in out, out
    assert "Verifying" not in out and "Converged" not in out
    [verdict] = [line for line in out.splitlines() if line.startswith("NOT converged")]
    assert "extract failed" in verdict and "invalid_client" in verdict, verdict
    assert "not-the-secret" not in out + result.stderr
    assert len(records(server, "xero", "Contacts")) == before
