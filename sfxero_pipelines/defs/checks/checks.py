"""Asset checks on every staged table, in front of reconciliation and push.

- `quality` (one per staged table with a suite, `blocking=True`): runs the table's GE suite. Records
  failing a record-level expectation are held (`held_record`, stage `check`) and the check WARNs; the
  rest proceed. A table-level failure (key constraint broken, a rule that cannot be evaluated, more
  than `checks.max_bad_share` of rows bad) is an ERROR, which blocks everything downstream.
- `accounting_invoice_push` (on `sf_opportunity`) and `accounting_contact_push` (on `sf_account`),
  `blocking=True`: pre-validation against staged Xero reference data, so a push is not the first
  place an accounting rule fails. Same hold / block semantics.
- `signals` (one per staged table, all in one multi-asset check, `can_subset=True`): the soft signals
  freshness, row-count drop and (Salesforce) schema drift, always `AssetCheckSeverity.WARN`, never
  blocking; the description names the signals that fired, the metadata holds each one's finding.

Every result carries the failing ids (a sample, with the count) and a per-expectation summary in
its metadata, so a person can act from the Dagster UI. Checks are unpartitioned: they check the
whole staged table, whatever partition was just extracted.
"""


import datetime as dt

import dagster as dg

from ...checks import signals
from ...checks.holds import open_holds, sync_holds
from ...checks.runner import SuiteOutcome, run_suite
from ...checks.suites import load_suite, parameters_of
from ...config import ChecksConfig, load_config
from ...staging.schema import snake
from ...reconcile.routing import rows_of_other_organisations
from ..blocking_check import blocking_check
from ..staging.resources import StagingDatabase
from ...extract.xero_objects import XERO_OBJECTS

# What each check waits for when it runs in the same run as the extract (a dependency also waits for
# that asset's blocking checks). sf_opportunity_line_item is read but deliberately not a dependency:
# its own quality check depends on sf_opportunity, whose blocking checks include this one (a cycle).
ACCOUNTING_DEPS = {
    "accounting_invoice_push": ("sf_account", "sf_product2", "xero_contact", "xero_item", "xero_account",
                                "xero_tax_rate", "xero_invoice"),
    "accounting_contact_push": ("xero_contact",),
}
#: The one multi-asset check carrying every soft signal (its op's name), and its check per table.
SIGNALS_CHECK = "staging_signals"
SIGNALS = "signals"
_PARAM_TABLES = {"xero_document_ids": ("xero_invoice", "xero_bill"), "active_account_codes": ("xero_account",),
                 "active_tax_types": ("xero_tax_rate",)}


def staged_tables() -> list[str]:
    """Every staged table the configuration extracts (the assets the checks attach to)."""
    extract = load_config().extract
    return ([f"sf_{snake(o)}" for o in extract.salesforce.objects]
            + [XERO_OBJECTS[k].table for k in extract.xero.objects])


def _deps(tables: list[str], wanted) -> list[str]:
    return [t for t in dict.fromkeys(wanted) if t in tables]


def _suite_deps(suite: dict) -> list[str]:
    out = []
    for name in parameters_of(suite):
        if name in _PARAM_TABLES:
            out += _PARAM_TABLES[name]
        elif name.endswith("_ids"):
            out.append(name[: -len("_ids")])
    return out


def quality_result(outcome: SuiteOutcome, *, held: int, released: int, still_open: int,
                   cfg: ChecksConfig) -> dg.AssetCheckResult:
    if not outcome.staged:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"note": f"{outcome.table} has not been staged yet: nothing checked"})
    failing = sorted(outcome.record_failures)
    metadata = {
        "rows_checked": outcome.rows, "bad_rows": outcome.bad_rows, "bad_share": round(outcome.bad_share, 4),
        "max_bad_share": cfg.max_bad_share, "held_now": held, "released_now": released,
        "open_holds": still_open, "hold_table": outcome.hold_table,
        "failing_ids_count": len(failing),
        "failing_ids_sample": dg.MetadataValue.json(failing[: cfg.sample_size]),
        "expectations": dg.MetadataValue.json([e.summary() for e in outcome.expectations if not e.success or e.skipped]),
        "expectations_evaluated": sum(1 for e in outcome.expectations if not e.skipped),
        "seconds": round(outcome.seconds, 3),
    }
    if outcome.table_failures:
        metadata["table_failures"] = dg.MetadataValue.json(outcome.table_failures)
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata,
                                   description="; ".join(outcome.table_failures))
    if failing:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, metadata=metadata,
                                   description=f"{len(failing)} records held; the other {outcome.rows - len(failing)} proceed")
    return dg.AssetCheckResult(passed=True, metadata=metadata)


