"""The real-time lane's logic, without Dagster (its wiring lives in defs/)."""
