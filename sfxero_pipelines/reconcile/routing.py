"""Which Xero organisation (tenant) each Salesforce Account belongs to: the `routing:` rules of sfxero.yaml
resolved against the organisations connected (docs/architecture.md §4.4). `Router` is pure logic;
`routed_here` reads the staged Accounts it routes.

`Router(cfg.routing, organisations)` names a rule's organisation by tenant id or by name (as Xero's
`/connections` gives it); one naming no connected organisation is a ConfigError naming the key. Without a
`routing:` section, one organisation takes every Account; several with no rules is a ConfigError, not a
guess. `route(values)` takes an Account's field values by API name and returns `(tenant_id, None)`, or
`(None, reason)` when no rule matches and there is no default: the Account is held with that reason
(its sentence is in `hold_sentences.py`), and so are its Opportunities and Orders.

`routed_here(conn, cfg)` applies it for the organisation a run serves (`tokens.serving_tenant`): the
planners keep the Accounts routed to it (and their Opportunities and Orders), hold those no rule takes,
and leave out the rest, which other organisations' runs plan.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from ..config import SfxeroConfig
from ..config.routing import RoutingConfig
from ..errors import ConfigError
from ..staging.schema import column_name
from ..staging.state import tokens
from . import load


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


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


@dataclass(frozen=True)
class Routed:
    """The Accounts one organisation's plan covers (`keep`), and those no organisation takes (`held`,
    id → reason). An Opportunity or Order follows its Account; one with no Account (held for that by
    the planner) is in the default organisation's plan, or in every one's when there is no default, so
    it is never out of sight (`takes_unowned`)."""

    tenant_id: str
    keep: frozenset[str]
    held: dict[str, str]
    takes_unowned: bool
    #: The Accounts routed to another organisation (their Xero write-backs are that organisation's).
    elsewhere: frozenset[str] = frozenset()

    def covers(self, account_id) -> bool:
        return account_id in self.keep or account_id in self.held if account_id else self.takes_unowned


def organisations(conn: sa.Connection, serving: str) -> list[Organisation]:
    """The organisations rules may name: the Xero connections stored (names as Xero gave them), and the
    one this run serves."""
    found = [Organisation(c.tenant_id, c.tenant_name) for c in tokens.list_connections(conn, tokens.SYSTEM_XERO)
             if c.state == tokens.ACTIVE]
    if serving and serving not in {o.tenant_id for o in found}:
        found.append(Organisation(serving))
    return found


def routed_here(conn: sa.Connection, cfg: SfxeroConfig, environ=os.environ) -> Routed | None:
    """The routing of this run's organisation (`tokens.serving_tenant`), or None when sfxero.yaml has no
    `routing:` (every Account is this organisation's, as before)."""
    if not cfg.routing.configured:
        return None
    serving = tokens.serving_tenant(conn, environ)
    orgs = organisations(conn, serving)
    # A rule may name an organisation this database holds no connection of by its tenant id (each
    # organisation's runs may keep their own staging database).
    named = [r.tenant for r in cfg.routing.rules] + ([cfg.routing.default] if cfg.routing.default else [])
    known = {o.tenant_id.lower() for o in orgs} | {(o.name or "").casefold() for o in orgs}
    orgs += [Organisation(ref) for ref in dict.fromkeys(named) if _UUID.match(ref) and ref.lower() not in known]
    router = Router(cfg.routing, orgs)
    have = load.table_columns(conn, "sf_account")
    for i, rule in enumerate(cfg.routing.rules):
        if have and column_name(rule.account_field) not in have:
            raise ConfigError(f"sfxero.yaml: routing.rules[{i}]", f"Account field '{rule.account_field}' is not in "
                              "staging (sf_account): add it to the org, or route by another field")
    fields = [f for f in router.fields if column_name(f) in have]
    cols = ", ".join(["id", *(load.q(conn, column_name(f)) for f in fields)])
    accounts = load.frame(conn, f"SELECT {cols} FROM sf_account WHERE NOT is_deleted", ["id", *fields]) \
        if have else None
    keep, held, elsewhere = set(), {}, set()
    for row in ([] if accounts is None else accounts.itertuples(index=False, name=None)):
        tenant, reason = router.route(dict(zip(fields, row[1:])))
        if tenant is None:
            held[row[0]] = reason
        else:
            (keep if tenant == serving else elsewhere).add(row[0])
    return Routed(serving, frozenset(keep), held, router.default in (serving, None), frozenset(elsewhere))


def rows_of_other_organisations(conn: sa.Connection, cfg: SfxeroConfig, suite: str,
                                environ=os.environ) -> frozenset[str]:
    """The rows of a check suite's table that `routing:` gives to an organisation other than this run's:
    the Accounts, whose Xero_Contact_Id__c is that organisation's contact (`checks.run_suite`'s
    `foreign_ids`). No other suite compares Salesforce rows with this organisation's Xero ids."""
    routed = routed_here(conn, cfg, environ) if suite == "sf_account" else None
    return routed.elsewhere if routed is not None else frozenset()
