"""`load.frame` reads a result in slices on both backends, with values as text, repeated strings shared
and `each_row` deriving the kept values from each fetched row (a raw JSON record parsed and dropped)."""

from __future__ import annotations

import json

from sfxero_pipelines.reconcile import load


def _table(conn, n: int) -> None:
    conn.exec_driver_sql("CREATE TABLE t (id TEXT, amount NUMERIC, currency TEXT, raw TEXT)")
    rows = [{"id": f"r{i:04d}", "amount": i / 4, "currency": "GBP" if i % 2 else "NZD",
             "raw": json.dumps({"Lines": [i, i + 1], "Status": "PAID" if i % 3 else "DRAFT"})} for i in range(n)]
    conn.exec_driver_sql("INSERT INTO t (id, amount, currency, raw) VALUES "
                         + ", ".join(["(%s, %s, %s, %s)" if conn.dialect.name == "postgresql" else "(?, ?, ?, ?)"] * n),
                         tuple(v for r in rows for v in r.values()))


def test_frame_reads_every_slice_as_text(staging, monkeypatch):
    monkeypatch.setattr(load, "SLICE", 10)  # 25 rows: three slices, the last one short
    with staging.engine.begin() as conn:
        _table(conn, 25)
        df = load.frame(conn, "SELECT id, amount, currency FROM t ORDER BY id", ["id", "amount", "currency"])
    assert list(df.id) == [f"r{i:04d}" for i in range(25)]
    assert [float(a) for a in df.amount] == [i / 4 for i in range(25)]
    assert all(isinstance(a, str) for a in df.amount)
    # The repeated currency is one string object per value in each of the three slices, not one per row.
    assert len({id(c) for c in df.currency}) == 2 * 3 and set(df.currency) == {"GBP", "NZD"}


def test_frame_each_row_keeps_derived_values_lists_included(staging, monkeypatch):
    monkeypatch.setattr(load, "SLICE", 10)

    def derived(row: tuple) -> tuple:
        record = json.loads(row[1])
        return row[0], record["Lines"], record["Status"]

    with staging.engine.begin() as conn:
        _table(conn, 25)
        df = load.frame(conn, "SELECT id, raw FROM t ORDER BY id", ["id", "lines", "status"], each_row=derived)
    assert list(df.columns) == ["id", "lines", "status"]
    assert list(df.lines) == [[i, i + 1] for i in range(25)]
    assert list(df.status) == ["PAID" if i % 3 else "DRAFT" for i in range(25)]
    assert len({id(s) for s in df.status}) == 2 * 3


def test_frame_of_no_rows_has_the_columns(staging):
    with staging.engine.begin() as conn:
        _table(conn, 1)
        df = load.frame(conn, "SELECT id, raw FROM t WHERE id = 'none'", ["id", "status"],
                        each_row=lambda row: (row[0], "x"))
    assert list(df.columns) == ["id", "status"] and df.empty
