"""The recipes' codes and titles (docs/architecture.md §5): the one place R1..R7 are spelt.

A code is what the `recipes:` section of sfxero.yaml, `sync_plan.recipe`, `sync_link.recipe`, the
ledger and the asset keys (`sync_plan_r1`) all say; code reads these names instead of literals so a
reader can find every use of a recipe, and a recipe added later is one line here. Plain constants,
importable from every layer (config, checks, reconcile, push, defs).
"""

from __future__ import annotations

#: Salesforce Account → Xero Contact (matching, create/update, the ContactID write-back).
R1 = "R1"
#: Won Opportunity + line items → Xero ACCREC invoice.
R2 = "R2"
#: Invoice status and payments → Opportunity.
R3 = "R3"
#: Xero balances → Account.
R4 = "R4"
#: Xero-owned Contact fields → Account.
R5 = "R5"
#: Overdue Xero customers → Salesforce Campaign members.
R6 = "R6"
#: Activated Order + OrderItems → Xero ACCREC invoice.
R7 = "R7"

RECIPE_TITLES: dict[str, str] = {
    R1: "Salesforce Accounts → Xero Contacts", R4: "Xero balances → Account", R5: "Xero-owned Contact fields → Account",
    R2: "Won Opportunities → Xero ACCREC invoices", R3: "Invoice status and payments → Opportunity",
    R6: "Overdue Xero customers → Salesforce Campaign members", R7: "Activated Orders → Xero ACCREC invoices",
}

#: The system each built-in recipe's plan writes into: its push job runs the plan's blocking checks.
WRITES_TO: dict[str, str] = {R1: "xero", R2: "xero", R7: "xero", R3: "salesforce", R4: "salesforce",
                             R5: "salesforce", R6: "salesforce"}

#: Every recipe code, in order.
RECIPES: tuple[str, ...] = (R1, R2, R3, R4, R5, R6, R7)
