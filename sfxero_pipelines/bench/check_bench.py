"""`sfxero bench check`: the `xero_invoice` quality check on `size` staged invoices, against its floor.

Setup (not timed): `size` synthetic ACCREC invoices (with line items in `raw`) and `size // 40`
contacts are written straight into staging; 1 % of invoices carry one defect each (negative total,
unknown currency, unknown contact, total ≠ lines + tax, out-of-range date), so holds are written too.

Timed: exactly what the Dagster check does — read the live rows, derive `total_mismatch`, evaluate the
suite's expectations (checks/expectations.py), write holds. Floor: the same table-level counts
computed the simplest way, as plain SQL aggregate queries (no per-record ids, no line-item totals,
no holds). No API calls.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time

import sqlalchemy as sa

from ..settings import display_url, engine_for
from ..staging.migrations import migrate
from ..staging.state.holds import forget_table
from ..staging.tables import ensure_object_table
from .harness import bench_database, peak_rss_mb

_UTC = dt.timezone.utc


def _typed(obj) -> dict:
    from ..extract.rows import COLUMN_TYPES

    return {f.column: COLUMN_TYPES[f.kind] for f in obj.fields}


def stage_synthetic_invoices(engine: sa.Engine, size: int, seed: int = 7) -> int:
    """Write `size` invoices and their contacts into staging; returns how many carry a defect."""
    from ..extract.xero_objects import XERO_OBJECTS

    rng = random.Random(seed)
    now = dt.datetime.now(_UTC)
    contacts_table, _ = ensure_object_table(engine, "xero_contact", _typed(XERO_OBJECTS["contacts"]))
    invoices_table, _ = ensure_object_table(engine, "xero_invoice", _typed(XERO_OBJECTS["invoices"]))
    n_contacts = max(1, size // 40)
    contact_ids = [f"c{i:08d}-0000-0000-0000-000000000000" for i in range(n_contacts)]
    with engine.begin() as conn:
        conn.execute(invoices_table.delete())
        conn.execute(contacts_table.delete())
        forget_table(conn, "xero_invoice")
        conn.execute(contacts_table.insert(), [
            {"id": cid, "modified_at": now, "is_deleted": False, "extracted_at": now, "raw": {"ContactID": cid},
             "contact_id": cid, "name": f"Customer {i}", "contact_status": "ACTIVE"} for i, cid in enumerate(contact_ids)])
    defects = 0
    batch = []
    for i in range(size):
        lines = [{"LineAmount": round(rng.uniform(10, 500), 2)} for _ in range(rng.randint(1, 4))]
        for line in lines:
            line["TaxAmount"] = round(line["LineAmount"] * 0.15, 2)
        sub_total = round(sum(x["LineAmount"] for x in lines), 2)
        tax = round(sum(x["TaxAmount"] for x in lines), 2)
        day = dt.date(2024, 1, 1) + dt.timedelta(days=i % 700)
        row = {"id": f"i{i:09d}-0000-0000-0000-000000000000", "modified_at": now, "is_deleted": False,
               "extracted_at": now, "invoice_id": None, "type": "ACCREC", "invoice_number": f"INV-{i:07d}",
               "contact_id": contact_ids[i % n_contacts], "date": day, "due_date": day + dt.timedelta(days=30),
               "status": "AUTHORISED", "line_amount_types": "Exclusive", "sub_total": sub_total, "total_tax": tax,
               "total": round(sub_total + tax, 2), "amount_due": round(sub_total + tax, 2), "amount_paid": 0.0,
               "currency_code": "USD"}
        if i % 100 == 99:
            defects += 1
            kind = (i // 100) % 5
            if kind == 0:
                row["total"] = row["amount_due"] = -row["total"]
            elif kind == 1:
                row["currency_code"] = "XXX"
            elif kind == 2:
                row["contact_id"] = "00000000-dead-beef-0000-000000000000"
            elif kind == 3:
                row["total"] = round(row["total"] + 5, 2)
            else:
                row["date"] = dt.date(1990, 1, 1)
        row["invoice_id"] = row["id"]
        row["raw"] = {"InvoiceID": row["id"], "LineAmountTypes": "Exclusive", "LineItems": lines, "Total": row["total"]}
        batch.append(row)
        if len(batch) == 10_000:
            with engine.begin() as conn:
                conn.execute(invoices_table.insert(), batch)
            batch = []
    if batch:
        with engine.begin() as conn:
            conn.execute(invoices_table.insert(), batch)
    return defects


FLOOR_SQL = """
SELECT count(*),
       count(*) - count(id),
       sum(CASE WHEN contact_id IS NULL OR contact_id NOT IN (SELECT id FROM xero_contact) THEN 1 ELSE 0 END),
       sum(CASE WHEN status NOT IN ('DRAFT','SUBMITTED','AUTHORISED','PAID','VOIDED','DELETED') THEN 1 ELSE 0 END),
       sum(CASE WHEN currency_code NOT IN ('USD','EUR','GBP','AUD','NZD','JPY') THEN 1 ELSE 0 END),
       sum(CASE WHEN total < 0 OR sub_total < 0 OR total_tax < 0 OR amount_due < 0 THEN 1 ELSE 0 END),
       sum(CASE WHEN date < :min_date OR date > :max_date THEN 1 ELSE 0 END)
FROM xero_invoice WHERE NOT is_deleted
"""


def run_check_bench(size: int, staging_url: str | None) -> dict:
    """`staging_url`: a PostgreSQL server to stage on (a database is created and dropped for the run);
    default and SQLite URLs use a temporary SQLite file."""
    with bench_database(staging_url) as url:
        return _run(size, url)


def _run(size: int, staging_url: str) -> dict:
    from ..checks.holds import sync_holds
    from ..checks.runner import run_suite
    from ..config import ChecksConfig

    engine = engine_for(staging_url)
    migrate(engine)
    defects = stage_synthetic_invoices(engine, size)
    cfg = ChecksConfig()

    runner_best, floor_best, outcome, held = float("inf"), float("inf"), None, 0
    for _ in range(2):  # alternate, best of two each: the machine is shared
        started = time.perf_counter()
        with engine.begin() as conn:
            outcome = run_suite(conn, "xero_invoice", cfg)
            held += sync_holds(conn, table_name="xero_invoice", suite="xero_invoice",
                               failures=outcome.record_failures, run_id="bench")[0]
        runner_best = min(runner_best, time.perf_counter() - started)
        started = time.perf_counter()
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT count(*) - count(DISTINCT id) FROM xero_invoice")).scalar_one()
            conn.execute(sa.text(FLOOR_SQL), {"min_date": dt.date(2000, 1, 1), "max_date": dt.date(2100, 1, 1)}).one()
        floor_best = min(floor_best, time.perf_counter() - started)
    engine.dispose()
    return {
        "bench": "check",
        "records": size,
        "seconds": round(runner_best, 3),
        "api_calls": {"salesforce": 0, "xero": 0},
        "floor_seconds": round(floor_best, 3),
        "ratio_to_floor": round(runner_best / floor_best, 2) if floor_best else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "staging": display_url(staging_url).split("://")[0],
        "defects_seeded": defects,
        "bad_rows_found": outcome.bad_rows,
        "held": held,
        "blocking": outcome.blocking,
        "expectations": json.loads(json.dumps([e.summary() | {"sample": e.sample[:2]} for e in outcome.expectations
                                               if not e.success], default=str)),
    }
