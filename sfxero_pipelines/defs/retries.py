"""What a step's Dagster RetryPolicy may retry: transient failures only.

A RetryPolicy reruns a failed step whatever the exception. Only transient trouble heals by asking
again — a 429 or 5xx streak the client gave up on, a timeout, a dropped connection, the staging
database briefly unreachable. A refused credential, a configuration error, a missing file, an
exhausted API budget, a request the API refused, or a bug fail the same way every time: rerunning
them only delays the one-line reason by minutes. `only_transient_retried()` turns those into
`dg.Failure(allow_retries=False)`, whose description is that one line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from ..errors import ApiError, SfxeroError, certificate_problem

#: Extract and push steps that call an API: a transient failure is retried twice, 5 then 10 s later
#: (jittered, so parallel steps do not return together).
API_RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.FULL)


def is_transient(exc: BaseException) -> bool:
    """Whether rerunning the step may succeed where this failure happened."""
    import sqlite3

    import psycopg
    import requests
    import sqlalchemy as sa
    import urllib3

    if isinstance(exc, ApiError):
        return exc.transient
    if isinstance(exc, SfxeroError) or certificate_problem(exc):
        return False
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError)):
        return True
    # The database went away or was locked (through SQLAlchemy, or the loaders' raw connections);
    # the builtins are resets, refusals and timeouts.
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError, psycopg.OperationalError,
                        sqlite3.OperationalError, ConnectionError, TimeoutError)):
        return True
    return False


@contextmanager
def only_transient_retried() -> Iterator[None]:
    """Wrap a step's body: a failure that cannot heal stops the step at once, with its reason."""
    try:
        yield
    except (dg.Failure, dg.RetryRequested):
        raise
    except Exception as exc:
        if is_transient(exc):
            raise
        if isinstance(exc, SfxeroError):
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        # A bug: keep its traceback (the cause) for whoever investigates.
        raise dg.Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from exc
