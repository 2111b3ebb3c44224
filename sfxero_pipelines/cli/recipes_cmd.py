"""`sfxero recipes`: every recipe (built-in and declared) with its source, target, match and state;
`recipes validate [FILE]` checks a configuration without running anything (exit 0, or 2 with one
line per problem naming its key); `recipes show NAME` prints one recipe's effective declaration with
the defaults filled in (docs/architecture.md §5.3).

Salesforce fields of declared recipes are checked against a describe: the one extract cached in
staging (SFXERO_STAGING_URL, when it answers and has the object), otherwise the sandbox org's
schema, and the output says which.
"""

from __future__ import annotations

import click
import yaml

from ..config.builtin_declared import ENGINE_BUILTINS
from ..config.declared import ROUTE_ALL
from ..recipes import R1, R2, R3, R4, R5, R6, R7
from . import EXIT_CONFIG, EXIT_OK

#: The built-in recipes' ends and matching, as their planners implement them (docs/architecture.md §5).
BUILTIN = {
    R1: ("Salesforce Account", "Xero Contacts"),
    R2: ("Salesforce Opportunity (won) + line items", "Xero Invoices (ACCREC)"),
    R3: ("Xero Invoices (status, payments)", "Salesforce Opportunity"),
    R4: ("Xero Contacts (balances)", "Salesforce Account"),
    R5: ("Xero Contacts (Xero-owned fields)", "Salesforce Account"),
    R6: ("Xero Contacts (overdue)", "Salesforce CampaignMember"),
    R7: ("Salesforce Order (activated) + items", "Xero Invoices (ACCREC)"),
}
_BUILTIN_MATCH = {R2: "link, Reference = Opportunity Id",
                  R5: f"{R1}'s links", R6: f"{R1}'s links, email", R7: "link, Reference = Order Id"}


def _match_text(rules) -> str:
    out = []
    for m in rules:
        out.append(f"{m.via}'s links" if m.via else "link" if m.kind == "link" else
                   f"{m.target} = {m.source}" if m.kind == "key" else f"{m.kind}({m.target} = {m.source})")
    return ", ".join(out)


def recipe_lines(cfg) -> list[dict]:
    rows = []
    for code, (src, dst) in BUILTIN.items():
        opts = getattr(cfg.recipes, code)
        match = ", ".join(opts.match) if code == R1 else \
            _match_text(opts.match) if code in ENGINE_BUILTINS else _BUILTIN_MATCH[code]
        rows.append({"recipe": code, "kind": "built-in", "source": src, "target": dst, "match": match,
                     "enabled": opts.enabled})
    for name, r in cfg.recipes.declared.items():
        src = f"Salesforce {r.source.salesforce}" if r.source.salesforce else f"Xero {r.source.xero}"
        cond = r.source.where or r.source.filter
        rows.append({"recipe": name, "kind": "declared", "source": src + (f" where {cond}" if cond else ""),
                     "target": f"Xero {r.to.xero}" if r.to.xero else f"Salesforce {r.to.salesforce}",
                     "match": _match_text(r.match), "enabled": r.enabled})
    return rows


def run_list() -> int:
    from ..config import load_config

    cfg = load_config()
    rows = recipe_lines(cfg)
    width = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in ("recipe", "kind", "source", "target")}
    click.echo(f"{'recipe':<{width['recipe']}}  {'kind':<{width['kind']}}  {'enabled':<7}  "
               f"{'source':<{width['source']}}  {'target':<{width['target']}}  match")
    for r in rows:
        click.echo(f"{r['recipe']:<{width['recipe']}}  {r['kind']:<{width['kind']}}  {'yes' if r['enabled'] else 'no':<7}  "
                   f"{r['source']:<{width['source']}}  {r['target']:<{width['target']}}  {r['match']}")
    return EXIT_OK


def _describe_source(declared) -> tuple[object, str]:
    """(describe function, what it is) for the Salesforce checks: staging's cached describe when it
    has every object the declarations name, else the sandbox org's schema."""
    import os

    objects = {o for r in declared.values() for o in
               [r.source.salesforce or r.to.salesforce, *(s.lookup.split(".")[0] for s in r.fields.values() if s.lookup)]}
    if os.environ.get("SFXERO_STAGING_URL"):
        try:
            from ..reconcile.declared import staged_describe
            from ..settings import engine_for, staging_url

            engine = engine_for(staging_url())
            with engine.connect() as conn:
                describe = staged_describe(conn)
                known = {o: describe(o) for o in objects}
            engine.dispose()
            if all(v is not None for v in known.values()):
                return (lambda o, k=known: k.get(o)), "the describe staged by extract"
        except Exception:  # noqa: BLE001 - an unreachable staging falls back to the sandbox schema, said below
            pass
    from ..sandbox.salesforce.schema import sobject

    def describe(name: str):
        obj = sobject(name)
        return None if obj is None else {f.name: f.type for f in obj.fields}

    return describe, "the sandbox org's schema (nothing staged to check against)"


