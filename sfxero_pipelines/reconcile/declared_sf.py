"""The planner of a declared recipe into Salesforce: a Xero collection (CreditNotes, Bills,
BankTransactions, …) → a Salesforce object (docs/architecture.md §5.3). The same steps, rows and diff
format as `declared.py` into Xero and the built-in Xero → Salesforce recipes, in that direction:

- read: the collection's staged records (fields from `raw`), its `filter`; a record VOIDED, DELETED
  or ARCHIVED in Xero (or gone from it) is *gone*: never created, and its linked Salesforce record
  gets the `deletes` policy; the object's staged records (deleted ones cannot be matched);
- fields: each value brought to the Salesforce field's kind from the staged describe (a Xero
  "/Date(…)/" and Salesforce's "2026-01-31" compare as one date); `ref: Contact.ContactID, via: R1`
  is the Salesforce id that recipe links the Xero id to: `sync_link`, and the pairs its plan of this
  pass (or its latest stored one) links, so a credit note reaches the Account R1 matches in the same
  cycle. A record whose reference has no link is `held` with that reason, never dropped;
- match: `match.match` with the Xero records on the matching side: link, then the key pairs
  `{SalesforceField: XeroPath}`; the first is what a create is upserted by (`lookup_by`, the
  external id: a create retried after a lost answer finds the record instead of making a second);
- compare: `fields.compare`, every field owned by Xero, or under `sync: two_way` by its `owner:`
  (a Salesforce-owned field's value goes back to the Xero path it is read from: `sf_to_xero` update
  rows, for a collection sfxero writes: Contacts, Items, Quotes); emit `xero_to_sf` rows (source_id the Xero
  id, target_id the Salesforce id): create / update / skip (with `"link": true` when the push must
  record a new sync_link) / held / conflict, and for a gone record under `deletes`:
  `archive` → a `delete` row (a Salesforce record has no archived state: deleted, it waits in the
  Recycle Bin 15 days, restorable), `hold_for_approval` → that delete held until `sfxero approve
  ROW_ID`, `ignore` → nothing.

A family plans its built-in declarations (R3 in R2's pass, R4 in R1's) through `plan_on_pass`: the
pairs of that pass stand for the via recipe's links (`pass_pairs`), and the records it read come
with them when it has them (`handed_over`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..config import SfxeroConfig
from ..config.declared import SF_KINDS, XERO_TARGETS, DeclaredRecipe, linked_ends, template_fields
from ..config.wording import Wording
from ..staging.state import links as state_links
from ..staging.state.plans import has_plans_table, load_latest, row_diff
from . import load, normalize, plan, transforms
from .declared import (DELETED, FieldPlan, _col, _conditions_mask, _kind_fn, _plain, _read_sf, _read_xero, _xero_table,
                       create_diff, create_hold, create_rows, refuse_against_describe, sf_table, staged_describe,
                       xero_body, xero_removals)
from .deletes import Gone, policy_rows
from .fields import FieldRule, compare
from .match import MatchResult, match
from .steps import (HoldCheck, ambiguous, changes_by_row, held_by, hold_reasons, in_sync, pair_frame, sf_update_rows,
                    split_held, staged_invalid)

DIRECTION = "xero_to_sf"


def linked_sf_ids(conn: sa.Connection, via: str, planned: pd.DataFrame | None) -> dict[str, str]:
    """Xero id → Salesforce id through `via`'s links: sync_link, then the matched pairs of `via`'s plan
    (`planned_pairs`), which its push links."""
    out = {x: s for s, x in state_links.links_of(conn, via).items()} if state_links.has_links_table(conn) else {}
    for x, s in planned_pairs(conn, via, planned).items():
        out.setdefault(x, s)
    return out


def planned_pairs(conn: sa.Connection, via: str, planned: pd.DataFrame | None) -> dict[str, str]:
    """Xero id → Salesforce id of the pairs `via`'s plan matched (skip and update rows): this pass's
    (`planned`) when it has one, else the latest stored."""
    rows = planned[planned.recipe == via] if planned is not None and len(planned) else None
    if rows is None or not len(rows):
        rows = load_latest(conn, via) if has_plans_table(conn) else None
    out: dict[str, str] = {}
    if rows is not None and len(rows):
        paired = rows[rows.action.isin(["skip", "update"]).to_numpy()]
        for direction, source, target in zip(paired.direction, paired.source_id, paired.target_id):
            if isinstance(source, str) and isinstance(target, str) and source and target:
                x, s = (target, source) if direction == "sf_to_xero" else (source, target)
                out.setdefault(x, s)
    return out


def _referenced(r: DeclaredRecipe, via: str, cfg: SfxeroConfig) -> str:
    """What a `via` recipe links Xero ids to, for reasons: "Salesforce Account"."""
    ends = linked_ends(via, cfg.recipes.declared)
    return f"Salesforce {ends[0] if ends else 'record'}"


def _field_kind(kinds: dict[str, str], field: str) -> str:
    """The kind a Salesforce field's values are brought to, from its describe type."""
    described = next((t for f, t in kinds.items() if f.lower() == field.lower()), "string")
    return "text" if described == "anyType" else SF_KINDS.get(described, "text")


