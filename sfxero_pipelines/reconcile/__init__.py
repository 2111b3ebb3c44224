"""Reconciliation: compare staged Salesforce and Xero data and build the sync plan (docs/architecture.md §5).

Data flows one way: staged tables (+ `sync_link`, open holds, the ledger) → DataFrames →
matching (link → deterministic key → normalised email → normalised name) → mapped values →
field-level diffs with ownership and echo suppression → plan rows. Nothing here calls an API, and
`build_*` functions never write; plans are stored by `staging/state/plans.py` (called by the Dagster
assets, never by `sfxero plan`).

Plan row contract (`sync_plan`):
- `action`: create | update | delete | skip | conflict | held (delete: R6 removing a CampaignMember).
- `diff` (JSON): {"match": how the pair was matched, "link": true when the push must record a new
  `sync_link`, "fields": {field: {"old", "new", "rule"}}, "payload": the exact API body to send
  (full mapped record for creates, changed fields only for updates), "target_object", and for
  conflicts "candidates": [ids...]; "suppressed": {field: reason} for echoes not planned back}.
- `plan_id` is a hash of the recipe and every row, so the same inputs give the same plan (same ids,
  same row order).
"""
