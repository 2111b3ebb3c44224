"""`sync_plan`: the stored plans. Reconcile writes them; push, the push sensor, the report and the CLI read them.

`write_plan` stores each recipe's plan unless the identical plan is already the latest (plan ids are
content hashes, so an unchanged input rewrites nothing) and keeps the last KEEP_PLANS per recipe;
`load_latest` reads the latest plan of each recipe in row order. `latest_plan_ids`, `plans_with_actions`,
`plan_with_link_skips` and `action_counts` are the cheap lookups the push sensor and the report need.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import sqlalchemy as sa
from psycopg.copy import QueuedLibpqWriter

from ..schema import sync_plan

TABLE = sync_plan.name
#: Older plans kept per recipe (the latest is what `push` executes; earlier ones for comparison).
KEEP_PLANS = 3


def row_diff(value) -> dict:
    """A plan row's `diff` as a dict: stored as JSON text, already a dict in a plan not yet stored,
    and {} for a row with none (NULL, NaN in a frame)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        return json.loads(value)
    return {}


def has_plans_table(conn: sa.Connection) -> bool:
    return sa.inspect(conn).has_table(TABLE)


def _latest(conn: sa.Connection, recipe: str) -> list[tuple[str, dt.datetime]]:
    return [tuple(r) for r in conn.execute(sa.text(
        f"SELECT plan_id, created_at FROM {TABLE} WHERE recipe = :r AND row_no = 1 ORDER BY created_at DESC, plan_id"),
        {"r": recipe}).fetchall()]


def write_plan(conn: sa.Connection, plan: pd.DataFrame, *, recipes: tuple[str, ...] = (), keep: int = KEEP_PLANS,
               now: dt.datetime | None = None, tenant_id: str = "") -> dict[str, str]:
    """Store each recipe's plan unless the identical plan is already the latest. Returns
    recipe → "written" | "unchanged" | "empty". A recipe in `recipes` with no rows now has its
    stored plans removed, so a push never executes a stale plan. Each row keeps the Xero organisation
    it is for: the plan's `tenant_id` column where it has one, else `tenant_id`."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if "tenant_id" not in plan.columns:
        plan = plan.assign(tenant_id=tenant_id)
    outcome: dict[str, str] = {}
    for recipe in sorted(set(recipes) - set(plan.recipe)):
        conn.execute(sa.text(f"DELETE FROM {TABLE} WHERE recipe = :r"), {"r": recipe})
        outcome[recipe] = "empty"
    for recipe, part in plan.groupby("recipe", sort=True):
        plan_id = part.plan_id.iloc[0]
        existing = _latest(conn, recipe)
        if existing and existing[0][0] == plan_id:
            outcome[recipe] = "unchanged"
            continue
        conn.execute(sa.text(f"DELETE FROM {TABLE} WHERE plan_id = :p"), {"p": plan_id})
        _insert(conn, part, now)
        outcome[recipe] = "written"
        older = [p for p, _ in existing if p != plan_id][max(keep - 1, 0):]
        for old in older:
            conn.execute(sa.text(f"DELETE FROM {TABLE} WHERE plan_id = :p"), {"p": old})
    return outcome


_COLS = ["plan_id", "row_no", "recipe", "direction", "source_id", "target_id", "action", "diff", "reason", "created_at",
         "tenant_id"]


def _insert(conn: sa.Connection, part: pd.DataFrame, now: dt.datetime) -> None:
    if conn.dialect.name == "postgresql":
        # COPY in text format, the lines built here: plan_id, recipe and created_at are the same on
        # every row (written once, not formatted per row) and most diffs are NULL.
        raw = conn.connection.driver_connection
        const = {"plan_id": _copy_value(part.plan_id.iloc[0]), "recipe": _copy_value(part.recipe.iloc[0]),
                 "created_at": now.isoformat()}
        if part.tenant_id.nunique(dropna=False) == 1:  # one organisation's plan (always, today)
            const["tenant_id"] = _copy_value(part.tenant_id.iloc[0] or "")
        with raw.cursor() as cur, cur.copy(f"COPY {TABLE} ({', '.join(_COLS)}) FROM STDIN",
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
    values = [(r[0], int(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8], stamp, r[10] or "")
              for r in df.itertuples(index=False, name=None)]
    conn.exec_driver_sql(f"INSERT INTO {TABLE} ({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))})", values)


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
    recipes = [recipe] if recipe else [r[0] for r in conn.execute(sa.text(f"SELECT DISTINCT recipe FROM {TABLE}"))]
    out = []
    for r in sorted(recipes):
        latest = _latest(conn, r)
        if not latest:
            continue
        res = conn.execute(sa.text(f"SELECT {', '.join(_COLS)} FROM {TABLE} WHERE plan_id = :p ORDER BY row_no"),
                           {"p": latest[0][0]}).mappings().all()
        out.append(pd.DataFrame([dict(x) for x in res]))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame({c: pd.Series([], dtype="object") for c in _COLS})


# A loose index scan: each step seeks the next distinct plan_id on the primary key, so finding the
# few stored plans costs a few seeks instead of reading every row of every plan (SQLite and PostgreSQL).
_PLAN_IDS = sa.text(f"""
    WITH RECURSIVE ids(plan_id) AS (
        SELECT MIN(plan_id) FROM {TABLE}
        UNION ALL
        SELECT (SELECT MIN(plan_id) FROM {TABLE} WHERE plan_id > ids.plan_id) FROM ids WHERE ids.plan_id IS NOT NULL
    )
    SELECT plan_id FROM ids WHERE plan_id IS NOT NULL""")
_FIRST_ROWS = sa.text(f"SELECT plan_id, recipe, created_at FROM {TABLE} WHERE row_no = 1 AND plan_id IN :ids"
                      ).bindparams(sa.bindparam("ids", expanding=True))
_WRITES = sa.text(f"SELECT DISTINCT plan_id, direction FROM {TABLE} WHERE plan_id IN :ids AND action IN :actions"
                  ).bindparams(sa.bindparam("ids", expanding=True), sa.bindparam("actions", expanding=True))
# diff is canonical JSON text (`"link":true`); rows written through SQLAlchemy's JSON type have a space.
_LINKS = sa.text(f"SELECT 1 FROM {TABLE} WHERE plan_id = :p AND action = 'skip' AND direction = 'sf_to_xero' "
                 "AND target_id IS NOT NULL AND (CAST(diff AS TEXT) LIKE :compact OR CAST(diff AS TEXT) LIKE :spaced) "
                 "LIMIT 1")


def stored_plan_ids(conn: sa.Connection) -> list[str]:
    """Every stored plan's id (the latest and the older ones kept)."""
    return [r[0] for r in conn.execute(_PLAN_IDS)] if has_plans_table(conn) else []