def handed_over(pass_pairs: pd.DataFrame | None, paths: set[str],
                sf_fields: set[str]) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(Xero records, Salesforce records) as `_read_xero` / `_read_sf` give them, from the columns a family's
    pass hands over with its pairs (`x:<path>` and `s:<Field>` as staged, `x_`/`s_modified_at`,
    `x_`/`s_invalid`); None unless every one the recipe reads is there. The pairs are of live, active
    records. Why not read them again: planning the contacts of `sfxero bench reconcile --size 1000000` on
    SQLite (every pair compared in Python; same database, same machine) took 69-71 s with R4 reading both
    sides again, 53-57 s with them handed over, 43-50 s with R4's code planner."""
    if pass_pairs is None or not {f"x:{p}" for p in paths} | {f"s:{f}" for f in sf_fields} <= set(pass_pairs.columns):
        return None
    if not {"x_modified_at", "s_modified_at", "x_invalid", "s_invalid"} <= set(pass_pairs.columns):
        return None
    p = pass_pairs.reset_index(drop=True)
    xr = pd.DataFrame({"id": p.xero_id, "modified_at": p.x_modified_at, "invalid_reason": p.x_invalid,
                       "is_deleted": False, **{f"x:{q}": p[f"x:{q}"] for q in paths}, "_active": True})
    tgt = pd.DataFrame({"id": p.sf_id, "modified_at": p.s_modified_at, "invalid_reason": p.s_invalid,
                        "is_deleted": False, **{_col(f): p[f"s:{f}"] for f in sf_fields}})
    return xr, tgt


def field_values(conn: sa.Connection, cfg: SfxeroConfig, name: str, r: DeclaredRecipe, src: pd.DataFrame,
                 kinds: dict[str, str], planned: pd.DataFrame | None) -> list[FieldPlan]:
    """Each mapped Salesforce field's value per Xero record (`src`, with its `x:<path>` columns)."""
    kw = transforms.options(cfg.mapping)
    out = []
    for field, spec in r.fields.items():
        kind = _field_kind(kinds, field)
        chain = transforms.chain(spec.transforms, **kw, field=lambda f: src[f"x:{f}"]) if spec.transforms \
            else (lambda s: s)
        missing = None
        if spec.source:
            raw, how = src[f"x:{spec.source}"], f"{spec.source}→{field}"
        elif spec.is_constant:
            raw, how = transforms.constant(spec.value, src.index), f"{field} = {spec.value!r}"
        elif spec.template:
            raw = transforms.template(spec.template, {f: src[f"x:{f}"] for f in template_fields(spec.template)},
                                      src.index)
            how = f"template {spec.template}→{field}"
        else:
            ids = src[f"x:{spec.ref}"]
            linked = linked_sf_ids(conn, spec.via, planned)
            raw = ids.map(lambda i: linked.get(i) if isinstance(i, str) else None).astype("object")
            what = _referenced(r, spec.via, cfg)
            missing = pd.Series([f"its {spec.ref} {i} has no {spec.via} link to a {what} yet ({spec.ref} via "
                                 f"{spec.via} → {field})" if isinstance(i, str) and i and not isinstance(s, str) else None
                                 for i, s in zip(ids, raw)], index=src.index, dtype="object")
            how = f"{spec.ref} via {spec.via}→{field}"
        values = _kind_fn(kind)(transforms.with_default(chain(raw.astype("object")), spec.default))
        label = spec.label(name, field, how)
        # Salesforce's value is compared as it is, in the field's kind (no transform of Xero's applies to it).
        out.append(FieldPlan(field, kind, values, field, "xero", label, lambda s, _=None, k=kind: _kind_fn(k)(s),
                             missing))
    return out


