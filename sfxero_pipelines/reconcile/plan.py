"""Plan rows: canonical order, content-derived plan ids, the summary, and the one writer.

A plan is a DataFrame with PLAN_COLUMNS; `diff` is canonical JSON text (sorted keys) so hashing
and storage see the same bytes. `finalize` sorts the rows and assigns `plan_id` (per recipe, a
hash of every row) and `row_no`: same staged inputs → identical plan, ids and order included.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from psycopg.copy import QueuedLibpqWriter

PLAN_COLUMNS = ["recipe", "direction", "source_id", "target_id", "action", "diff", "reason"]
#: `delete` removes a target record (R6: a CampaignMember once its Xero Contact has paid).
ACTIONS = ("create", "update", "delete", "skip", "conflict", "held")
SORT = ["recipe", "direction", "action", "source_id", "target_id"]
#: Older plans kept per recipe (the latest is what `push` executes; earlier ones for comparison).
KEEP_PLANS = 3


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


def _latest(conn: sa.Connection, recipe: str) -> list[tuple[str, dt.datetime]]:
    return [tuple(r) for r in conn.execute(sa.text(
        "SELECT plan_id, created_at FROM sync_plan WHERE recipe = :r AND row_no = 1 ORDER BY created_at DESC, plan_id"),
        {"r": recipe}).fetchall()]


def write_plan(conn: sa.Connection, plan: pd.DataFrame, *, recipes: tuple[str, ...] = (), keep: int = KEEP_PLANS,
               now: dt.datetime | None = None) -> dict[str, str]:
    """Store each recipe's plan unless the identical plan is already the latest. Returns
    recipe → "written" | "unchanged" | "empty". A recipe in `recipes` with no rows now has its
    stored plans removed, so a push never executes a stale plan."""
    now = now or dt.datetime.now(dt.timezone.utc)
    outcome: dict[str, str] = {}
    for recipe in sorted(set(recipes) - set(plan.recipe)):
        conn.execute(sa.text("DELETE FROM sync_plan WHERE recipe = :r"), {"r": recipe})
        outcome[recipe] = "empty"
    for recipe, part in plan.groupby("recipe", sort=True):
        plan_id = part.plan_id.iloc[0]
        existing = _latest(conn, recipe)
        if existing and existing[0][0] == plan_id:
            outcome[recipe] = "unchanged"
            continue
        conn.execute(sa.text("DELETE FROM sync_plan WHERE plan_id = :p"), {"p": plan_id})
        _insert(conn, part, now)
        outcome[recipe] = "written"
        older = [p for p, _ in existing if p != plan_id][max(keep - 1, 0):]
        for old in older:
            conn.execute(sa.text("DELETE FROM sync_plan WHERE plan_id = :p"), {"p": old})
    return outcome


_COLS = ["plan_id", "row_no", "recipe", "direction", "source_id", "target_id", "action", "diff", "reason", "created_at"]


def _insert(conn: sa.Connection, part: pd.DataFrame, now: dt.datetime) -> None:
    if conn.dialect.name == "postgresql":
        # COPY in text format, the lines built here: plan_id, recipe and created_at are the same on
        # every row (written once, not formatted per row) and most diffs are NULL.
        raw = conn.connection.driver_connection
        const = {"plan_id": _copy_value(part.plan_id.iloc[0]), "recipe": _copy_value(part.recipe.iloc[0]),
                 "created_at": now.isoformat()}
        with raw.cursor() as cur, cur.copy(f"COPY sync_plan ({', '.join(_COLS)}) FROM STDIN",
                                           writer=QueuedLibpqWriter(cur)) as copy:
            # The writer sends from its own thread: the server stores one slice while the next is built.
            for start in range(0, len(part), 50_000):
                chunk = part.iloc[start:start + 50_000]
                columns = [[const[c]] * len(chunk) if c in const else
                           [str(int(v)) for v in chunk[c]] if c == "row_no" else
                           [_copy_value(v) for v in chunk[c]] for c in _COLS]
                copy.write("".join(["\t".join(row) + "\n" for row in zip(*columns)]))
        return
    # SQLAlchemy's SQLite DateTime reads naive ISO text back; store UTC without an offset.
    stamp = now.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
    df = part.assign(created_at=stamp)[_COLS]
    values = [(r[0], int(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8], stamp)
              for r in df.itertuples(index=False, name=None)]
    conn.exec_driver_sql(f"INSERT INTO sync_plan ({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))})", values)


def _copy_value(v) -> str:
    """One field of COPY's text format: \\N for NULL, backslash and control characters escaped."""
    if v is None or (isinstance(v, float) and v != v):
        return "\\N"
    if not isinstance(v, str):
        v = str(v)
    if "\\" in v or "\t" in v or "\n" in v or "\r" in v:
        v = v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return v


def load_latest(conn: sa.Connection, recipe: str | None = None) -> pd.DataFrame:
    """The latest stored plan of each recipe (or one recipe), rows in plan order."""
    recipes = [recipe] if recipe else [r[0] for r in conn.execute(sa.text("SELECT DISTINCT recipe FROM sync_plan"))]
    out = []
    for r in sorted(recipes):
        latest = _latest(conn, r)
        if not latest:
            continue
        res = conn.execute(sa.text(f"SELECT {', '.join(_COLS)} FROM sync_plan WHERE plan_id = :p ORDER BY row_no"),
                           {"p": latest[0][0]}).mappings().all()
        out.append(pd.DataFrame([dict(x) for x in res]))
    return pd.concat(out, ignore_index=True) if out else empty()
