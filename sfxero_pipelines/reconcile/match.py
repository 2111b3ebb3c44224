"""Set-based matching in SPEC §2's order: link → deterministic key → normalised email → normalised name.

Works on whole DataFrames (merges on keys), never on pairs in a Python loop, so 1M × 1M stays a
few hash joins. A key shared by two candidates on either side is never guessed: every Salesforce
record involved becomes a conflict listing all candidates, and those records and candidates leave
the pool (a later, weaker rule must not pick one of them either).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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
    lk = links[["sf_id", "xero_id"]]
    lk = lk[lk.sf_id.isin(sf.id)]
    if sf_link_col and sf_link_col in sf.columns:
        field_links = sf.loc[sf[sf_link_col].notna() & ~sf.id.isin(lk.sf_id), ["id", sf_link_col]]
        field_links = field_links.rename(columns={"id": "sf_id", sf_link_col: "xero_id"})
        lk = pd.concat([lk, field_links], ignore_index=True)
    lk = lk.assign(xero_id=lk.xero_id.astype("object").str.strip())
    known = pd.Series(active.values, index=target.id.values)
    exists = lk.xero_id.isin(known.index)
    is_active = lk.xero_id.map(known).fillna(False).astype(bool)
    # Two Salesforce records linked to one target (a copied Xero_Contact_Id__c): ambiguous.
    dup_target = lk.xero_id.duplicated(keep=False)
    broken = lk[~exists | ~is_active | dup_target].copy()
    broken["reason"] = [
        (f"linked to {target_label} {x}, which is also linked from another Salesforce record" if d else
         f"linked {target_label} {x} is archived or deleted" if e else f"linked {target_label} {x} not found in staging")
        for x, e, d in zip(broken.xero_id, exists[broken.index], dup_target[broken.index])]
    linked = lk[exists & is_active & ~dup_target].assign(match="link", link=False)
    linked.loc[~linked.sf_id.isin(links.sf_id), "link"] = True  # found only via the Salesforce field
    by_rule["link"] = len(linked)
    pairs = [linked]
    taken_sf = set(lk.sf_id)
    taken_x = set(lk.xero_id)
    rem_sf = sf[~sf.id.isin(taken_sf)]
    rem_x = target[active.values & ~target.id.isin(taken_x).values]
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
            cand = amb_b.sort_values("xero_id").groupby("key", sort=False).xero_id.agg(list)
            others = amb_a.sort_values("sf_id").groupby("key", sort=False).sf_id.agg(list)
            c = amb_a.assign(rule=rule, candidates=amb_a.key.map(cand), other_sf=amb_a.key.map(others))
            c["other_sf"] = [[s for s in o if s != me] for o, me in zip(c.other_sf, c.sf_id)]
            conflicts.append(c[["sf_id", "rule", "candidates", "other_sf"]])
        used_sf = set(a.sf_id)  # matched or ambiguous: out of the pool either way
        used_x = set(b.xero_id)
        rem_sf = rem_sf[~rem_sf.id.isin(used_sf)]
        rem_x = rem_x[~rem_x.id.isin(used_x)]
    pairs_df = pd.concat(pairs, ignore_index=True) if pairs else _empty(["sf_id", "xero_id", "match", "link"])
    conf_df = pd.concat(conflicts, ignore_index=True) if conflicts else _empty(["sf_id", "rule", "candidates", "other_sf"])
    return MatchResult(pairs=pairs_df, conflicts=conf_df, broken=broken[["sf_id", "xero_id", "reason"]],
                       unmatched=rem_sf.id, by_rule=by_rule)