def plan_on_pass(conn: sa.Connection, cfg: SfxeroConfig, name: str, pairs: pd.DataFrame) -> plan.FamilyPlan:
    """A built-in declaration (R3, R4: `recipes.<name>`, config/builtin_recipes.yaml) planned by its family
    on the pairs of its pass (`pass_pairs`), after the staged describe has checked its fields."""
    r = getattr(cfg.recipes, name)
    return plan_into_salesforce(conn, cfg, name, r, pass_pairs=pairs, describe=refuse_against_describe(conn, name, r))


def place_values(src: pd.DataFrame, fps: list[FieldPlan]) -> None:
    """Each field plan's values as column `v<i>` of `src`, and in `_missing` the first reference without a
    link where `src` gives no reason of its own."""
    for i, fp in enumerate(fps):
        src[f"v{i}"] = fp.values.to_numpy()
    refs = _missing_ref(fps, src.index)
    src["_missing"] = (src["_missing"].where(src["_missing"].notna(), refs) if "_missing" in src else refs).to_numpy()


def _missing_ref(fps: list[FieldPlan], index) -> pd.Series:
    """Per record, the first reference without a link (None when every one resolved)."""
    why = pd.Series(None, index=index, dtype="object")
    for fp in fps:
        if fp.missing_ref is not None:
            why = why.where(why.notna(), fp.missing_ref)
    return why.where(why.notna(), None)


@dataclass
class SfPass:
    """What the read and match steps of a recipe into Salesforce hand its pair, compare and emit steps
    (`plan_sf_pass`): the engine's own (`read_and_match_sf`), or those of a planner's pass over the same
    records (R6's: who owes, and who that is in Salesforce, reconcile/campaigns.py)."""
    #: The live Xero records meeting the filter: `id`, `modified_at`, `invalid_reason`, `x:<path>`, a value
    #: column `v<i>` per field plan, and `_missing`: why a record cannot be written (a reference without a
    #: link; a pass's own reasons), else None.
    src: pd.DataFrame
    fps: list[FieldPlan]
    #: The Salesforce records: `id`, `modified_at`, `invalid_reason`, `is_deleted`, a column per field.
    tgt: pd.DataFrame
    live_sf: np.ndarray
    #: `match.match`'s sides: its `sf_id` is the Xero id (the record to place), `xero_id` the Salesforce id.
    #: A conflict may carry its own `reason` (the pass's words for why the match is ambiguous).
    result: MatchResult
    holds: dict[str, dict[str, str]]
    #: Xero records voided, deleted or archived (`gone`), and live ones that left the filter (`left`,
    #: `filtered_out: delete`; a `_missing` column holds one): the delete policy's.
    gone: pd.DataFrame
    left: pd.DataFrame
    #: Salesforce id → Xero id: what a gone record's target is found by (the recipe's sync_link).
    own_links: dict[str, str]
    #: Whether pairs in sync get skip rows: not when the pass's own rows say so (R3 in R2's, R4 in R1's).
    skips: bool = True
    #: Pair hold checks in place of the engine's (a pass that has its own reasons in `_missing`).
    checks: list[HoldCheck] | None = None
    #: Xero id → what the pass says of the record in reasons (`Wording.reasons`' placeholders) and adds to
    #: each of its rows' diff.
    say: dict[str, dict] = dataclass_field(default_factory=dict)
    extra: dict[str, dict] = dataclass_field(default_factory=dict)
    stats: dict = dataclass_field(default_factory=dict)


