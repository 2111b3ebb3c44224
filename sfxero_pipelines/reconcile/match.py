"""Set-based matching in docs/architecture.md §5's order: link → deterministic key → normalised email → normalised name.

Works on whole DataFrames (merges on keys), never on pairs in a Python loop, so 1M × 1M stays a
few hash joins. A key shared by two candidates on either side is never guessed: every Salesforce
record involved becomes a conflict listing all candidates, and those records and candidates leave
the pool (a later, weaker rule must not pick one of them either).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class MatchResult:
    #: sf_id, xero_id, match (rule name), link (True when the push must record a new sync_link)
    pairs: pd.DataFrame
    #: sf_id, rule, candidates (sorted list of Xero ids), other_sf (sorted list of Salesforce ids)
    conflicts: pd.DataFrame
    #: sf_id, xero_id, reason (a link that points at a missing or archived record)
    broken: pd.DataFrame
    #: Salesforce ids left unmatched
    unmatched: pd.Series
    by_rule: dict[str, int] = field(default_factory=dict)


def _lists(keys: pd.Series, values: pd.Series) -> dict:
    """key → sorted list of its values."""
    out: dict = {}
    for k, v in zip(keys, values):
        out.setdefault(k, []).append(v)
    for v in out.values():
        v.sort()
    return out


def _empty(cols: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="object") for c in cols})


def match(sf: pd.DataFrame, target: pd.DataFrame, *, links: pd.DataFrame, sf_link_col: str | None,
          active: pd.Series, keys: list[tuple[str, Callable[[pd.DataFrame], pd.Series], Callable[[pd.DataFrame], pd.Series]]],
          target_label: str = "Xero record") -> MatchResult:
    """Match `sf` (column `id`) to `target` (column `id`).

    links: sync_link rows (sf_id, xero_id); `sf_link_col` is a Salesforce field holding the Xero id
    we wrote back (a link too, used when sync_link has none). `active` (aligned to `target`) is
    False for archived/deleted targets: never matched by key, and a link to one is "broken".
    keys: (rule name, sf key function, target key function) applied to the remaining records.
    """
    by_rule: dict[str, int] = {}
    # -- 1. links: ours (sync_link) first, then the id written back into Salesforce --------------
    # Positional masks over `sf` and `target` rather than id sets: 1M ids are hashed a few times, not a dozen.
    lk = links.loc[links.sf_id.isin(sf.id).to_numpy(), ["sf_id", "xero_id"]]
    has_link = sf.id.isin(lk.sf_id).to_numpy()
    by_field = np.zeros(len(sf), dtype=bool)
    if sf_link_col and sf_link_col in sf.columns:
        by_field = sf[sf_link_col].notna().to_numpy() & ~has_link
        field_links = sf.loc[by_field, ["id", sf_link_col]].rename(columns={"id": "sf_id", sf_link_col: "xero_id"})
        lk = pd.concat([lk, field_links], ignore_index=True)
    from_field = np.zeros(len(lk), dtype=bool)
    from_field[len(lk) - int(by_field.sum()):] = True
    lk = lk.assign(xero_id=lk.xero_id.astype("object").str.strip())
    active_np = np.asarray(active, dtype=bool)
    target_ids = pd.Index(target.id.to_numpy(dtype=object))
    if target_ids.is_unique:
        pos = target_ids.get_indexer(lk.xero_id.to_numpy(dtype=object))
        exists = pos >= 0
        is_active = exists & active_np[np.where(exists, pos, 0)] if len(active_np) else exists
    else:  # duplicate target ids (not from a staged table): by value
        known = pd.Series(active_np, index=target.id.values)
        exists = lk.xero_id.isin(known.index).to_numpy()
        is_active = lk.xero_id.map(known.groupby(level=0).any()).fillna(False).astype(bool).to_numpy()
        pos = None
    # Two Salesforce records linked to one target (a copied Xero_Contact_Id__c): ambiguous.
    dup_target = lk.xero_id.duplicated(keep=False).to_numpy()
    bad = ~exists | ~is_active | dup_target
    broken = lk[bad].copy()
    broken["reason"] = [
        (f"linked to {target_label} {x}, which is also linked from another Salesforce record" if d else
         f"linked {target_label} {x} is archived or deleted" if e else f"linked {target_label} {x} not found in staging")
        for x, e, d in zip(broken.xero_id, exists[bad], dup_target[bad])]
    linked = lk[~bad].assign(match="link", link=from_field[~bad])  # link: found only via the Salesforce field
    by_rule["link"] = len(linked)
    pairs = [linked]
    rem_sf = sf[~(has_link | by_field)]
    if pos is not None:
        taken_x = np.zeros(len(target), dtype=bool)
        taken_x[pos[exists]] = True
    else:
        taken_x = target.id.isin(set(lk.xero_id)).to_numpy()
    rem_x = target[active_np & ~taken_x]
    conflicts = []
    # -- 2.. deterministic key, email, name --------------------------------------------------------
    for rule, sf_key, x_key in keys:
        if rem_sf.empty or rem_x.empty:
            by_rule[rule] = 0
            continue
        a = pd.DataFrame({"sf_id": rem_sf.id.values, "key": sf_key(rem_sf).values}).dropna(subset=["key"])
        b = pd.DataFrame({"xero_id": rem_x.id.values, "key": x_key(rem_x).values}).dropna(subset=["key"])
        a = a[a.key.isin(b.key)]
        b = b[b.key.isin(a.key)]
        if a.empty:
            by_rule[rule] = 0
            continue
        na = a.key.map(a.key.value_counts())
        nb = b.key.map(b.key.value_counts())
        uniq_keys = set(a.key[na.eq(1)]) & set(b.key[nb.eq(1)])
        good = a[a.key.isin(uniq_keys)].merge(b[b.key.isin(uniq_keys)], on="key")[["sf_id", "xero_id"]]
        good = good.assign(match=rule, link=True)
        pairs.append(good)
        by_rule[rule] = len(good)
        amb_a, amb_b = a[~a.key.isin(uniq_keys)], b[~b.key.isin(uniq_keys)]
        if not amb_a.empty:
            cand = _lists(amb_b.key, amb_b.xero_id)
            others = _lists(amb_a.key, amb_a.sf_id)
            c = pd.DataFrame({"sf_id": amb_a.sf_id.to_numpy(dtype=object), "rule": rule,
                              "candidates": [cand.get(k, []) for k in amb_a.key],
                              "other_sf": [[s for s in others[k] if s != me] for k, me in zip(amb_a.key, amb_a.sf_id)]},
                             dtype="object")
            conflicts.append(c)
        used_sf = set(a.sf_id)  # matched or ambiguous: out of the pool either way
        used_x = set(b.xero_id)
        rem_sf = rem_sf[~rem_sf.id.isin(used_sf)]
        rem_x = rem_x[~rem_x.id.isin(used_x)]
    pairs_df = pd.concat(pairs, ignore_index=True) if pairs else _empty(["sf_id", "xero_id", "match", "link"])
    conf_df = pd.concat(conflicts, ignore_index=True) if conflicts else _empty(["sf_id", "rule", "candidates", "other_sf"])
    return MatchResult(pairs=pairs_df, conflicts=conf_df, broken=broken[["sf_id", "xero_id", "reason"]],
                       unmatched=rem_sf.id, by_rule=by_rule)
