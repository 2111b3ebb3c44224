"""Which Xero organisation (tenant) each Salesforce Account belongs to: the `routing:` rules of sfxero.yaml
resolved against the organisations connected (docs/architecture.md §4.4). Pure logic: no database, no API.

`Router(cfg.routing, organisations)` names a rule's organisation by tenant id or by name (as Xero's
`/connections` gives it); one naming no connected organisation is a ConfigError naming the key. Without a
`routing:` section, one organisation takes every Account; several with no rules is a ConfigError, not a
guess. `route(values)` takes an Account's field values by API name and returns `(tenant_id, None)`, or
`(None, reason)` when no rule matches and there is no default: the Account is held with that reason
(its sentence is in `hold_sentences.py`), and so are its Opportunities and Orders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..config.routing import RoutingConfig
from ..errors import ConfigError


@dataclass(frozen=True)
class Organisation:
    tenant_id: str
    name: str | None = None


def _norm(value) -> str:
    return str(value).strip().casefold() if value is not None else ""


class Router:
    def __init__(self, cfg: RoutingConfig, organisations: Sequence[Organisation]) -> None:
        self.cfg = cfg
        self.organisations = tuple(organisations)
        if not self.organisations:
            raise ConfigError("Xero", "no organisation to route to: `sfxero connect xero`, or set XERO_TENANT_ID")
        if not cfg.configured and len(self.organisations) > 1:
            names = ", ".join(o.name or o.tenant_id for o in self.organisations)
            raise ConfigError("sfxero.yaml: routing", f"several Xero organisations are connected ({names}): say which "
                              "Accounts go to which under routing: (README \"Several organisations\")")
        self._rules = [(rule, self._resolve(rule.tenant, f"routing.rules[{i}].tenant"))
                       for i, rule in enumerate(cfg.rules)]
        self.default = (self._resolve(cfg.default, "routing.default") if cfg.default is not None
                        else None if cfg.configured else self.organisations[0].tenant_id)

    def _resolve(self, ref: str, key: str) -> str:
        wanted = _norm(ref)
        by_id = [o for o in self.organisations if _norm(o.tenant_id) == wanted]
        by_name = [o for o in self.organisations if o.name and _norm(o.name) == wanted]
        if by_id:
            return by_id[0].tenant_id
        if len(by_name) == 1:
            return by_name[0].tenant_id
        if by_name:
            raise ConfigError(f"sfxero.yaml: {key}", f"'{ref}' names {len(by_name)} connected organisations: "
                              "use the tenant id (`sfxero connections`)")
        raise ConfigError(f"sfxero.yaml: {key}", f"'{ref}' is not a connected Xero organisation "
                          "(`sfxero connections` lists them; `sfxero connect xero` adds one)")

    @property
    def tenants(self) -> tuple[str, ...]:
        return tuple(o.tenant_id for o in self.organisations)

    @property
    def fields(self) -> tuple[str, ...]:
        """The Account fields (API names) `route` reads."""
        return self.cfg.account_fields

    def route(self, values: Mapping[str, object]) -> tuple[str | None, str | None]:
        for rule, tenant in self._rules:
            if _norm(values.get(rule.account_field)) in rule.values:
                return tenant, None
        if self.default is not None:
            return self.default, None
        seen = ", ".join(f"{f} '{values.get(f) or ''}'" for f in self.fields)
        reason = f"no routing rule matches the Account ({seen}) and routing has no default"
        return None, reason
