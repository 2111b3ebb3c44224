"""A staged timestamp as an aware UTC datetime: what every reader of the staging database compares.

SQLite hands `DateTime(timezone=True)` columns back naive (and an aggregate such as min() over one as
text); everything sfxero stores is UTC.
"""

from __future__ import annotations

import datetime as dt


def aware(value: dt.datetime | str | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
