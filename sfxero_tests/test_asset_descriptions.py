"""Every asset says in a sentence what it is and which recipe it serves; a disabled recipe's plan
asset says it is disabled (description and tag) rather than looking like an empty plan."""

from __future__ import annotations

from sfxero_pipelines.definitions import defs
from sfxero_pipelines.defs.recipe_roles import plan_description, serves


def specs() -> dict:
    graph = defs().resolve_asset_graph()
    return {k.to_user_string(): graph.get(k) for k in graph.materializable_asset_keys}


def test_every_asset_has_a_sentence_and_extracts_name_the_recipes_they_serve():
    nodes = specs()
    for name, node in nodes.items():
        assert node.description and node.description.rstrip().endswith("."), name
    assert "Read by R1 (Salesforce Accounts → Xero Contacts)" in nodes["sf_account"].description
    assert "R2 (Won Opportunities → Xero ACCREC invoices)" in nodes["xero_invoice"].description
    # Read by no enabled recipe: says so instead of naming one.
    assert "No enabled recipe reads it" in nodes["xero_bill"].description
    # R7 is off by default: its tables are not said to serve it.
    assert "R7" not in nodes["sf_order"].description


def test_disabled_recipes_plan_assets_are_marked_disabled():
    nodes = specs()
    assert nodes["sync_plan_r7"].description.startswith("Disabled: recipes.R7.enabled is false in sfxero.yaml")
    assert nodes["sync_plan_r7"].tags["sfxero/enabled"] == "false"
    assert nodes["sync_plan_r1"].tags["sfxero/enabled"] == "true"
    assert nodes["sync_plan_r1"].description == plan_description("R1")
    assert not nodes["sync_plan_r1"].description.startswith("Disabled")


def test_serves_follows_the_configuration(monkeypatch, tmp_path):
    (tmp_path / "c.yaml").write_text("recipes:\n  R7: {enabled: true}\n  R1: {enabled: false}\n")
    monkeypatch.setenv("SFXERO_CONFIG", str(tmp_path / "c.yaml"))
    assert "R7 (Activated Orders → Xero ACCREC invoices)" in serves("sf_order")
    assert not plan_description("R7").startswith("Disabled")
    assert plan_description("R1").startswith("Disabled: recipes.R1.enabled is false")
