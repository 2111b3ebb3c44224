"""The sync state, one owner per table (docs/architecture.md §4.2): the only modules that issue SQL on them.

- `holds`: `held_record`, records held at a stage with their reason, opened and released;
- `ledger`: `sync_ledger`, every write attempt before and after the call;
- `links`: `sync_link`, Salesforce id <-> Xero id per recipe;
- `plans`: `sync_plan`, the stored plans, written by reconcile and read by push, the sensors and the CLI.

Checks, reconcile, push and the CLI call these; none of them reads or writes those tables with SQL of its
own (scripts/check_layers.py fails if one does). SQL here is SQLAlchemy Core or text with bound values;
identifiers come only from the schema.
"""