def run_validate(path: str | None) -> int:
    from ..config import config_path, config_problems, read_yaml
    from ..config.declared import salesforce_problems
    from ..errors import ConfigError

    source = str(path or config_path())
    try:
        data = read_yaml(source)
    except (ConfigError, OSError) as exc:
        click.echo(f"{source}: {getattr(exc, 'problem', None) or exc}")
        return EXIT_CONFIG
    cfg, lines = config_problems(data, source=source)
    against = ""
    if cfg is not None and cfg.recipes.declarations:
        describe, against = _describe_source(cfg.recipes.declarations)
        lines += [f"{source}: {k}: {p}" for k, p in salesforce_problems(cfg.recipes.declarations, describe)]
    for line in dict.fromkeys(lines):
        click.echo(line)
    if lines:
        return EXIT_CONFIG
    n = len(cfg.recipes.declared)
    click.echo(f"{source}: valid ({7 + n} recipes, {n} declared" +
               (f"; Salesforce fields checked against {against})" if against else ")"))
    return EXIT_OK


def run_show(name: str) -> int:
    from ..config import load_config
    from ..errors import ConfigError

    cfg = load_config()
    declared = {**{n: getattr(cfg.recipes, n) for n in ENGINE_BUILTINS}, **cfg.recipes.declared}
    if name in declared:
        r = declared[name]
        body = {**({"built_in": True} if name in ENGINE_BUILTINS else {}), **r.model_dump(mode="json", by_alias=True)}
        body["fields"] = {k: {f: v for f, v in spec.items() if (v is not None and (f, v) != ("create_only", False)) or
                              (f == "value" and "value" in r.fields[k].model_fields_set)}
                          for k, spec in body["fields"].items()}
        body["match"] = [{"link": m["via"]} if m["via"] else m["kind"] if m["kind"] == "link" else
                         {m["target"]: m["source"]} if m["kind"] == "key" else {m["kind"]: {m["target"]: m["source"]}}
                         for m in body["match"]]
        for side in ("from", "to"):
            body[side] = {k: v for k, v in body[side].items() if v is not None}
        # Which organisation a record goes to with several (routing:): only a Salesforce record is routed.
        body.pop("route")
        if r.source.salesforce:
            body["route"] = r.routed_by or ROUTE_ALL
    elif name in (R1, R5):
        from ..config.r1_declared import r1_as_declared

        # One two-way declaration, from `mapping.contact_fields` and `recipes.R1`: R1 plans it towards Xero,
        # R5 is its fields brought back (config/r1_declared.py). R1's filters stay R1's (`filters:`).
        r1 = cfg.recipes.R1
        body = {"built_in": True, "enabled": getattr(cfg.recipes, name).enabled,
                "rows": "towards Xero, and the ContactID written back" if name == R1 else
                        f"the fields {R1}'s declaration brings back from Xero",
                **r1_as_declared(cfg.mapping, r1, with_where=False),
                "filters": [f.model_dump(mode="json") for f in r1.filters]}
    elif name == R6:
        from ..config.r6_declared import OVERDUE, PERSON_CONTACT, r6_as_declared

        # `recipes.R6` as the declaration the engine plans (config/r6_declared.py); R6's pass computes what
        # each Xero Contact owes and who it is in Salesforce (reconcile/campaigns.py).
        rc = cfg.recipes.R6
        body = {"built_in": True, **r6_as_declared(rc),
                "computed": {OVERDUE: f"owed on AUTHORISED ACCREC invoices at least {rc.min_days_overdue} days past "
                                      "due, in the base currency",
                             PERSON_CONTACT.split(".")[0]: f"the {R1}-linked Account's primary Contact, else the one "
                                                           "Contact, else the one unconverted Lead with the email"}}
    elif name in (R2, R7):
        from ..config.invoice_declared import CODE_DOES, invoice_as_declared

        # `recipes.R2` (R7) as the declaration the engine plans (config/invoice_declared.py), and what R2's
        # code does at the engine's extension point (reconcile/invoices.py) with the settings below it.
        rc = getattr(cfg.recipes, name)
        settings = {k: v for k, v in rc.model_dump(mode="json").items() if k not in ("enabled", "deletes")}
        # Both sides of its delete policies: the declaration carries the Salesforce side alone, as the code
        # plans both (reconcile/deletes.gone_pairs).
        body = {"built_in": True, **invoice_as_declared(name, rc), "deletes": rc.deletes.effective(name),
                "code": dict(CODE_DOES), **settings}
    elif name in BUILTIN:
        src, dst = BUILTIN[name]
        body = {"built_in": True, "from": src, "to": dst, **getattr(cfg.recipes, name).model_dump(mode="json")}
    else:
        known = [*BUILTIN, *cfg.recipes.declared]
        raise ConfigError(f"recipes show {name}", f"no such recipe ({', '.join(known)})")
    click.echo(yaml.safe_dump({"recipes": {name: body}}, sort_keys=False, allow_unicode=True).rstrip())
    return EXIT_OK
