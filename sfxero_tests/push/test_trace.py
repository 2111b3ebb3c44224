"""`sfxero trace ID`: the story of an Opportunity whose invoice Xero rejected, which was then fixed and
replayed — staged, planned (create), held with Xero's message, planned as held, released, written
once, linked and written back — every step, newest first, in text and as JSON."""

from __future__ import annotations

import json

from sfxero_pipelines.cli.replay_cmd import run_replay
from sfxero_pipelines.cli.trace_cmd import run_trace
from sfxero_pipelines.defs.staging.resources import StagingDatabase

from .conftest import Cycle
from .test_held_and_replay import _r2_creates, _rename_item


def test_trace_tells_a_rejected_fixed_and_replayed_record_in_order(make_sandbox, tmp_path, monkeypatch, capsys):
    server = make_sandbox(size="small", seed=42, xero_limits={"per_minute": 100_000, "app_per_minute": 100_000})
    staging = StagingDatabase(url=f"sqlite:///{tmp_path / 'staging.db'}")
    cycle = Cycle(server, staging)
    cycle.plan_to_push()
    creates = _r2_creates(staging)
    code = sorted({c for codes in creates.values() for c in codes if c})[0]
    opp = sorted(o for o, codes in creates.items() if code in codes)[0]
    _rename_item(server, code, code + "-RETIRED")
    cycle.stage("push")
    cycle.stage("extract"), cycle.stage("check"), cycle.stage("reconcile")  # plans it as held
    _rename_item(server, code + "-RETIRED", code)
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SFXERO_STAGING_URL", staging.url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", "https://acme.my.salesforce.com")
    assert run_replay((opp,)) == 0
    capsys.readouterr()

    assert run_trace(opp, as_json=True) == 0  # no open hold any more
    story = json.loads(capsys.readouterr().out)
    events = story["events"]
    kinds = [e["kind"] for e in events]
    times = [e["at"] for e in events]
    assert times == sorted(times, reverse=True), "newest first"
    oldest_first = list(reversed(events))

    def first(kind, **match):
        return next(i for i, e in enumerate(oldest_first)
                    if e["kind"] == kind and all(e["details"].get(k) == v for k, v in match.items()))

    staged = first("staged", table="sf_opportunity")
    held = first("held", stage="push")
    released = first("released", stage="push")
    planned_held = first("planned", action="held", recipe="R2")
    written = first("write", outcome="succeeded", recipe="R2", target_system="xero")
    linked = first("linked", recipe="R2")
    assert staged < held < planned_held < released <= written, kinds
    assert written <= linked or oldest_first[linked]["at"] == oldest_first[written]["at"]
    hold = oldest_first[held]["details"]
    assert f"Item code '{code}' is not valid" in hold["rule"]
    assert f"Create the Item '{code}' in Xero" in hold["sentence"]
    assert hold["open"] is False
    assert ["Salesforce Opportunity " + opp, f"https://acme.my.salesforce.com/lightning/r/Opportunity/{opp}/view"] \
        in hold["links"]
    write = oldest_first[written]["details"]
    assert write["target_object"] == "Invoice" and write["target_id"] and write["written"]
    assert write["write_back"], "the invoice id is written back to the Opportunity"
    assert oldest_first[linked]["details"]["xero_id"] == write["target_id"]
    assert any(e["kind"] == "planned" and e["details"]["action"] == "create" for e in events)
    assert sum(1 for e in events if e["kind"] == "write" and e["details"]["outcome"] == "succeeded"
               and e["details"]["recipe"] == "R2" and e["details"]["target_system"] == "xero") == 1, kinds

    # The same story in text, and the Xero side of it found by the invoice's id.
    assert run_trace(opp, as_json=False) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith(f"{opp}: {len(events)} event(s), newest first")
    assert any("held" in line and "Xero refused to create the Invoice (R2)" in line for line in text)
    assert run_trace(write["target_id"], as_json=True) == 0
    xero_side = json.loads(capsys.readouterr().out)["events"]
    assert {"linked", "write"} <= {e["kind"] for e in xero_side}  # replay stops at push: not re-extracted yet
