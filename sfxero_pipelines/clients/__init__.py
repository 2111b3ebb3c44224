"""The two API clients, the one way production code talks to Salesforce and Xero.

Plain Python below the Dagster wiring (docs/architecture.md §3): `defs/salesforce/resources.py` and
`defs/xero/resources.py` build them from their resource fields at run launch. Each owns its transport
(TLS trust, pacing, retries of transient failures only), paging and error mapping.
"""
