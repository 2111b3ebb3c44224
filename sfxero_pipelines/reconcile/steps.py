"""The steps every planner is made of, shared where the logic is the same: read → match → pair →
compare → emit (docs/architecture.md §5).

- read: each planner reads its own tables (`contacts.read_*`, `invoices.read_*`, `campaigns.read_*`);
- match: `match.match` (link → deterministic key → email → name); `link_pairs` gives it the links a
  read frame carries;
- pair: `pair_frame` lines the two sides of every matched pair up as columns, `hold_reasons` says
  why a pair may not be planned (a held or invalid record on either side), `split_held` parts the
  held pairs from the rest;
- compare: `fields.compare` over `FieldRule`s (`xero_owned` builds the rule of a field only Xero
  writes), `changes_by_row` groups its entries into each row's `fields` diff;
- emit: `plan.rows`, with `held_pair_rows` (pairs held with their reason), `broken_link_rows`,
  `conflict_rows` (ambiguous matches) and `sf_update_rows` (Xero → Salesforce updates of one object)
  for the rows several recipes share; `plan.concat` joins a planner's parts.

Pure functions of DataFrames and dicts: nothing here reads a database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from . import plan
from .fields import Entry, FieldRule

#: A check of one pair column: the value → why the pair is held, or None.
HoldCheck = tuple[str, Callable[[object], str | None] | None]


# ---- match -------------------------------------------------------------------------------------

def link_pairs(records: pd.DataFrame, link_col: str) -> pd.DataFrame:
    """sync_link rows (sf_id, xero_id) of the records whose `link_col` is set, for `match.match`."""
    return records.loc[records[link_col].notna(), ["id", link_col]].rename(columns={"id": "sf_id", link_col: "xero_id"})


# ---- pair --------------------------------------------------------------------------------------

def pair_frame(pairs: pd.DataFrame, sf: pd.DataFrame, target: pd.DataFrame, sf_cols: dict[str, str],
               target_cols: dict[str, str]) -> pd.DataFrame:
    """One row per matched pair: sf_id, xero_id, match, link (as `match.match` gave them), then each
    `sf_cols` column (pair column → column of `sf`, indexed by id) and each `target_cols` column
    (→ column of `target`, indexed by id), aligned to the pair. Values keep their objects (dtype
    object): comparisons work on text as staged, never on what pandas would infer."""
    s_rows, x_rows = sf.loc[pairs.sf_id], target.loc[pairs.xero_id]
    cols: dict[str, object] = {"sf_id": pairs.sf_id.to_numpy(), "xero_id": pairs.xero_id.to_numpy(),
                               "match": pairs["match"].to_numpy(), "link": pairs.link.to_numpy()}
    cols.update({name: s_rows[c].to_numpy() for name, c in sf_cols.items()})
    cols.update({name: x_rows[c].to_numpy() for name, c in target_cols.items()})
    out = pd.DataFrame(cols)
    for c in out.columns:
        if out[c].dtype != object and c != "link":
            out[c] = out[c].astype("object")
    return out


def held_by(holds: dict[str, str], label: str) -> Callable[[object], str | None] | None:
    """A HoldCheck function: "<label> <id> <hold reason>" for an id with an open hold (None, no
    check at all, when nothing is held)."""
    if not holds:
        return None
    return lambda i: f"{label} {i} {holds[i]}" if i in holds else None


def staged_invalid(label: str) -> Callable[[object], str | None]:
    """A HoldCheck function on an `invalid_reason` column: "<label> staged invalid: <reason>"."""
    return lambda r: f"{label} staged invalid: {r}" if isinstance(r, str) else None


def hold_reasons(pairs: pd.DataFrame, checks: Iterable[HoldCheck]) -> pd.Series:
    """Why each pair is held (None when it is not): the first of `checks` (pair column, function of
    its value) that gives a reason; a check without a function is passed over."""
    reason = pd.Series(None, index=pairs.index, dtype="object")
    for column, why in checks:
        if why is not None:
            reason = reason.fillna(pairs[column].map(why))
    return reason.where(reason.notna(), None)


def split_held(pairs: pd.DataFrame, reason: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """(pairs to compare, renumbered from 0; held pairs; their reasons)."""
    held = reason.notna().to_numpy()
    return pairs[~held].reset_index(drop=True), pairs[held], reason[held].tolist()


# ---- compare -----------------------------------------------------------------------------------

def xero_owned(name: str, transform: Callable[[pd.Series], pd.Series], label: str,
               x_col: str | None = None) -> FieldRule:
    """The rule of a Salesforce field only Xero writes (balances, payments, a written-back id): pair
    columns `s_<name>` and `x_<name>` (or `x_col`), one transform for both sides."""
    return FieldRule(key=name, sf_field=name, s_col=f"s_{name}", x_col=x_col or f"x_{name}", to_xero=transform,
                     compare=transform, to_sf=transform, owner="xero", label=label)


def changes_by_row(entries: Iterable[Entry], *, direction: str | None = None,
                   rule_prefix: str = "") -> dict[int, dict[str, dict]]:
    """Pair row → {field: {old, new, rule}}: the `fields` of each row's diff (only `direction`'s
    entries when given; `rule_prefix` before each rule)."""
    out: dict[int, dict[str, dict]] = {}
    for e in entries:
        if direction is None or e.direction == direction:
            out.setdefault(e.row, {})[e.field] = {"old": e.old, "new": e.new, "rule": rule_prefix + e.rule}
    return out


# ---- emit --------------------------------------------------------------------------------------

def in_sync(rule: str) -> str:
    """The reason of a pair in sync, matched by `rule`."""
    return f"in sync (matched by {rule})"


def brought_back(n: int) -> str:
    """The reason of a row bringing `n` fields from Xero into Salesforce."""
    return f"{n} Xero-side field(s) to bring back"


def ambiguous(rule: str, candidates: list, other: list, *, many: str, one: str, others: str) -> str:
    """The reason of a conflict row: several `many` share the key (`candidates`), or the one candidate
    (`one`) also matches other records of the source (`others`)."""
    return (f"ambiguous {rule} match: " + (f"{len(candidates)} {many} share it ({', '.join(candidates)})"
            if len(candidates) > 1 else f"{one} {candidates[0]} also matches {others}(s) {', '.join(other)}")
            + "; link the right one in sync_link or fix the duplicate")


def held_pair_rows(recipe: str, held: pd.DataFrame, reasons: list) -> pd.DataFrame:
    """sf_to_xero `held` rows of matched pairs, with how each was matched."""
    return plan.rows(recipe, "sf_to_xero", "held", held.sf_id, held.xero_id, [{"match": m} for m in held["match"]],
                     reasons)


def sf_update_rows(recipe: str, sobject: str, pairs: pd.DataFrame, changes: dict[int, dict], reason: str,
                   payload: Callable[[int, dict], dict] | None = None, with_link: bool = False) -> pd.DataFrame:
    """xero_to_sf `update` rows writing `changes` (pair row → fields) onto the pair's `sobject`
    record: payload {sobject: {Id, field: new...}} unless `payload(row, fields)` says otherwise;
    `with_link` adds whether the push records a new sync_link."""
    rows = sorted(changes)
    sf_ids, x_ids, how = pairs.sf_id.to_numpy(), pairs.xero_id.to_numpy(), pairs["match"].to_numpy()
    links = pairs.link.to_numpy() if with_link else None
    diffs = []
    for r in rows:
        fields = changes[r]
        body = payload(r, fields) if payload else {sobject: {"Id": sf_ids[r], **{k: v["new"] for k, v in fields.items()}}}
        diff = {"match": how[r], "target_object": sobject, "fields": fields, "payload": body}
        if with_link:
            diff["link"] = bool(links[r])
        diffs.append(diff)
    return plan.rows(recipe, "xero_to_sf", "update", [x_ids[r] for r in rows], [sf_ids[r] for r in rows], diffs, reason)


def broken_link_rows(recipe: str, broken: pd.DataFrame, diff: dict | None) -> pd.DataFrame:
    """sf_to_xero `held` rows of links that point at a missing, archived or shared record (`match.match`'s
    `broken`), each with `diff`."""
    return plan.rows(recipe, "sf_to_xero", "held", broken.sf_id, broken.xero_id, [diff] * len(broken),
                     broken.reason.tolist())


def conflict_rows(recipe: str, conflicts: pd.DataFrame, reason: Callable[[str, list, list], str]) -> pd.DataFrame:
    """sf_to_xero `conflict` rows of ambiguous matches (`match.match`'s `conflicts`): the rule, the
    candidates and the other Salesforce records sharing the key; `reason(rule, candidates, other_sf)`."""
    c = conflicts
    return plan.rows(recipe, "sf_to_xero", "conflict", c.sf_id, None,
                     [{"match": r, "candidates": list(k), "other_sf": list(o)} for r, k, o in
                      zip(c.rule, c.candidates, c.other_sf)],
                     [reason(r, list(k), list(o)) for r, k, o in zip(c.rule, c.candidates, c.other_sf)])