def latest_plan_ids(conn: sa.Connection) -> dict[str, str]:
    """recipe → id of its latest stored plan (newest created_at; ties by plan_id, as reconcile.plan does)."""
    ids = [r[0] for r in conn.execute(_PLAN_IDS)]
    if not ids:
        return {}
    firsts = sorted(conn.execute(_FIRST_ROWS, {"ids": ids}).fetchall(), key=lambda r: r.plan_id)
    latest: dict[str, tuple] = {}
    for plan_id, recipe, created_at in firsts:
        if recipe not in latest or created_at > latest[recipe][1]:
            latest[recipe] = (plan_id, created_at)
    return {recipe: plan_id for recipe, (plan_id, _) in sorted(latest.items())}


def directions_with_actions(conn: sa.Connection, plan_ids: list[str], actions: list[str]) -> list[tuple[str, str]]:
    """(plan id, direction) of the given plans that have a row with one of `actions`."""
    return [tuple(r) for r in conn.execute(_WRITES, {"ids": plan_ids, "actions": actions})]


def has_link_skip(conn: sa.Connection, plan_id: str) -> bool:
    """Whether the plan has a sf_to_xero `skip` row whose link the push must record (`"link": true`)."""
    return conn.execute(_LINKS, {"p": plan_id, "compact": '%"link":true%', "spaced": '%"link": true%'}).first() is not None


def action_counts(conn: sa.Connection) -> list[tuple[str, str, dict[str, int]]]:
    """(recipe, latest plan id, {action: rows}) per recipe, by recipe."""
    if not has_plans_table(conn):
        return []
    latest = conn.execute(sa.text(
        f"SELECT p.recipe, p.plan_id FROM {TABLE} p WHERE p.row_no = 1 AND p.created_at = "
        f"(SELECT max(q.created_at) FROM {TABLE} q WHERE q.row_no = 1 AND q.recipe = p.recipe)")).fetchall()
    return [(recipe, plan_id, {a: int(n) for a, n in conn.execute(
        sa.text(f"SELECT action, count(*) FROM {TABLE} WHERE plan_id = :p GROUP BY action"), {"p": plan_id})})
        for recipe, plan_id in sorted(latest)]


def rows_naming(conn: sa.Connection, record_id: str) -> list[dict]:
    """Rows of every stored plan whose source or target is `record_id`, oldest plan first."""
    if not has_plans_table(conn):
        return []
    rows = conn.execute(sa.text(f"SELECT {', '.join(_COLS)} FROM {TABLE} WHERE source_id = :i OR target_id = :i "
                                "ORDER BY created_at, plan_id, row_no"), {"i": record_id}).mappings().all()
    return [dict(r) for r in rows]
