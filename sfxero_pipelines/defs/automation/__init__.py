"""Automation of the sync cycle: schedules, the sensors that chain its stages, push and failure alerts.

    schedule (schedules.cycle_cron) ─┬─ extract_job (today's partition)  ─┐ both succeeded
                                     └─ reference_extract_job            ─┴→ check_job ─ success → reconcile_job
    new plan with pushable rows (sync_plan) → push_xero_job / push_salesforce_job
    any run of this code location fails → webhook / email / log (notify:)
    once a day, a stored Xero connection idle 7+ days → xero_token_keepalive_job (rotates it before Xero's 60)

A failed run anywhere in the chain stops it: a blocking check that fails fails check_job, so
nothing is reconciled, and therefore nothing pushed, from bad data.
"""