def plan_into_salesforce(conn: sa.Connection, cfg: SfxeroConfig, name: str, r: DeclaredRecipe,
                         planned: pd.DataFrame | None = None, *,
                         pass_pairs: pd.DataFrame | None = None,
                         describe: Callable[[str], dict[str, str] | None] | None = None) -> plan.FamilyPlan:
    """`pass_pairs` (sf_id, xero_id, match): the extension point of a family planning a built-in on the
    pairs of its own pass (R3 on R2's, reconcile/invoices.py; R4 on R1's). They stand for the `{link: …}`
    recipe's links, keeping the rule that matched them, and the pass's own rows already say which pairs
    are in sync, so no skip rows are added. When they also carry what the pass read of both records
    (`handed_over`), those are the records compared: nothing is read again. `describe`: the staged
    describe the caller has checked the declaration against (else read here)."""
    kinds = (describe or staged_describe(conn))(r.to.salesforce or "") or {}
    p = read_and_match_sf(conn, cfg, name, r, kinds, planned, pass_pairs)
    return plan_sf_pass(conn, name, r, Wording(name), p)


def read_and_match_sf(conn: sa.Connection, cfg: SfxeroConfig, name: str, r: DeclaredRecipe, kinds: dict[str, str],
                      planned: pd.DataFrame | None, pass_pairs: pd.DataFrame | None) -> SfPass:
    """The engine's read and match steps of declared recipe `name` into Salesforce."""
    sobject, coll = r.to.salesforce or "", r.source.xero or ""
    key = f"recipes.{name}"
    via = r.pairs_via
    source_table, target_table = _xero_table(coll), sf_table(sobject)

    # -- read: the Xero records (gone ones apart), then the Salesforce records
    paths = {c.field for c in r.source.conditions} | {m.source for m in r.match if m.source}
    paths |= {p for s in r.fields.values() for p in s.reads}
    sf_fields = set(r.fields) | {m.target for m in r.match if m.target}
    given = handed_over(pass_pairs, paths, sf_fields)
    xr = given[0] if given else _read_xero(conn, coll, paths, only=set(pass_pairs.xero_id) if pass_pairs is not None
                                           else None)
    src, gone, left = filtered(r, xr)
    fps = field_values(conn, cfg, name, r, src, kinds, planned)
    place_values(src, fps)
    tgt = given[1] if given else _read_sf(conn, sobject, sf_fields, key,
                                          only=set(pass_pairs.sf_id) if pass_pairs is not None else None)
    live_sf = ~tgt.is_deleted.isin(DELETED).to_numpy()
    own_links = state_links.links_of(conn, name) if state_links.has_links_table(conn) else {}

    # -- match: existing links first. Pairs through another recipe are its links and the pairs its plan
    # of this pass makes: existing links to this recipe (nothing to record), and what they do not pair
    # is not this recipe's to create.
    if pass_pairs is not None:
        linked = zip(pass_pairs.xero_id, pass_pairs.sf_id)
    else:
        linked = linked_sf_ids(conn, via, planned).items() if via else ((x, s) for s, x in own_links.items())
    result = match_sf(r, src, fps, tgt, live_sf, pd.DataFrame(list(linked), columns=["sf_id", "xero_id"],
                                                               dtype="object"))
    if via:
        how = dict(zip(pass_pairs.xero_id, pass_pairs["match"])) if pass_pairs is not None else {}
        result.pairs["match"] = [how.get(x, f"link {via}") for x in result.pairs.sf_id]
        result.by_rule = result.pairs["match"].value_counts().to_dict()
        result.broken, result.unmatched = result.broken.iloc[0:0], result.unmatched.iloc[0:0]
    holds = load.open_holds(conn, [source_table, target_table])
    stats = {"matched_by": result.by_rule, "source": len(src), "target": int(live_sf.sum()), "gone": len(gone)}
    return SfPass(src, fps, tgt, live_sf, result, holds, gone, left, own_links, skips=pass_pairs is None, stats=stats)


