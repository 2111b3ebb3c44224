"""The staging database (docs/architecture.md §4): one table per extracted object plus sync state, on SQLite or PostgreSQL."""
