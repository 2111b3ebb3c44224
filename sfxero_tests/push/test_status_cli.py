"""`sfxero status` and `sfxero replay` as a user runs them (through the console script's entry point;
real staging and a real instance)."""

from __future__ import annotations

import json

from sfxero_pipelines.defs.staging.resources import StagingDatabase
from sfxero_pipelines.staging.state import holds

from ..test_cli import sfxero


def _env(tmp_path) -> dict:
    return {"SFXERO_STAGING_URL": f"sqlite:///{tmp_path / 'staging.db'}", "DAGSTER_HOME": str(tmp_path / "home")}


def test_status_lists_held_records_and_exits_1_while_any_is_held(tmp_path):
    env = _env(tmp_path)
    clean = sfxero("status", env=env)
    assert clean.returncode == 0, clean.stderr
    assert "Last runs (0)" in clean.stdout and "Held records: 0" in clean.stdout

    db = StagingDatabase(url=env["SFXERO_STAGING_URL"])
    with db.begin() as conn:
        holds.hold(conn, [{"table_name": "sf_opportunity", "record_id": "0065Hs000000001QAA",
                           "reason": "Xero rejected the R2 create of Invoice: Item code 'X' is not valid",
                           "detail": {"target_system": "xero"}}], run_id="r1")
    db.dispose()
    held = sfxero("status", env=env)
    assert held.returncode == 1
    assert "push    sf_opportunity" in held.stdout and "Item code 'X' is not valid" in held.stdout
    listed = json.loads(sfxero("status", "--json", env=env).stdout.strip().splitlines()[-1])
    assert [h["record_id"] for h in listed["held"]] == ["0065Hs000000001QAA"]


def test_replay_with_nothing_held_says_so(tmp_path):
    result = sfxero("replay", env=_env(tmp_path))
    assert result.returncode == 0 and "Nothing to replay" in result.stdout
    unknown = sfxero("replay", "001NOTHELD", env=_env(tmp_path))
    assert unknown.returncode == 1 and "001NOTHELD" in unknown.stderr
