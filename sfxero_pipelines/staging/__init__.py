"""The staging database (SPEC §8): one table per extracted object plus sync state, on SQLite or PostgreSQL."""
