"""`sfxero bench soak --cycles N`: a model-based soak (docs/architecture.md §6, §9).

A sandbox with faults on (`FAULTS`: 429s, 5xx, 503s and Salesforce row locks, injected the way the
services send them); a simulator (`soak_sim.py`) makes seeded random edits in both systems through
their APIs: creates, updates of fields owned by either side, deletes, payments, renames, the same
field edited in both systems at once. Then one sync cycle runs, as the scheduled cycle runs it
without Dagster's wiring: extract the objects the recipes read, run their check suites (holds),
build and store the plans, push to Xero and to Salesforce (the same functions the assets call).
After each cycle both systems are read back and compared with what the independent model
(`soak_model.py`) predicts from the edits alone: every mismatch is counted and described, and every
edit the owner's value overwrote must be in that cycle's plan (an update or conflict naming the
field). Duplicates: live Xero Contacts sharing a ContactNumber, sales invoices sharing a Reference.

Reported (the §9 line): `cycles`, `edits`, `faults` (injected by both emulators, those the simulator
met included), `mismatches` (with the first ones described), `duplicates`, seconds. `--size` is the
sandbox's Accounts; the floor is the cycles' extract alone (the part no sync can skip).
"""

from __future__ import annotations

import collections
import datetime as dt
import time

from ..recipes import R1
from ..settings import display_url, engine_for
from ..staging.state.plans import row_diff
from .harness import LIFTED_XERO_LIMITS, api_calls, bench_database, peak_rss_mb, sandbox_process, sandbox_stats
from .push_bench import _resources
from .soak_model import FIELDS, Expectations, Provenance, predict
from .soak_sim import Simulator

FAULTS = "sf.5xx=0.02,sf.503=0.01,sf.lock=0.02,xero.429=0.03,xero.5xx=0.02,xero.503=0.01"
SF_TABLES = {"Account": "sf_account", "Contact": "sf_contact", "Opportunity": "sf_opportunity",
             "OpportunityLineItem": "sf_opportunity_line_item", "Product2": "sf_product2"}
XERO_PAGED, XERO_REFERENCE = ("contacts", "invoices"), ("items",)
EDITS_PER_CYCLE = 8
SEED = 7


class SoakCycle:
    """One sync cycle on `engine` against the sandbox of `env`, stage by stage, as the assets run them."""

    def __init__(self, env: dict, engine) -> None:
        from ..config import load_config
        from ..staging.migrations import migrate

        self.cfg, self.engine = load_config(), engine
        migrate(engine)
        self.sf, self.xero = _resources(env, fast=True)

    def run(self, n: int) -> dict[str, float]:
        seconds = {}
        for stage in (self.extract, self.check, self.reconcile, self.push):
            started = time.perf_counter()
            stage(f"soak-{n}")
            seconds[stage.__name__] = time.perf_counter() - started
        return seconds

    def extract(self, run_id: str) -> None:
        from ..extract.salesforce import extract_salesforce_object
        from ..extract.xero import extract_xero_paged, extract_xero_reference
        from ..extract.xero_objects import XERO_OBJECTS

        today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        part = dict(partition_start=today, partition_end=today + dt.timedelta(days=1),
                    lookback=dt.timedelta(seconds=self.cfg.extract.lookback_seconds))
        with self.sf.get_client() as client:
            for sobject, table in SF_TABLES.items():
                extract_salesforce_object(client, self.engine, sobject, table, cfg=self.cfg.extract.salesforce,
                                          run_id=run_id, **part)
        with self.xero.get_client() as client:
            for key in XERO_PAGED:
                extract_xero_paged(client, self.engine, XERO_OBJECTS[key], page_size=1000, run_id=run_id, **part)
            for key in XERO_REFERENCE:
                extract_xero_reference(client, self.engine, XERO_OBJECTS[key], run_id=run_id)

    def check(self, run_id: str) -> None:
        from ..checks.holds import sync_holds
        from ..checks.runner import run_suite
        from ..checks.suites import accounting_suites, table_suite
        from ..extract.xero_objects import XERO_OBJECTS

        tables = [*SF_TABLES.values(), *(XERO_OBJECTS[k].table for k in XERO_PAGED + XERO_REFERENCE)]
        self.blocked = []
        for suite in [s for t in tables if (s := table_suite(t))] + accounting_suites():
            with self.engine.begin() as conn:
                outcome = run_suite(conn, suite, self.cfg.checks)
                if outcome.staged:
                    sync_holds(conn, table_name=outcome.hold_table, suite=suite, failures=outcome.record_failures,
                               run_id=run_id)
                if outcome.blocking:
                    self.blocked.append(f"{suite}: {'; '.join(outcome.table_failures)}")

    def reconcile(self, run_id: str) -> None:
        from ..reconcile.build import FAMILIES, build_family
        from ..staging.state.plans import write_plan

        with self.engine.begin() as conn:
            for family in ("contacts", "invoices"):
                write_plan(conn, build_family(conn, self.cfg, family).rows, recipes=FAMILIES[family])

    def push(self, run_id: str) -> None:
        from ..push.run import push_to_salesforce, push_to_xero

        if self.blocked:  # a blocking check stops the push, as `ready_to_push` does
            return
        with self.xero.get_client() as x, self.sf.get_client() as s:
            push_to_xero(self.engine, x, s, cfg=self.cfg.push, run_id=run_id)
            push_to_salesforce(self.engine, s, cfg=self.cfg.push, run_id=run_id)

    def plan_rows(self) -> list[dict]:
        from ..staging.state.plans import load_latest

        with self.engine.connect() as conn:
            return load_latest(conn).to_dict("records")


