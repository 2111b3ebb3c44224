"""The daily partitions every extract asset shares, on the source's modified timestamp.

They start at `extract.start_date` when sfxero.yaml sets it. Otherwise they start on the day the
staging database was set up (its first migration): a first sync reads all history at once (today's
partition, no cursor yet, reads from the beginning), so every day before it would only ever show
"Missing" in the UI although its rows are staged, and every check result on an extract pays for
listing those days. A team that wants past days as windows of their own sets `start_date` and
backfills them.

Read once per process (the code server's partitions do not move under the UI): a staging database
not reachable or not set up yet gives today, the day a first sync would set it up.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ..config import load_config
from ..errors import ConfigError
from ..settings import staging_url
from ..staging.migrations import created_on

#: Seconds to wait for a PostgreSQL staging server while the definitions load.
CONNECT_TIMEOUT_S = 5


@lru_cache(maxsize=8)
def staging_created_on(url: str) -> dt.date | None:
    """The day the staging database at `url` was set up, or None (not set up, or not reachable now)."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if not parsed.database or not Path(parsed.database).is_file():
            return None  # not set up yet: connecting would create the file
        connect_args = {}
    else:
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S}
    engine = sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            return created_on(conn)
    except sa.exc.SQLAlchemyError:
        # The code location must load even so (the UI is where a person sees what is wrong); today's
        # partition is the one a first sync uses.
        return None
    finally:
        engine.dispose()


def partitions_start(environ: Mapping[str, str] = os.environ) -> dt.date:
    configured = load_config().extract.start_date
    if configured is not None:
        return configured
    try:
        url = staging_url(environ)
    except ConfigError:
        url = None  # the staging resource names the bad URL when a run uses it; the location still loads
    return (url and staging_created_on(url)) or dt.datetime.now(dt.timezone.utc).date()


@lru_cache(maxsize=8)
def _daily(start: dt.date) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's (still open) partition exists; materializing it is the incremental sync.
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), end_offset=1)


def daily_partitions() -> dg.DailyPartitionsDefinition:
    return _daily(partitions_start())
