"""Resource fields that may be a `dg.EnvVar`: read them when a resource is used outside a Dagster run."""

from __future__ import annotations

import dagster as dg


def env_value(value):
    """A resource field's value: an unresolved `dg.EnvVar` is read now (resources used outside a
    Dagster run, e.g. by the CLI and tests); anything else is returned as is."""
    if isinstance(value, dg.EnvVar):
        return value.get_value()
    return value
