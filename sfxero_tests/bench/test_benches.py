"""`sfxero bench extract`, `push` and `e2e` as a user runs them: one JSON object on the last line
with docs/architecture.md §9's keys, and the API calls within their documented bounds (no timing assertions: the
machine is shared). Both use SFXERO_BENCH_FAST (Xero's minute limit lifted) and a temporary directory on
tmpfs when there is one; the e2e run extracts a reduced set of objects (what R1–R5 read) to stay
quick — the full cycle at real limits is the benchmark's job, not the test's."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test is a bench run

SPEC_KEYS = {"bench", "records", "seconds", "api_calls", "floor_seconds", "ratio_to_floor", "peak_rss_mb"}
MINI_CONFIG = """
extract:
  salesforce:
    objects: [Account, Contact, Opportunity, OpportunityLineItem, Product2]
  xero:
    objects: [contacts, invoices, items, accounts, tax_rates, currencies]
"""

#: The Xero collections `bench extract` reports besides the timed invoices, by how Xero pages them.
PAGED_BY_1000 = ("contacts", "bills", "credit_notes", "bank_transactions", "payments", "purchase_orders",
                 "overpayments", "prepayments", "manual_journals")
PAGED_BY_100 = ("quotes", "journals")
UNPAGED = ("items", "accounts", "tax_rates", "currencies", "bank_transfers", "contact_groups", "tracking_categories")


@pytest.fixture
def scratch(tmp_path) -> Path:
    """TMPDIR for the bench: on tmpfs when there is one (the Dagster event log and SQLite staging
    commit per event; a disk makes the e2e run several times slower), removed afterwards."""
    shm = Path("/dev/shm")
    path = Path(tempfile.mkdtemp(prefix="sfxero-test-bench-", dir=shm)) if shm.is_dir() and os.access(shm, os.W_OK) \
        else tmp_path / "tmp"
    path.mkdir(exist_ok=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def bench(cwd: Path, scratch: Path, *args: str, env: dict | None = None, timeout: float = 240) -> dict:
    result = subprocess.run([sys.executable, "-m", "sfxero_pipelines.cli", "bench", *args, "--json"],
                            capture_output=True, text=True, cwd=cwd, timeout=timeout,
                            env={**os.environ, "SFXERO_BENCH_FAST": "1", "TMPDIR": str(scratch), **(env or {})})
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert SPEC_KEYS <= set(out)
    assert set(out["api_calls"]) == {"salesforce", "xero"}
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_bench_extract_stays_within_the_call_bounds_on_both_backends(tmp_path, scratch, backend, request):
    staging = ["--staging", request.getfixturevalue("pg_url")] if backend == "postgresql" else []
    out = bench(tmp_path, scratch, "extract", "--size", "1500", *staging)
    assert out["bench"] == "extract" and out["staging"].startswith(backend)
    assert out["records"] == 3000 and out["rounds"] >= 3
    sf, xero = out["per_object"]["salesforce.Account"], out["per_object"]["xero.invoices"]
    assert sf["records"] == xero["records"] == 1500
    # One Salesforce page (2,000 a page) after the describe; two Xero pages (1,000 a page).
    assert out["api_calls"] == {"salesforce": sf["api_calls"], "xero": xero["api_calls"]} == {"salesforce": 2, "xero": 2}
    assert sf["api_call_bound"] == math.ceil(1500 / 2000) + 1 and xero["api_call_bound"] == math.ceil(1500 / 1000) + 1
    assert sf["incremental_unchanged_calls"] == xero["incremental_unchanged_calls"] == 1
    # Every other Xero collection, read in full once: docs/architecture.md §4.1's bound, computed here.
    collections = out["xero_collections"]
    assert set(collections) == set(PAGED_BY_1000) | set(PAGED_BY_100) | set(UNPAGED)
    for key, figures in collections.items():
        n = figures["records"]
        bound = (math.ceil(n / 1000) + 1 if key in PAGED_BY_1000 else math.ceil(n / 100) + 1 if key in PAGED_BY_100
                 else 1)
        assert n > 0, key  # seeded at every size
        assert figures["api_call_bound"] == bound and 1 <= figures["api_calls"] <= bound, (key, figures)
        assert figures["within_bound"] is True
    assert collections["journals"]["records"] > 100 and collections["journals"]["api_calls"] >= 2  # offset paging ran
    assert out["within_bounds"] is True
    for figures in (out, sf, xero):
        assert figures["seconds"] > 0 and figures["floor_seconds"] > 0
        # The ratio is computed before rounding; seconds and floor are reported to the millisecond, which on
        # a run of a tenth of a second moves their quotient by more than 1%: compare within that rounding.
        s_, f_, half = figures["seconds"], figures["floor_seconds"], 0.0005
        assert (s_ - half) / (f_ + half) - half <= figures["ratio_to_floor"] <= (s_ + half) / (f_ - half) + half


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_bench_reconcile_plans_the_same_on_r1s_pass_and_the_engines_own_read(tmp_path, scratch, backend, request):
    """`bench reconcile` plans the contacts family (the engine on R1's pass); with `--engine`, R1's settings
    written as a declaration (config/r1_declared.py) on the engine's own read, in R1's and R5's words: R1's
    and R5's very rows (their plan ids hash every row), each plan the same again over unchanged staging."""
    staging = ["--staging", request.getfixturevalue("pg_url")] if backend == "postgresql" else []
    family = bench(tmp_path, scratch, "reconcile", "--size", "2000", *staging)
    engine = bench(tmp_path, scratch, "reconcile", "--size", "2000", "--engine", *staging)
    assert (family["planner"], engine["planner"]) == ("family", "engine") and family["backend"] == backend
    assert family["rerun_identical"] and engine["rerun_identical"]
    assert family["plan"]["R1"] == {"create": 60, "update": 50, "delete": 0, "skip": 1850, "conflict": 40, "held": 0}
    assert family["plan"]["R5"]["update"] > 0
    assert {r: engine["plan"][r] for r in ("R1", "R5")} == {r: family["plan"][r] for r in ("R1", "R5")}
    assert engine["plan_ids"] == {r: family["plan_ids"][r] for r in ("R1", "R5")}


def test_engine_is_refused_in_one_line_for_another_bench():
    from ..test_cli import sfxero

    other = sfxero("bench", "push", "--engine")
    assert other.returncode == 2 and other.stderr.strip() == "sfxero: --engine: applies to `bench reconcile` only"


def test_bench_push_stays_within_the_call_bounds(tmp_path, scratch):
    out = bench(tmp_path, scratch, "push", "--size", "100")
    assert out["bench"] == "push"
    assert out["records"] == out["written"] == 100
    assert out["held"] == 0 and out["unknown"] == 0
    assert out["write_backs"] == 100
    assert out["api_calls"]["xero"] <= math.ceil(100 / 50) + 1 == out["api_call_bounds"]["xero"]
    assert out["api_calls"]["salesforce"] <= math.ceil(100 / 200) + 1 == out["api_call_bounds"]["salesforce"]
    assert out["within_bounds"] == {"xero": True, "salesforce": True}
    assert out["xero_429_seen_by_client"] == 0
    assert out["floor_seconds"] > 0 and out["ratio_to_floor"] > 0
    for key in ("xero_budget_busy_share", "xero_write_calls", "xero_429_emulator", "floor", "setup"):
        assert key in out


def test_bench_e2e_converges_with_batched_writes(tmp_path, scratch):
    config = tmp_path / "sfxero.yaml"
    config.write_text(MINI_CONFIG)
    out = bench(tmp_path, scratch, "e2e", "--size", "10", env={"SFXERO_CONFIG": str(config)})
    assert out["bench"] == "e2e"
    assert out["runs_ok"] and out["converged"]
    assert list(out["stage_seconds"]) == ["extract", "check", "reconcile", "push", "extract_verify",
                                          "check_verify", "reconcile_verify"]
    assert out["records"] > 0
    # The second plan has nothing left to write.
    for counts in out["plans"]["reconcile_verify"].values():
        assert not any(counts.get(a) for a in ("create", "update", "delete"))
    push = out["stages"]["push"]
    xero_planned = push["by_asset"]["xero_push"]["planned"]
    # Contacts and invoices are batched separately: at most one partial batch each.
    assert push["api_calls"]["xero"] <= math.ceil(xero_planned / 50) + 2
    sf_writes = push["by_asset"]["xero_push"]["write_backs"] + push["by_asset"]["salesforce_push"]["planned"]
    assert push["api_calls"]["salesforce"] <= math.ceil(sf_writes / 200) + 2
    # Check and reconcile never call an API.
    for stage in ("check", "reconcile", "check_verify", "reconcile_verify"):
        assert out["stages"][stage]["api_calls"] == {"salesforce": 0, "xero": 0}
    # Xero is connected by consent into the token store; the whole cycle shares its access token, and every
    # Salesforce client shares one session (cached in the staging database): one token call each at most.
    assert out["token_calls"]["xero"] <= out["xero_tenants"] == 1
    assert out["token_calls"]["salesforce"] == sum(s["token_calls"]["salesforce"] for s in out["stages"].values())
    assert out["token_calls"]["salesforce"] <= 1