def match_sf(r: DeclaredRecipe, src: pd.DataFrame, fps: list[FieldPlan], tgt: pd.DataFrame, live_sf: np.ndarray,
             links: pd.DataFrame) -> MatchResult:
    """The match step into Salesforce: `links` (sf_id, xero_id), then the declared rules in order, with the
    Xero records on the matching side (match.match's "sf" side is the one to place: its `sf_id` is the
    Xero id). A key pair compares the field's mapped value with the Salesforce field."""
    values = {fp.name: fp.values for fp in fps}
    src_m = src.copy()
    keys = []
    for m in r.match[1:]:
        norm = normalize.v_email if m.kind == "email" else normalize.v_name if m.kind == "name" else normalize.v_text
        mapped = values.get(m.target)
        src_m[f"k:{m.target}"] = (mapped if mapped is not None and m.kind == "key" else src[f"x:{m.source}"]).to_numpy()
        keys.append((m.target if m.kind == "key" else m.kind,
                     lambda d, c=f"k:{m.target}", f=norm: f(d[c].astype("object")),
                     lambda d, c=_col(m.target), f=norm: f(d[c].astype("object"))))
    return match(src_m, tgt, links=links, sf_link_col=None, active=pd.Series(live_sf), keys=keys,
                 target_label=f"Salesforce {r.to.salesforce}")


