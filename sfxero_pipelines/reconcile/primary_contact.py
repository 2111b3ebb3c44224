"""The primary Contact of an Account: the earliest-created live Contact with an Email, else the earliest
(CreatedDate, then Id). One rule for R1's Account read (`contacts`, joined in the database), R6's people
(`campaigns`) and a declared recipe's `Contact.<Field>` on an Account (`declared`, docs/architecture.md
§5.3): read here, and written on that Contact (`payload`) when Xero owns the field.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from ..staging.schema import column_name
from . import load

TABLE = "sf_contact"


def rank_sql(conn: sa.Connection) -> str:
    """A window expression over sf_contact that is 1 for each Account's primary Contact."""
    have = load.table_columns(conn, TABLE)
    created = "createddate" if "createddate" in have else "modified_at"
    email = "email" if "email" in have else "NULL"
    return f"ROW_NUMBER() OVER (PARTITION BY accountid ORDER BY (CASE WHEN {email} IS NULL THEN 1 ELSE 0 END), {created}, id)"


def ranked_sql(conn: sa.Connection, columns: list[str]) -> str:
    """`SELECT accountid, <columns>, <rank> AS rn FROM sf_contact` over the live Contacts of an Account (a
    column not staged reads as NULL); join it on `rn = 1`."""
    have = load.table_columns(conn, TABLE)
    cols = ", ".join(load.q(conn, c) if c in have else f"NULL AS {load.q(conn, c)}" for c in columns)
    return (f"SELECT accountid, {cols}, {rank_sql(conn)} AS rn FROM {TABLE} "
            "WHERE NOT is_deleted AND accountid IS NOT NULL")


def read(conn: sa.Connection, fields: Iterable[str]) -> pd.DataFrame:
    """Each Account's primary Contact, indexed by Account Id: its `id` and the Contact `fields` asked
    (API names, as columns named like them); empty when Contacts are not staged."""
    wanted = [f for f in dict.fromkeys(fields) if column_name(f) != "id"]
    names = ["account_id", "id", *wanted]
    if not load.has_table(conn, TABLE):
        return pd.DataFrame({n: pd.Series([], dtype="object") for n in names}).set_index("account_id")
    inner = ranked_sql(conn, ["id", *(column_name(f) for f in wanted)])
    sel = ", ".join(["pc.accountid", "pc.id", *(f"pc.{load.q(conn, column_name(f))}" for f in wanted)])
    return load.frame(conn, f"SELECT {sel} FROM ({inner}) pc WHERE pc.rn = 1", names).set_index("account_id")


def writable(changes: dict[int, dict], contact_ids: list) -> dict[int, dict]:
    """Changes to Salesforce per pair row without the `Contact.<Field>` ones of an Account that has no
    Contact to write them to (`contact_ids`: the primary Contact's Id per row, None where none); rows
    left with nothing are dropped."""
    out = {}
    for row, fields in changes.items():
        if not isinstance(contact_ids[row], str):
            fields = {k: v for k, v in fields.items() if not k.startswith("Contact.")}
        if fields:
            out[row] = fields
    return out


def payload(account_id: str, contact_id, fields: dict) -> dict:
    """The Salesforce write of changed Account fields: `Contact.<Field>` on its primary Contact, the rest
    on the Account itself."""
    out: dict = {}
    for name, change in sorted(fields.items()):
        if name.startswith("Contact."):
            out.setdefault("Contact", {"Id": contact_id})[name.split(".", 1)[1]] = change["new"]
        else:
            out.setdefault("Account", {"Id": account_id})[name] = change["new"]
    return out
