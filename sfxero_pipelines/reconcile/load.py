"""Read staged tables into DataFrames, plus the sync state reconciliation needs: open holds and what we
last wrote (the ledger), read through their owners in `staging/state/`.

Every value is read as text (None for SQL NULL): comparisons happen on normalised text, so the two
backends give identical plans.
"""

from __future__ import annotations

import json
import itertools
from collections.abc import Callable

import numpy as np
import pandas as pd
import sqlalchemy as sa
from psycopg.types.string import TextLoader

from ..errors import ConfigError
from ..staging.state import holds as state_holds
from ..staging.state import ledger as state_ledger

_TEXT_TYPES = ("numeric", "timestamptz", "timestamp", "date", "bool", "float4", "float8", "int2", "int4", "int8",
               "json", "jsonb", "uuid")
#: Rows fetched per round trip (and per DataFrame slice).
SLICE = 100_000
_cursors = itertools.count()


def has_table(conn: sa.Connection, name: str) -> bool:
    return sa.inspect(conn).has_table(name)


def table_columns(conn: sa.Connection, name: str) -> set[str]:
    if not has_table(conn, name):
        return set()
    return {c["name"] for c in sa.inspect(conn).get_columns(name)}


def require_table(conn: sa.Connection, name: str) -> None:
    if not has_table(conn, name):
        raise ConfigError(name, "not staged yet: run `sfxero sync --stage extract` first")


def among(conn: sa.Connection, column: str, ids) -> tuple[str, tuple]:
    """A WHERE clause keeping the rows whose `column` is one of `ids`, and its one parameter for `frame`:
    an array on PostgreSQL, a JSON list on SQLite (no statement grows with the number of ids). `ids`
    None: every row, no clause."""
    if ids is None:
        return "", ()
    if conn.dialect.name == "postgresql":
        return f" WHERE {column} = ANY(%s)", (list(ids),)
    return f" WHERE {column} IN (SELECT value FROM json_each(?))", (json.dumps(list(ids)),)


def from_raw(readers: list[Callable[[dict], object]]) -> Callable[[tuple], tuple]:
    """`frame`'s each_row for a query whose last column is a record's raw JSON: that column replaced by
    what each of `readers` takes from the parsed record. Each record is parsed, read and dropped as it is
    fetched. Measured on `sfxero bench reconcile --size 1000000` (SQLite): with the raw column and every
    parsed record held at once, the plan peaked at 6.0 GB; parsed as fetched, 2.4 GB."""
    def each_row(row: tuple) -> tuple:
        record = json.loads(row[-1]) if row[-1] else {}
        return (*row[:-1], *(read(record) for read in readers))
    return each_row


def frame(conn: sa.Connection, sql: str, columns: list[str], params: tuple = (),
          each_row: Callable[[tuple], tuple] | None = None) -> pd.DataFrame:
    """Run `sql`: callers interpolate only identifiers and constants they own; values go in `params`
    (`among`'s). `each_row` turns each fetched row (its values as text) into the one kept, whose
    values are `columns`: a large value needed only to derive others (a raw JSON record) is then
    never held for every row at once."""
    parts = []
    shared: list[int] | None = None
    for rows in _slices(conn, sql, params):
        block = np.empty((len(rows), len(columns)), dtype=object)
        if each_row is None:
            block[:] = rows
        else:
            # Column by column with fromiter: a derived value may be a list or a dict (a JSON path's),
            # which a whole-block assignment would try to unpack.
            rows = [each_row(r) for r in rows]
            for i in range(len(columns)):
                block[:, i] = np.fromiter((r[i] for r in rows), dtype=object, count=len(rows))
        del rows
        shared = _share_repeats(block, shared)
        parts.append(block)
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype="object") for c in columns})
    block = np.concatenate(parts) if len(parts) > 1 else parts[0]
    del parts
    # One object block, kept as object: pandas 3 would otherwise infer its (slower) str dtype.
    return pd.DataFrame(block, columns=columns, dtype="object", copy=False)


