"""sfxero: a self-hosted Salesforce <-> Xero sync built as a Dagster code location."""

__version__ = "0.1.0"