def in_sync(pair: dict) -> bool:
    return pair["sf"] == pair["xero"]


def _shown(plan: list[dict], recipe: str, account: str, contact: str, field: str) -> bool:
    names = {field, FIELDS[field][0]}
    for row in plan:
        if row["recipe"] != recipe or row["action"] not in ("update", "conflict"):
            continue
        if not {row.get("source_id"), row.get("target_id")} & {account, contact}:
            continue
        if names & set(row_diff(row.get("diff")).get("fields", {})):
            return True
    return False


def _suppressed(plan: list[dict], account: str, key: str) -> bool:
    for row in plan:
        if row["recipe"] == R1 and row.get("source_id") == account:
            if key in (row_diff(row.get("diff")).get("suppressed") or {}):
                return True
    return False


def compare(expected: Expectations, before: dict, after: dict, plan: list[dict], untouched: set[str]) -> list[str]:
    """Mismatches between the systems after a cycle and the model's prediction, one line each."""
    out = []
    for (account, name), want in expected.fields.items():
        pair = after["pairs"].get(account)
        got = (pair["sf"][name], pair["xero"][name]) if pair else None
        if got != want:
            out.append(f"{account} {name}: expected (salesforce, xero) = {want!r}, got {got!r}")
    names = collections.Counter(c["Name"] for c in after["contacts"].values() if c.get("ContactStatus") != "ARCHIVED")
    for account, name in expected.created_accounts.items():
        linked = (after["accounts"].get(account) or {}).get("Xero_Contact_Id__c")
        if names[name] != 1 or (after["contacts"].get(linked) or {}).get("Name") != name:
            out.append(f"new Account {account} {name!r}: {names[name]} Xero Contacts of that name, linked to {linked!r}")
    sf_names = collections.Counter(a.get("Name") for a in after["accounts"].values())
    for name in expected.created_contacts:
        if names[name] != 1 or sf_names[name]:
            out.append(f"Xero-made Contact {name!r}: {names[name]} in Xero, {sf_names[name]} Accounts of that name")
    for account, contact in expected.deleted_accounts.items():
        c = after["contacts"].get(contact) or {}
        if c.get("ContactStatus") == "ARCHIVED" or not c or account in after["accounts"]:
            out.append(f"deleted Account {account}: its Contact {contact} is {c.get('ContactStatus', 'gone')}")
    for opp, (paid, status) in expected.opportunities.items():
        o = after["opportunities"].get(opp) or {}
        got = (round(float(o.get("Xero_Amount_Paid__c") or 0), 2), o.get("Xero_Invoice_Status__c"))
        if got != (paid, status):
            out.append(f"Opportunity {opp}: expected paid {paid} {status}, got {got}")
    for recipe, account, name in sorted(expected.overwritten):
        if not _shown(plan, recipe, account, before["pairs"][account]["contact"], name):
            out.append(f"{account} {name}: the overwritten edit is not in the {recipe} plan")
    for account, name in sorted(expected.suppressed):
        if not _suppressed(plan, account, FIELDS[name][0]):
            out.append(f"{account} {name}: the edit left standing (our own write in Xero) is not noted in the R1 plan")
    for account in sorted(untouched):
        pair = after["pairs"].get(account)
        if pair is None or not in_sync(pair) or pair["sf"] != before["pairs"][account]["sf"]:
            out.append(f"{account}: untouched pair changed or fell out of step: {before['pairs'][account]} -> {pair}")
    return out


