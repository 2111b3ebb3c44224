"""The organisations one Xero emulator serves (`sfxero sandbox --xero-orgs N`).

Xero routes every Accounting API call by its `xero-tenant-id` header; one consent can grant an app
several organisations, each with its own data and its own rate limits (60/minute, 5 concurrent,
5,000/day), while the app's 10,000/minute is shared by all of them. A `Tenant` is one such
organisation: its seeded `Org`, its `Limits` (sharing one `AppWindow`), its idempotency keys and its
query cache. The first tenant is the one a single-organisation sandbox always had (same id, name and
data), so N=1 changes nothing; tenant k > 0 is seeded from its own world (seed + k·1009), giving
different companies and documents, deterministic from the seed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from .idempotency import IdempotencyStore
from .limits import Limits
from .store import Org

#: Names of organisations 2..: one company's regional entities, as users run them.
_NAMES = ("Sandbox Trading Co", "Sandbox Trading UK Ltd", "Sandbox Trading GmbH", "Sandbox Trading Pty Ltd",
          "Sandbox Trading NZ Ltd", "Sandbox Trading KK")
WORLD_SEED_STEP = 1009


def tenant_id(primary: str, index: int) -> str:
    """Tenant `index`'s id: the primary's for 0, else a stable UUID derived from it."""
    return primary if index == 0 else str(uuid.uuid5(uuid.NAMESPACE_URL, f"{primary}/org/{index}"))


def tenant_name(index: int) -> str:
    return _NAMES[index] if index < len(_NAMES) else f"Sandbox Trading {index + 1}"


@dataclass
class Tenant:
    index: int
    tenant_id: str
    name: str
    limits: Limits
    idempotency: IdempotencyStore
    org: Org | None = None
    query_cache: dict = field(default_factory=dict)

    @property
    def connection_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, self.tenant_id))

    @property
    def auth_event_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, self.tenant_id))
