"""The plan a person reads: each plan materialization carries a markdown preview (totals per action,
rows with the record's name, both ids, `old → new` with its rule, both conflict candidates), and
`sfxero plan` prints the same row lines (one renderer)."""

from __future__ import annotations

import dagster as dg

from sfxero_pipelines.cli.plan_cmd import run_plan
from sfxero_pipelines.defs.reconciliation.assets import plan_assets, plan_key
from sfxero_pipelines.reconcile import preview

from .test_contacts_plan import gb_account, gb_contact


def _world(world):
    x1 = gb_contact(world, name="Gaillard Analytics SA", email=None)
    x2 = gb_contact(world, name="GAILLARD ANALYTICS, S.A.", email=None)
    conflicted = gb_account(world, name="Gaillard Analytics", email=None)
    renamed_x = gb_contact(world, name="Totally Different", email="other@x.com")
    renamed = gb_account(world, name="Acme Ltd", email="shared@acme.co.uk")
    world.link("R1", renamed, renamed_x)
    new = gb_account(world, name="Brand New Pty", email=None)
    return {"x1": x1, "x2": x2, "conflicted": conflicted, "renamed": renamed, "renamed_x": renamed_x, "new": new}


def test_plan_materialization_carries_a_readable_preview(world):
    ids = _world(world)
    contacts = next(a for a in plan_assets if a.op.name == "plan_contacts")
    result = dg.materialize([contacts], resources={"staging": world.db}, raise_on_error=True)
    [event] = [e for e in result.get_asset_materialization_events()
               if e.asset_key == dg.AssetKey(plan_key("R1"))]
    md = event.materialization.metadata["preview"].value
    assert "| create | update | delete | skip | conflict | held |" in md
    assert "#### conflict (1)" in md and "#### create (1)" in md and "#### update (" in md
    conflict_line = next(line for line in md.splitlines() if ids["conflicted"] in line and "CONFLICT" in line)
    assert "'Gaillard Analytics'" in conflict_line
    candidates = next(line for line in md.splitlines() if "candidates:" in line)
    assert f"{ids['x1']} 'Gaillard Analytics SA'" in candidates and ids["x2"] in candidates
    update = next(line for line in md.splitlines() if ids["renamed"] in line and "UPDATE" in line)
    assert ids["renamed_x"] in update and "'Totally Different'" in update and "'Acme Ltd'" in update
    assert "Name: 'Totally Different' → 'Acme Ltd'   [Name→Name; owner salesforce]" in md
    assert f"{ids['new']} 'Brand New Pty' → Xero (new)" in md


def test_preview_lists_at_most_the_cap_per_action_and_counts_every_row():
    import pandas as pd

    rows = pd.DataFrame([{"recipe": "R1", "direction": "sf_to_xero", "source_id": f"001{i:015d}", "target_id": None,
                          "action": "create", "diff": None, "reason": "no match"} for i in range(7)])
    md = preview.markdown("R1", "t", rows, {}, per_action=3)
    assert "#### create (7)" in md and md.count("- R1 CREATE") == 3 and "… and 4 more" in md


def test_sfxero_plan_prints_the_same_row_lines(world, monkeypatch, capsys):
    ids = _world(world)
    monkeypatch.setenv("SFXERO_STAGING_URL", world.db.url)
    run_plan(as_json=False, recipe="R1")
    out = capsys.readouterr().out
    assert f"{ids['conflicted']} 'Gaillard Analytics' → Xero (new)" in out
    assert f"    candidates: {ids['x1']} 'Gaillard Analytics SA'" in out
    assert "    Name: 'Totally Different' → 'Acme Ltd'   [Name→Name; owner salesforce]" in out
