"""`sfxero sync --stage all` stops at the first failed stage: what depends on it does not run, the summary
says NOT converged with the failed stage and its first error line, and the exit code is 1.

Runs the real CLI (subprocess) against a fresh sandbox, with a real instance and staging under tmp_path.
The failure is one the preflight cannot see: Xero's daily call limit is already spent, so the token and
the organisation check pass and every Accounting API call is refused (429, `X-Rate-Limit-Problem: day`).
"""

from __future__ import annotations

from .push.conftest import records
from .test_cli import sfxero


def _env(server, tmp_path) -> dict:
    return {**server.env, "SFXERO_STAGING_URL": f"sqlite:///{tmp_path / 'staging.db'}",
            "DAGSTER_HOME": str(tmp_path / "home")}


def test_a_failed_extract_stops_the_sync(make_sandbox, tmp_path):
    server = make_sandbox(size="small", seed=42, xero_limits={"per_day": 0})
    before = len(records(server, "sf", "Account"))
    result = sfxero("sync", env=_env(server, tmp_path))
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "- extract: FAILED" in out
    # Nothing that depends on the extract ran: no check, reconcile, push, nor a verifying pass.
    for stage in ("check", "reconcile", "push"):
        assert f"- {stage}:" not in out, out
    assert "Verifying" not in out and "Converged" not in out
    [verdict] = [line for line in out.splitlines() if line.startswith("NOT converged")]
    assert "extract failed" in verdict and "budget exhausted" in verdict, verdict
    assert len(records(server, "sf", "Account")) == before
    assert not any(r.get("Xero_Contact_Id__c") for r in records(server, "sf", "Account"))