def filtered(r: DeclaredRecipe, xr: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(live records meeting the filter, gone ones meeting it, live ones that left it under
    `filtered_out: delete`) of the Xero records `xr`."""
    meets = _conditions_mask(xr, r.source.conditions, lambda f: xr[f"x:{f}"])
    # `filtered_out: delete`: a live record that no longer meets the filter goes as a voided one does.
    left = xr[~meets & xr["_active"].to_numpy(dtype=bool)] if r.filtered_out == "delete" else xr.iloc[:0]
    xr = xr[meets].reset_index(drop=True)
    gone = xr[~xr["_active"].to_numpy(dtype=bool)].reset_index(drop=True)
    return xr[xr["_active"].to_numpy(dtype=bool)].reset_index(drop=True), gone, left.reset_index(drop=True)


def plan_sf_pass(conn: sa.Connection, name: str, r: DeclaredRecipe, words: Wording, p: SfPass) -> plan.FamilyPlan:
    """The pair, compare and emit steps of recipe `name`'s declaration `r` into Salesforce, on what a pass
    read and matched (`p`), its rows worded by `words`."""
    sobject, coll = r.to.salesforce or "", r.source.xero or ""
    code = words.code
    # The upsert key of creates (static_problems refuses a recipe into Salesforce without one, unless it
    # pairs through another recipe's links, which creates nothing); a built-in's push finds its own.
    ext = r.key_rule.target if r.key_rule and words.marks else None
    via = r.pairs_via
    source_table, target_table = _xero_table(coll), sf_table(sobject)
    diff_base = {"target_object": sobject, **({"source_table": source_table, "engine": "declared"} if words.marks
                                              else {}), **({"pairs_via": via} if via else {})}
    fps, src, tgt, result = p.fps, p.src, p.tgt, p.result
    for fp in fps:
        fp.label = words.rules.get(fp.name, fp.label)
    say = _Say(words, p)

    # -- pair
    holds = p.holds
    pairs = result.pairs.rename(columns={"sf_id": "xero_id", "xero_id": "sf_id"}).reset_index(drop=True)
    s_cols = {"s_modified_at": "modified_at", "s_invalid": "invalid_reason"}
    x_cols = {"x_modified_at": "modified_at", "x_invalid": "invalid_reason", "x_missing": "_missing"}
    specs = list(r.fields.values())
    # A field sent on a create only is never compared (a Campaign member's Status moves on in Salesforce):
    # not paired either, so the target need not hold it.
    compared = [i for i, fp in enumerate(fps) if not specs[i].create_only]
    for i in compared:
        s_cols[f"s_{i}"], x_cols[f"x_{i}"] = _col(fps[i].name), f"v{i}"
    paired = pair_frame(pairs, tgt.set_index("id"), src.set_index("id"), s_cols, x_cols)
    checks = p.checks if p.checks is not None else [
        ("xero_id", held_by(holds[source_table], f"Xero {coll}")), ("sf_id", held_by(holds[target_table], sobject)),
        ("x_invalid", staged_invalid(f"Xero {coll}")), ("s_invalid", staged_invalid(sobject)),
        ("x_missing", lambda why: why if isinstance(why, str) else None)]
    ok, held, held_why = split_held(paired, hold_reasons(paired, checks))

    # -- compare: Xero's fields, and under `sync: two_way` each field's owner (a Salesforce-owned value is
    # written to the Xero path it is read from, so the rule's key is that path: echo suppression finds it).
    two_way = r.sync == "two_way"
    rules = [FieldRule(key=specs[i].source if two_way and specs[i].source else fps[i].name, sf_field=fps[i].name,
                       s_col=f"s_{i}", x_col=f"x_{i}", to_xero=fps[i].compare, compare=fps[i].compare,
                       to_sf=lambda s: s, owner=(specs[i].owner or "xero") if two_way else "xero", label=fps[i].label)
             for i in compared]
    entries, suppressed = compare(ok, rules, written_xero=load.last_written(conn, "xero") if two_way else {},
                                  written_sf=load.last_written(conn, "salesforce"))
    back = changes_by_row(entries, direction=DIRECTION)
    fwd = changes_by_row(entries, direction="sf_to_xero")

    # -- emit
    parts = []
    x_ids, sf_ids = ok.xero_id.tolist(), ok.sf_id.tolist()
    how, new_link = ok["match"].tolist(), ok.link.tolist()
    if back:
        upd = sf_update_rows(code, sobject, ok, back, [f"{len(back[i])} field(s) differ; matched by {how[i]}"
                                                      for i in sorted(back)], with_link=True)
        upd["diff"] = [plan.dumps({**row_diff(d), **diff_base}) for d in upd["diff"]]
        parts.append(upd)
    if fwd:
        parts.append(_xero_updates(code, r, ok, fwd, target_table))
    skips = [i for i in range(len(ok)) if i not in back and i not in fwd] if p.skips else []
    # A pair matched by a key is linked by the push; a built-in's (R6's members) keeps no link of its own.
    link_it = new_link if words.marks else [False] * len(ok)
    parts.append(plan.rows(code, DIRECTION, "skip", [x_ids[i] for i in skips], [sf_ids[i] for i in skips],
                           [say.diff(x_ids[i], {"match": how[i], "link": True, "engine": "declared"} if link_it[i] else
                                     ({"match": how[i], "suppressed": suppressed[i]} if i in suppressed else None),
                                     diff_base) for i in skips],
                           [say.reason("skip", x_ids[i], in_sync(how[i])) for i in skips]))
    parts.append(plan.rows(code, DIRECTION, "held", held.xero_id, held.sf_id,
                           [say.diff(x, {"match": m}, diff_base) for x, m in zip(held.xero_id, held["match"])],
                           [say.reason("held", x, why, why=why) for x, why in zip(held.xero_id, held_why)]))
    if len(result.broken):
        parts.append(plan.rows(code, DIRECTION, "held", result.broken.sf_id, result.broken.xero_id, {"match": "link"},
                               result.broken.reason.tolist()))
    if len(result.conflicts):
        c = result.conflicts
        whys = c["reason"] if "reason" in c else [None] * len(c)
        parts.append(plan.rows(code, DIRECTION, "conflict", c.sf_id, None,
                               [say.diff(x, {"match": rule, "candidates": list(k), "other_xero": list(o)}, diff_base)
                                for x, rule, k, o in zip(c.sf_id, c.rule, c.candidates, c.other_sf)],
                               [say.reason("conflict", x, ambiguous(rule, list(k), list(o),
                                                                    many=f"Salesforce {sobject} records",
                                                                    one=f"Salesforce {sobject}",
                                                                    others=f"Xero {coll} record"), why=why, rule=rule)
                                for x, rule, k, o, why in zip(c.sf_id, c.rule, c.candidates, c.other_sf, whys)]))
    if ext or (not words.marks and not via):
        parts.append(_creates(code, r, src, fps, result.unmatched, holds[source_table], diff_base, ext, say))
    parts.append(_gone(conn, code, r, words, p, diff_base, say))
    return plan.FamilyPlan(rows=plan.concat(parts), stats=p.stats)


class _Say:
    """A row's reason and diff with what the pass says of its record (`SfPass.say`, `.extra`: by Xero id,
    or by (Xero id, Salesforce id) for a delete row, one record's several targets) in the words of
    `Wording.reasons`; without them, the engine's own."""

    def __init__(self, words: Wording, p: SfPass) -> None:
        self.words, self.say, self.extra = words, p.say, p.extra

    def reason(self, kind: str, key, engine: str, **more) -> str:
        template = self.words.reasons.get(kind)
        said = self.say.get(key, self.say.get(key[0]) if isinstance(key, tuple) else None)
        return engine if template is None or said is None else template.format(**said, **more)

    def diff(self, key, engine: dict | None, base: dict) -> dict | None:
        extra = self.extra.get(key, self.extra.get(key[0]) if isinstance(key, tuple) else None)
        return engine if extra is None else {**base, **(engine or {}), **extra}


def _xero_updates(name: str, r: DeclaredRecipe, ok: pd.DataFrame, fwd: dict[int, dict], sf_table_name: str) -> pd.DataFrame:
    """sf_to_xero `update` rows of a two-way recipe: the Salesforce-owned values, written to the Xero record
    at the paths they are read from (a push into Xero like a declared recipe's; a rejected one holds the
    Salesforce record)."""
    target_object, id_attr, _ = XERO_TARGETS[r.source.xero]
    rows = sorted(fwd)
    x_ids, sf_ids, how, new_link = ok.xero_id.to_numpy(), ok.sf_id.to_numpy(), ok["match"].to_numpy(), ok.link.to_numpy()
    diffs = [{"target_object": target_object, "source_table": sf_table_name, "engine": "declared", "match": how[i],
              "link": bool(new_link[i]), "fields": fwd[i],
              "payload": {id_attr: x_ids[i], **xero_body({k: v["new"] for k, v in fwd[i].items()}, [], r.source.xero)}}
             for i in rows]
    return plan.rows(name, "sf_to_xero", "update", [sf_ids[i] for i in rows], [x_ids[i] for i in rows], diffs,
                     [f"{len(fwd[i])} field(s) Salesforce owns differ; matched by {how[i]}" for i in rows])


def _creates(code: str, r: DeclaredRecipe, src: pd.DataFrame, fps: list[FieldPlan], unmatched: pd.Series,
             holds: dict, diff_base: dict, ext: str | None, say: _Say) -> pd.DataFrame:
    """Create rows of unmatched Xero records (upserted on `ext`; None: the recipe's push finds a create
    whose outcome is unknown by its fields), or held rows saying why not."""
    sobject, coll = r.to.salesforce, r.source.xero
    rows = src[src.id.isin(unmatched).to_numpy()]
    creates, held = [], []
    labels = {fp.name: fp.label for fp in fps}
    # Each column read once as an array: a cell lookup per field and record costs a pandas call each.
    cols = [rows[f"v{i}"].to_numpy() for i in range(len(fps))]
    label = f"Xero {coll}"
    # A pass that words its records says their reasons whole (`_missing`); the engine names the record.
    own = bool(say.words.reasons)
    for j, (x_id, invalid, missing) in enumerate(zip(rows.id, rows.invalid_reason, rows["_missing"])):
        flat = {fp.name: _plain(cols[i][j]) for i, fp in enumerate(fps)}
        flat = {k: v for k, v in flat.items() if v is not None and v != ""}
        why = create_hold(label, x_id, holds.get(x_id), invalid,
                          (missing if own else f"{label} {x_id}: {missing}") if isinstance(missing, str) else None,
                          f"{ext} is what a create is upserted by; the Xero record gives it no value"
                          if ext and ext not in flat else None)
        if why:
            held.append((x_id, say.reason("held", x_id, why, why=why), say.diff(x_id, None, diff_base)))
            continue
        # Without an upsert key the create is a built-in's, which keeps no link of its own (R6's members).
        diff = create_diff(diff_base, ext, flat, labels, {sobject: flat}, link=bool(ext))
        creates.append((x_id, say.diff(x_id, diff, diff_base), say.reason("create", x_id, "")))
    return create_rows(code, DIRECTION, r, [c[:2] for c in creates], [h[:2] for h in held], f"Salesforce {sobject}",
                       [c[2] for c in creates] if own else None, [h[2] for h in held])


def _gone(conn: sa.Connection, code: str, r: DeclaredRecipe, words: Wording, p: SfPass, diff_base: dict,
          say: _Say) -> pd.DataFrame:
    """The `deletes` policies' rows. `deletes.xero`: linked Salesforce records whose Xero record is gone
    (voided, deleted, archived) or, under `filtered_out: delete`, no longer meets the filter (`left`); a
    record a pass holds (`_missing`) is held, not deleted from, and under `words.delete_rule` a row lists
    the fields it removes, the target's values, as the built-in it words did. `deletes.salesforce` (a
    two-way recipe): linked Xero records whose Salesforce record was deleted, removed as the engine's
    recipes into Xero remove them (declared.xero_removals)."""
    sobject, coll = r.to.salesforce, r.source.xero
    removed = []
    if r.delete_policy("salesforce") != "ignore":
        deleted = {sf_id: f"{sobject} deleted in Salesforce" for sf_id in sorted(p.tgt.id[~p.live_sf])
                   if sf_id in p.own_links}
        removed = xero_removals(conn, code, r, coll, deleted, {"target_object": XERO_TARGETS[coll][0],
                                                                "source_table": sf_table(sobject), "engine": "declared"})
    if r.delete_policy("xero") == "ignore" or not (len(p.gone) or len(p.left)):
        return policy_rows(conn, code, removed)
    by_xero: dict[str, list[str]] = {}
    for sf_id, x_id in sorted(p.own_links.items()):
        by_xero.setdefault(x_id, []).append(sf_id)
    live = p.tgt[p.live_sf].set_index("id")
    decided = []
    for frame, filtered in ((p.gone, False), (p.left, True)):
        missing = frame["_missing"] if "_missing" in frame else pd.Series(None, index=frame.index, dtype="object")
        for x_id, status, held in zip(frame.id, frame["x:Status"].fillna(frame["x:ContactStatus"]), missing):
            status = status if isinstance(status, str) and status else "ACTIVE" if filtered else "DELETED"
            # Never linked, or already deleted in Salesforce: nothing to do.
            for sf_id in (s for s in by_xero.get(x_id, ()) if s in live.index):
                why, which = ((f"no longer meets filter: {r.source.filter}",
                               f"Xero {coll} {x_id} no longer meets the filter")
                              if filtered else (f"{status} in Xero", f"{status} Xero {coll} {x_id}"))
                fields = {}
                if words.delete_rule:
                    held_values = live.loc[sf_id]
                    fields = {fp.name: {"old": v, "new": None, "rule": words.delete_rule} for fp in p.fps
                              if not r.fields[fp.name].create_only
                              and isinstance(v := held_values.get(_col(fp.name)), str) and v}
                key = (x_id, sf_id)
                diff = say.diff(key, {**diff_base, "payload": {sobject: {"Id": sf_id}}, "fields": fields}, diff_base)
                decided.append(Gone(DIRECTION, x_id, sf_id, "delete", status, False, r.delete_policy("xero"),
                                    say.reason("delete", key, f"delete Salesforce {sobject} {sf_id} ({which})"),
                                    say.reason("gone", key, why), diff,
                                    say.reason("delete_held", key, held, why=held) if isinstance(held, str) else None))
    return policy_rows(conn, code, decided + removed)
