"""Plan rows: canonical order, content-derived plan ids and the summary.

A plan is a DataFrame with PLAN_COLUMNS; `diff` is canonical JSON text (sorted keys) so hashing
and storage see the same bytes. `finalize` sorts the rows and assigns `plan_id` (per recipe, a
hash of every row) and `row_no`: same staged inputs → identical plan, ids and order included.
Storing and loading plans is `staging/state/plans.py`'s (the one owner of `sync_plan`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

PLAN_COLUMNS = ["recipe", "direction", "source_id", "target_id", "action", "diff", "reason"]
#: `delete` removes a target record (R6: a CampaignMember once its Xero Contact has paid).
ACTIONS = ("create", "update", "delete", "skip", "conflict", "held")
SORT = ["recipe", "direction", "action", "source_id", "target_id"]


def dumps(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def rows(recipe: str, direction: str, action: str, source_id, target_id, diff, reason) -> pd.DataFrame:
    """Rows from aligned sequences/scalars; `diff` is a list of dicts/None (serialised here)."""
    n = len(source_id)
    diffs = diff if isinstance(diff, list) else [diff] * n
    return pd.DataFrame({
        "recipe": recipe, "direction": direction, "action": action,
        "source_id": pd.Series(list(source_id), dtype="object"),
        "target_id": pd.Series(list(target_id) if not isinstance(target_id, str) and target_id is not None
                               else [target_id] * n, dtype="object"),
        "diff": pd.Series([None if d is None else dumps(d) for d in diffs], dtype="object"),
        "reason": pd.Series(list(reason) if isinstance(reason, (list, pd.Series)) else [reason] * n, dtype="object"),
    }, columns=PLAN_COLUMNS)


@dataclass
class FamilyPlan:
    """One recipe family's plan rows (not yet finalized) and its matching statistics."""

    rows: pd.DataFrame
    stats: dict = field(default_factory=dict)


def empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="object") for c in PLAN_COLUMNS})


def concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Plan rows of every non-empty part, in order (`empty()` when there are none)."""
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else empty()


def finalize(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate, order canonically, and add plan_id + row_no (per recipe)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        out = empty()
        out["plan_id"], out["row_no"] = pd.Series([], dtype="object"), pd.Series([], dtype="int64")
        return out
    df = pd.concat(parts, ignore_index=True)
    df = df.take(_order(df)).reset_index(drop=True)
    df["row_no"] = df.groupby("recipe", sort=False).cumcount().astype("int64") + 1
    ids = {}
    for recipe, idx in df.groupby("recipe", sort=True).indices.items():
        part = df.iloc[idx][PLAN_COLUMNS]
        # categorize=False: most columns are (nearly) unique ids; factorizing them first doubles the work.
        hashed = pd.util.hash_pandas_object(part, index=False, categorize=False).to_numpy(dtype=np.uint64)
        h = hashlib.sha256(f"{recipe}|{len(part)}|".encode())
        h.update(hashed.tobytes())
        ids[recipe] = f"{recipe}-{h.hexdigest()[:24]}"
    df["plan_id"] = df.recipe.map(ids)
    return df


def _order(df: pd.DataFrame) -> np.ndarray:
    """Row order by SORT, NULLs last, stable (what sort_values(SORT, kind="mergesort",
    na_position="last") gives), via numpy string keys: 4x faster than pandas on 1M rows."""
    keys = []
    for col in reversed(SORT):
        values = df[col].to_numpy(dtype=object)
        if col in ("recipe", "direction", "action"):  # a handful of values: their sorted codes
            codes, uniques = pd.factorize(values, sort=True)
            keys.append(np.where(codes < 0, len(uniques), codes))
        else:
            null = pd.isna(values)
            keys += [np.where(null, "", values).astype(str), null]
    return np.lexsort(keys)


def summary(plan: pd.DataFrame) -> dict[str, dict[str, int]]:
    """recipe → {action: count} with every action present (0 when none)."""
    out: dict[str, dict[str, int]] = {}
    counts = plan.groupby(["recipe", "action"]).size() if len(plan) else {}
    for (recipe, action), n in (counts.items() if len(plan) else []):
        out.setdefault(recipe, dict.fromkeys(ACTIONS, 0))[action] = int(n)
    return dict(sorted(out.items()))


def plan_ids(plan: pd.DataFrame) -> dict[str, str]:
    return dict(sorted(plan.groupby("recipe").plan_id.first().items())) if len(plan) else {}
