"""One batch of the real-time lane, without Dagster: the changed records through the cycle's own stages.

`run_batch(engine, sf_client, xero_client, changes, cfg=..., run_id=...)`:
1. extract by id (`extract/by_id.py`): just the changed records, no cursor moved; a changed Xero
   invoice is read for each staged object of Invoices the extract reads (sales invoices, bills), each
   with its Type filter, so a record lands in its own table only;
2. checks: every suite that reads a touched table (its own suite, and the suites whose parameters are
   built from it, e.g. Opportunities' "account is staged" rule on an Account change), with the
   cycle's `run_suite` and `sync_holds`: bad records are held exactly as the cycle holds them, and a
   table-level failure stops the batch before anything is written (checks before push);
3. reconcile: the families whose inputs were touched, built and stored as the cycle's plan assets do
   (`build_family` + `write_plan`: the same plan rows, so a push executes the same plan);
4. push: `push_to_xero` / `push_to_salesforce` limited to the changed records (`only_sources`), under
   the same writer lease and ledger as the cycle's push, so a batch that meets a running push waits
   for it, and a write already made (by the cycle or an earlier batch) is never made twice.

The report says what each stage did and its wall seconds (`seconds`: the op's `stage_seconds` metadata,
which `sfxero bench latency` reads). The scheduled cycle stays the safety net: it reads everything since its own cursor, so a batch that
died half-way is completed by the next batch or the next cycle (the ledger resumes it).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..checks.holds import sync_holds
from ..checks.runner import run_suite
from ..checks.suites import load_suite, parameters_of, suite_names
from ..config import SfxeroConfig
from ..extract.by_id import stage_salesforce_by_id, stage_xero_by_id
from ..extract.xero_objects import XERO_OBJECTS
from ..push.run import push_to_salesforce, push_to_xero
from ..reconcile.build import FAMILIES, FAMILY_TABLES, build_family
from ..reconcile.routing import rows_of_other_organisations
from ..staging.schema import snake
from ..staging.state.plans import write_plan
from ..staging.state.tokens import serving_tenant

#: Collection -> the staged objects its records belong to: Invoices holds sales invoices and bills,
#: each staged in its own table (the extract's `where` on Type), as the cycle stages them.
_XERO_BY_COLLECTION = {c: [obj for obj in XERO_OBJECTS.values() if obj.collection == c] for c in ("Contacts", "Invoices")}


@dataclass
class Changes:
    """What changed: Salesforce ids by sObject, Xero ids by collection (Contacts, Invoices)."""

    salesforce: dict[str, list[str]] = field(default_factory=dict)
    xero: dict[str, list[str]] = field(default_factory=dict)

    def ids(self) -> set[str]:
        return {i for ids in (*self.salesforce.values(), *self.xero.values()) for i in ids}

    def tables(self) -> set[str]:
        return ({f"sf_{snake(o)}" for o, ids in self.salesforce.items() if ids}
                | {obj.table for c, ids in self.xero.items() if ids for obj in _XERO_BY_COLLECTION[c]})


@dataclass
class BatchReport:
    staged: dict[str, int] = field(default_factory=dict)      # table -> rows staged by id
    held: dict[str, int] = field(default_factory=dict)        # suite -> records newly held
    blocked: list[str] = field(default_factory=list)          # table-level failures: nothing was pushed
    families: list[str] = field(default_factory=list)
    pushes: list = field(default_factory=list)                # PushReport per target
    #: stage -> wall seconds (extract, checks, reconcile, push): where a batch's time went
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def written(self) -> int:
        return sum(p.written for p in self.pushes)


def suites_reading(tables: set[str]) -> list[str]:
    """The suites whose rows or parameters come from one of `tables`."""
    chosen = []
    for name in suite_names():
        suite = load_suite(name)
        read = {suite["meta"]["table"]} | {p[: -len("_ids")] for p in parameters_of(suite) if p.endswith("_ids")}
        if read & tables:
            chosen.append(name)
    return chosen


def run_batch(engine: sa.Engine, sf_client, xero_client, changes: Changes, *, cfg: SfxeroConfig,
              run_id: str | None) -> BatchReport:
    report = BatchReport()
    clock = _StageClock(report.seconds)
    for sobject, ids in changes.salesforce.items():
        if ids:
            table = f"sf_{snake(sobject)}"
            report.staged[table] = stage_salesforce_by_id(sf_client, engine, sobject, table, ids, run_id=run_id).rows
    for collection, ids in changes.xero.items():
        for obj in _XERO_BY_COLLECTION[collection] if ids else ():
            if obj.key in cfg.extract.xero.objects:
                report.staged[obj.table] = stage_xero_by_id(xero_client, engine, obj, ids, run_id=run_id).rows
    clock.lap("extract")

    tables = changes.tables()
    for name in suites_reading(tables):
        with engine.begin() as conn:
            outcome = run_suite(conn, name, cfg.checks, foreign_ids=rows_of_other_organisations(conn, cfg, name))
            if not outcome.staged:
                continue
            report.held[name], _ = sync_holds(conn, table_name=outcome.hold_table, suite=name,
                                              failures=outcome.record_failures, run_id=run_id)
        report.blocked += [f"{name}: {why}" for why in outcome.table_failures]
    clock.lap("checks")
    if report.blocked:
        return report

    report.families = [f for f in FAMILIES if set(FAMILY_TABLES[f]) & tables]
    for family in report.families:
        with engine.begin() as conn:
            write_plan(conn, build_family(conn, cfg, family).rows, recipes=FAMILIES[family],
                       tenant_id=serving_tenant(conn, os.environ))
    clock.lap("reconcile")

    sources = changes.ids()
    report.pushes.append(push_to_xero(engine, xero_client, sf_client, cfg=cfg.push, run_id=run_id,
                                      only_sources=sources))
    report.pushes.append(push_to_salesforce(engine, sf_client, cfg=cfg.push, run_id=run_id, only_sources=sources))
    clock.lap("push")
    return report


class _StageClock:
    """Writes each stage's wall seconds into `into` as the stage ends."""

    def __init__(self, into: dict[str, float]) -> None:
        self.into, self.last = into, time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.into[stage] = round(now - self.last, 3)
        self.last = now
