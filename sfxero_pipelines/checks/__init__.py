"""Data-quality checks on the staged tables: pure logic, no Dagster (that lives in `defs/checks`).

- `suites/<name>.json`: great-expectations 1.x expectation suites, one per staged table plus the
  accounting pre-validation suites (`accounting_*`), kept in the repo and reviewed like code. Each
  expectation's `meta.level` says what a failure means: `record` → the failing records are held and
  the rest proceed; `table` → a key constraint is broken and the whole table blocks.
- `frames.py`: reads a suite's table (live rows only) into a pandas frame, with the derived columns
  and the run-time parameters (`{"$PARAMETER": ...}`: foreign-key id sets, active codes, date range).
- `runner.py`: validates a frame against its suite with great-expectations and returns an outcome
  (failing ids with the expectation and value, table-level failures, counts).
- `holds.py`: which failures hold which records and why (stored in `held_record`, stage `check`, by
  `staging/state/holds.py`); `open_holds` is the one query downstream stages need.
- `signals.py`: soft signals (freshness, row-count drop, schema drift) that only ever warn.
"""