def facts(expected: Expectations) -> int:
    """Predictions checked after a cycle (each field, record and Opportunity the model speaks for)."""
    return (len(expected.fields) + len(expected.created_accounts) + len(expected.suppressed) + len(expected.created_contacts)
            + len(expected.deleted_accounts) + len(expected.opportunities) + len(expected.overwritten))


def duplicates(after: dict, server_invoices: list[dict]) -> int:
    numbers = collections.Counter(c.get("ContactNumber") for c in after["contacts"].values()
                                  if c.get("ContactNumber") and c.get("ContactStatus") != "ARCHIVED")
    refs = collections.Counter(i.get("Reference") for i in server_invoices if i.get("Type") == "ACCREC"
                               and i.get("Reference") and i.get("Status") not in ("DELETED", "VOIDED"))
    return sum(n - 1 for n in numbers.values() if n > 1) + sum(n - 1 for n in refs.values() if n > 1)


def run_soak_bench(size: int, staging_url: str | None, *, cycles: int, seed: int = SEED,
                   edits_per_cycle: int = EDITS_PER_CYCLE, faults: str = FAULTS) -> dict:
    started = time.perf_counter()
    edits = mismatches = dup = checked = overwritten = 0
    described: list[str] = []
    stage_seconds: dict[str, float] = collections.Counter()
    with bench_database(staging_url) as url, \
            sandbox_process(size, seed=seed, xero_limits=LIFTED_XERO_LIMITS, faults=faults) as env:
        engine = engine_for(url)
        try:
            cycle = SoakCycle(env, engine)
            sim = Simulator(env, seed)
            provenance = Provenance(set(sim.observe()["contacts"]))
            cycle.run(0)  # the first sync: links, creates and write-backs the seeded world needs
            stage_seconds.update(cycle.run(0))  # settles what the first one's writes changed
            for n in range(1, cycles + 1):
                before = sim.observe()
                provenance.see(before)
                agreeing = {a for a, p in before["pairs"].items() if in_sync(p)}
                done = sim.edits(before, edits_per_cycle, sorted(agreeing))
                edits += len(done)
                provenance.edited(before, done)
                expected = predict(before, done)
                stage_seconds.update(cycle.run(n))
                after = sim.observe()
                touched = {e.record for e in done}
                found = compare(expected, before, after, cycle.plan_rows(), agreeing - touched)
                if cycle.blocked:
                    found.append(f"cycle {n}: a blocking check stopped the push: {cycle.blocked}")
                mismatches += len(found)
                checked += facts(expected) + len(agreeing - touched)
                overwritten += len(expected.overwritten)
                described += [f"cycle {n}: {line}" for line in found][: max(0, 20 - len(described))]
                dup = duplicates(after, sim.records("xero", "Invoices"))
                if dup:
                    described.append(f"cycle {n}: {dup} duplicates")
            stats = {s: sandbox_stats(env, s) for s in ("sf", "xero")}
            sim.close()
        finally:
            engine.dispose()
    seconds = time.perf_counter() - started
    injected = {s: st.get("faults", {}) for s, st in stats.items()}
    extract_s = stage_seconds.get("extract", 0.0)
    return {
        "bench": "soak", "records": size, "seconds": round(seconds, 3),
        "api_calls": {"salesforce": api_calls(stats["sf"]), "xero": api_calls(stats["xero"])},
        "floor_seconds": round(extract_s, 3), "ratio_to_floor": round(seconds / extract_s, 2) if extract_s else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "cycles": cycles, "edits": edits, "faults": sum(n for f in injected.values() for n in f.values()),
        "faults_by_kind": injected, "faults_met_by_simulator": sim.faults_seen,
        "mismatches": mismatches, "duplicates": dup, "facts_checked": checked, "overwritten_edits": overwritten, "mismatch_detail": described,
        "staging": display_url(url).split("://")[0], "seed": seed, "fault_spec": faults,
        "stage_seconds": {k: round(v, 3) for k, v in stage_seconds.items()},
        "floor": "the cycles' extract stage alone",
    }