def _slices(conn: sa.Connection, sql: str, params: tuple):
    """The result's rows as text (None for NULL), SLICE rows at a time: a whole result as one list of
    row tuples next to the DataFrame would double peak memory (at 1M Xero Contacts on SQLite, with
    their raw JSON, the reads peaked at 5.5 GB that way)."""
    if conn.dialect.name == "postgresql":
        # Every column loaded as PostgreSQL's text output (what COPY would print), which both
        # backends' comparisons expect; psycopg's C fetch is faster than COPY + CSV parsing here.
        # A server-side cursor: a client-side one holds the whole result in libpq memory until
        # closed (~0.6 GB at 1M accounts, and the C heap keeps it after the free).
        raw = conn.connection.driver_connection
        raw.execute("SET LOCAL cursor_tuple_fraction = 1.0")  # plan for all rows, as a plain SELECT
        with raw.cursor(name=f"sfxero_frame_{next(_cursors)}") as cur:
            for type_name in _TEXT_TYPES:
                cur.adapters.register_loader(type_name, TextLoader)
            cur.execute(sql, params or None)
            while rows := cur.fetchmany(SLICE):
                yield rows
        return
    result = conn.exec_driver_sql(sql, params) if params else conn.exec_driver_sql(sql)
    while rows := result.fetchmany(SLICE):
        yield [tuple(None if v is None else (v if isinstance(v, str) else _text(v)) for v in r) for r in rows]


def _share_repeats(block: np.ndarray, which: list[int] | None) -> list[int]:
    """One string object per distinct value in the columns that repeat (currency, country, status,
    timestamps of a bulk load...): each fetched value is its own object otherwise, ~60 bytes apiece.
    Which columns repeat is decided on the first slice (`which` None). Returns those column positions."""
    first = which is None
    kept = []
    for i in range(block.shape[1]) if first else which:
        found = _factorized(block[:, i])
        if found is None:
            continue  # lists or objects (`frame`'s each_row): they stay as read
        codes, uniques = found
        if first and len(uniques) * 4 >= int((codes >= 0).sum()):
            continue  # mostly distinct values: sharing them saves nothing
        block[:, i] = _from_codes(codes, uniques)
        kept.append(i)
    return kept


def _factorized(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """pandas.factorize's (codes, uniques), or None for values that cannot be hashed: a derived column
    (`frame`'s each_row) may hold a JSON path's lists or objects, which stay as read."""
    try:
        return pd.factorize(values)
    except TypeError:
        return None


def _from_codes(codes: np.ndarray, uniques: np.ndarray) -> np.ndarray:
    out = np.empty(len(codes), dtype=object)  # None where the value was NULL (code -1)
    have = codes >= 0
    out[have] = np.asarray(uniques, dtype=object)[codes[have]]
    return out


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(value)
    return str(value)


def q(conn: sa.Connection, ident: str) -> str:
    return conn.dialect.identifier_preparer.quote(ident)


def bool_true(conn: sa.Connection, column: str) -> str:
    return f"({column} = true)" if conn.dialect.name == "postgresql" else f"({column} = 1)"


# Sync state is read through its owners (staging/state/): open holds (table -> id -> reason, any stage)
# and what our latest successful writes set (echo suppression).
open_holds = state_holds.open_hold_reasons
last_written = state_ledger.last_written


def held_parts(conn: sa.Connection, table: str, parent_col: str, label: str) -> dict[str, str]:
    """parent id → why it waits, for records whose live parts (line items in `table`, pointing to
    their parent through `parent_col`) have an open hold: "<label> <id>, held at <stage>: <reason>",
    the first held part named and the others counted. A deleted part holds nothing."""
    if not state_holds.has_holds_table(conn) or parent_col not in table_columns(conn, table):
        return {}
    reasons = open_holds(conn, [table])[table]
    if not reasons:
        return {}
    parent = f"p.{q(conn, parent_col)}"
    rows = conn.exec_driver_sql(
        f"SELECT {parent}, p.id FROM {q(conn, table)} p WHERE NOT p.is_deleted AND {parent} IS NOT NULL "
        f"AND p.id IN ({state_holds.open_hold_ids_sql(table)}) ORDER BY {parent}, p.id").fetchall()
    out: dict[str, str] = {}
    count: dict[str, int] = {}
    for parent_id, part_id in rows:
        out.setdefault(parent_id, f"{label} {part_id}, {reasons[part_id]}")
        count[parent_id] = count.get(parent_id, 0) + 1
    return {p: text + (f" (and {count[p] - 1} more held)" if count[p] > 1 else "") for p, text in out.items()}
