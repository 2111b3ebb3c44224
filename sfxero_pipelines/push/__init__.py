"""Push: turn the stored sync plan into writes, safely (the last stage: extract → … → plan → push).

- `rows`: the pushable rows of the latest plans and their idempotency keys;
- the ledger, links and holds it records through their owners in `staging/state/` (every write attempt
  recorded before and after the call in `sync_ledger`);
- `to_xero` / `to_salesforce`: batched writes, per-record outcomes, links, holds, write-backs;
- `run`: the two entry points (`push_to_xero`, `push_to_salesforce`).
Nothing here reads the source systems except to look up a write whose outcome is unknown.
"""