def evaluate_suite(context, staging: StagingDatabase, suite_name: str, cfg: ChecksConfig | None) -> dg.AssetCheckResult:
    whole = load_config()
    cfg = cfg or whole.checks
    with staging.begin() as conn:
        outcome = run_suite(conn, suite_name, cfg, foreign_ids=rows_of_other_organisations(conn, whole, suite_name))
        held = released = still_open = 0
        if outcome.staged:
            held, released = sync_holds(conn, table_name=outcome.hold_table, suite=suite_name,
                                        failures=outcome.record_failures, run_id=context.run.run_id)
            still_open = len(open_holds(conn, outcome.hold_table, stage="check"))
    return quality_result(outcome, held=held, released=released, still_open=still_open, cfg=cfg)


def build_suite_check(suite_name: str, tables: list[str], cfg: ChecksConfig | None = None) -> dg.AssetChecksDefinition:
    suite = load_suite(suite_name)
    table = suite["meta"]["table"]
    deps = ACCOUNTING_DEPS.get(suite_name) or _suite_deps(suite)
    name = "quality" if suite_name == table else suite_name

    @blocking_check(asset=table, name=name, additional_deps=_deps(tables, [d for d in deps if d != table]),
                    description=suite["meta"]["description"] + " Failing records are held; a table-level failure blocks.")
    def _check(context: dg.AssetCheckExecutionContext, staging: StagingDatabase) -> dg.AssetCheckResult:
        return evaluate_suite(context, staging, suite_name, cfg)

    return _check


def _latest_row_counts(instance, table: str) -> tuple[int | None, int | None, dict | None]:
    records = instance.fetch_materializations(dg.AssetKey(table), limit=2).records
    counts, drift = [], None
    for i, record in enumerate(records):
        meta = record.asset_materialization.metadata if record.asset_materialization else {}
        value = meta.get("dagster/row_count")
        counts.append(int(value.value) if value is not None else None)
        if i == 0 and meta.get("schema_drift") is not None:
            drift = meta["schema_drift"].value
    counts += [None] * (2 - len(counts))
    return counts[0], counts[1], drift


def signals_result(key: dg.AssetKey, found: list[signals.Signal]) -> dg.AssetCheckResult:
    """One WARN-only result carrying every signal of a table: passed when none fires; the description
    names those that did (or, all quiet, what each found)."""
    firing = [s for s in found if not s.ok]
    metadata = {s.name: s.message for s in found}
    for s in found:
        metadata.update({k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v
                         for k, v in s.metadata.items() if v is not None})
    return dg.AssetCheckResult(
        asset_key=key, check_name=SIGNALS, passed=not firing, severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(f"{s.name}: {s.message}" for s in firing or found), metadata=metadata)


def build_signal_checks(tables: list[str], cfg: ChecksConfig | None = None) -> dg.AssetChecksDefinition:
    # One check per table rather than one per signal: each check result costs Dagster a planned event,
    # an evaluation and an output (about 20 ms of a cycle each, ~40 fewer results for 23 tables), and
    # the signals of one table are read together anyway.
    specs = [dg.AssetCheckSpec(SIGNALS, asset=table,
                               description="WARN when the newest extract is stale, the row count drops sharply"
                                           + (", or Salesforce describe added, removed or retyped a field"
                                              if table.startswith("sf_") else ""))
             for table in tables]

    @dg.multi_asset_check(specs=specs, can_subset=True, name=SIGNALS_CHECK,
                          description="Soft signals on staged tables (never blocking).")
    def _signals(context: dg.AssetCheckExecutionContext, staging: StagingDatabase):
        config = cfg or load_config().checks
        now = dt.datetime.now(dt.timezone.utc)
        selected = context.selected_asset_check_keys
        with staging.begin() as conn:
            for table in tables:
                key = dg.AssetKey(table)
                if dg.AssetCheckKey(key, SIGNALS) not in selected:
                    continue
                latest, previous, drift = _latest_row_counts(context.instance, table)
                found = [signals.freshness(conn, table, config, now),
                         signals.row_count_drop(signals.staged_count(conn, table), latest, previous, config)]
                if table.startswith("sf_"):
                    found.append(signals.schema_drift(conn, table, config, now, drift))
                yield signals_result(key, found)

    return _signals


def build_checks(tables: list[str] | None = None, cfg: ChecksConfig | None = None) -> list[dg.AssetChecksDefinition]:
    """All checks for `tables` (default: every configured staged table). `cfg` pins the config (tests)."""
    from ...checks.suites import accounting_suites, table_suite

    tables = tables if tables is not None else staged_tables()
    checks = [build_suite_check(t, tables, cfg) for t in tables if table_suite(t)]
    checks += [build_suite_check(s, tables, cfg) for s in accounting_suites()
               if load_suite(s)["meta"]["table"] in tables]
    if tables:
        checks.append(build_signal_checks(tables, cfg))
    return checks
