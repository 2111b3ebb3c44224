"""Resource fields that may be a `dg.EnvVar`: read them when a resource is used outside a Dagster run."""

from __future__ import annotations

import dagster as dg


#: What `dg.EnvVar.int(...)` makes (not an EnvVar subclass; its class is not public).
_INT_ENV_VAR = type(dg.EnvVar.int("_"))


def env_value(value):
    """A resource field's value: an unresolved `dg.EnvVar` (or `dg.EnvVar.int`) is read now (resources
    used outside a Dagster run, e.g. by the CLI and tests); anything else is returned as is."""
    if isinstance(value, (dg.EnvVar, _INT_ENV_VAR)):
        return value.get_value()
    return value
