"""`sync_link`: Salesforce id <-> Xero id per recipe, recorded in the push step that made the write.

Idempotent: recording a link that exists is a no-op; a Salesforce record re-linked to another Xero
id (after the old one was deleted and recreated) moves its link. Readers: `links_of` (one recipe's
links), `links_among` (some of them), and `link_join_sql`, the join planners use to read links beside
staged rows in the database.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from ..schema import sync_link


def record_links(conn: sa.Connection, recipe_links: list[tuple[str, str, str]], *, tenant_id: str = "") -> int:
    """`recipe_links`: (recipe, sf_id, xero_id) of one Xero organisation (`tenant_id`, the writing
    client's). Returns how many were new or moved (a link moved to another organisation counts)."""
    if not recipe_links:
        return 0
    now = dt.datetime.now(dt.timezone.utc)
    wanted = {(r, s): x for r, s, x in recipe_links if s and x}
    existing: dict[tuple[str, str], tuple[str, str]] = {}
    for recipe in {r for r, _ in wanted}:
        ids = [s for r, s in wanted if r == recipe]
        for i in range(0, len(ids), 500):
            for sf_id, xero_id, tenant in conn.execute(sa.select(
                    sync_link.c.sf_id, sync_link.c.xero_id, sync_link.c.tenant_id).where(
                    sync_link.c.recipe == recipe, sync_link.c.sf_id.in_(ids[i:i + 500]))):
                existing[(recipe, sf_id)] = (xero_id, tenant)
    moved = {k: x for k, x in wanted.items() if existing.get(k) != (x, tenant_id)}
    # One Xero id per recipe: if two Salesforce records claim it, the last in id order wins.
    by_xero = {(r, x): s for (r, s), x in sorted(moved.items())}
    rows = [{"recipe": r, "sf_id": s, "xero_id": x, "created_at": now, "updated_at": now, "tenant_id": tenant_id}
            for (r, x), s in sorted(by_xero.items())]
    for recipe in sorted({r["recipe"] for r in rows}):
        mine = [r for r in rows if r["recipe"] == recipe]
        for i in range(0, len(mine), 500):
            chunk = mine[i:i + 500]
            # The Xero id may be linked to another Salesforce record (a merge in Salesforce): the newest wins.
            conn.execute(sync_link.delete().where(sync_link.c.recipe == recipe, sa.or_(
                sync_link.c.sf_id.in_([r["sf_id"] for r in chunk]), sync_link.c.xero_id.in_([r["xero_id"] for r in chunk]))))
    if rows:
        conn.execute(sync_link.insert(), rows)
    return len(rows)


def has_links_table(conn: sa.Connection) -> bool:
    return sa.inspect(conn).has_table(sync_link.name)


def links_of(conn: sa.Connection, recipe: str, tenant_id: str | None = None) -> dict[str, str]:
    """Salesforce id -> Xero id of one recipe's links (of one organisation when `tenant_id` is given)."""
    query = sa.select(sync_link.c.sf_id, sync_link.c.xero_id).where(sync_link.c.recipe == recipe)
    if tenant_id is not None:
        query = query.where(sync_link.c.tenant_id == tenant_id)
    return dict(conn.execute(query).fetchall())


def links_among(conn: sa.Connection, recipe: str, *, sf_ids=None, xero_ids=None) -> dict[str, str]:
    """Salesforce id -> Xero id of `recipe`'s links whose Salesforce id is one of `sf_ids` (or, given
    instead, whose Xero id is one of `xero_ids`): the few a delete policy reads, without all of them."""
    if not has_links_table(conn):
        return {}
    column, ids = (sync_link.c.sf_id, sf_ids) if sf_ids is not None else (sync_link.c.xero_id, xero_ids)
    ids = sorted(set(ids))
    out: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        out.update(conn.execute(sa.select(sync_link.c.sf_id, sync_link.c.xero_id).where(
            sync_link.c.recipe == recipe, column.in_(ids[i:i + 500]))).fetchall())
    return out


def copy_links(conn: sa.Connection, from_recipe: str, to_recipe: str) -> None:
    """Every link of `from_recipe` recorded again under `to_recipe` (`sfxero bench reconcile --engine`
    plans R1's settings as a declaration of its own code, on R1's links)."""
    columns = ["recipe", "sf_id", "xero_id", "created_at", "updated_at", "tenant_id"]
    conn.execute(sync_link.insert().from_select(columns, sa.select(
        sa.literal(to_recipe), sync_link.c.sf_id, sync_link.c.xero_id, sync_link.c.created_at, sync_link.c.updated_at,
        sync_link.c.tenant_id).where(sync_link.c.recipe == from_recipe)))


def tenants_of_links(conn: sa.Connection, recipe: str) -> dict[str, str]:
    """Salesforce id -> the Xero organisation its link of `recipe` is in."""
    return dict(conn.execute(sa.select(sync_link.c.sf_id, sync_link.c.tenant_id).where(sync_link.c.recipe == recipe))
                .fetchall())


def link_join_sql(alias: str, recipe: str, sf_id_expr: str) -> str:
    """` LEFT JOIN sync_link <alias> ON ...`: the link of `recipe` whose Salesforce id is `sf_id_expr`
    (`<alias>.xero_id` then reads it). Arguments are identifiers and recipe codes the caller owns."""
    if not (alias.isidentifier() and recipe.isalnum()):
        raise ValueError(f"not an alias and recipe code: {alias!r}, {recipe!r}")
    return f" LEFT JOIN {sync_link.name} {alias} ON {alias}.recipe = '{recipe}' AND {alias}.sf_id = {sf_id_expr}"


def links_naming(conn: sa.Connection, record_id: str) -> list[dict]:
    """The links whose Salesforce or Xero side is `record_id`: recipe, sf_id, xero_id, created_at, updated_at."""
    if not has_links_table(conn):
        return []
    return [dict(r) for r in conn.execute(sa.select(sync_link).where(
        sa.or_(sync_link.c.sf_id == record_id, sync_link.c.xero_id == record_id))
        .order_by(sync_link.c.recipe)).mappings()]
