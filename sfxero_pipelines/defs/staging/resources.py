"""The staging database as a Dagster resource (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from ...settings import DEFAULT_STAGING_URL, display_url, engine_for, staging_url
from ...staging.migrations import migrate


class StagingDatabase(dg.ConfigurableResource):
    """SQLAlchemy access to the staging database; the schema is migrated on first use."""

    url: str = DEFAULT_STAGING_URL

    _engine: sa.Engine | None = PrivateAttr(default=None)

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = engine_for(self.url)
            migrate(self._engine)
        return self._engine

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        with self.engine.begin() as conn:
            yield conn

    @property
    def display_url(self) -> str:
        return display_url(self.url)

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def staging_from_env() -> StagingDatabase:
    """SFXERO_STAGING_URL when set (resolved at launch, so a password in it never shows in the UI)."""
    import os

    if os.environ.get("SFXERO_STAGING_URL"):
        staging_url()  # validate now: a bad URL is a one-line config error, not a failed run
        return StagingDatabase(url=dg.EnvVar("SFXERO_STAGING_URL"))
    return StagingDatabase()


def staging_for_cli() -> StagingDatabase:
    """The staging database with its URL resolved now, for code outside a Dagster run (the CLI):
    `staging_from_env()` binds an EnvVar, which only a run may resolve."""
    return StagingDatabase(url=staging_url())


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"staging": staging_from_env()})
