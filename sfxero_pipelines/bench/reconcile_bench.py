"""`sfxero bench reconcile`: plan N Salesforce Accounts against N Xero Contacts (docs/architecture.md §9).

The staging database is generated directly (no emulator: reconciliation never calls an API) with a
realistic mix: 90% linked and in sync, 5% linked with changes on one side or the other, 3% new
Accounts, 2% ambiguous (an email shared by two Xero Contacts). Timed: building the R1/R4/R5 plan
from staging and storing it in `sync_plan` (the contacts family: the declared-recipe engine on R1's
pass; with `--engine`, R1's settings written as a declaration planned on the engine's own read, as a
team's own Account → Contacts recipe is, on a copy of R1's links).
Floor, timed in the same run: the plain SQL join of the two tables on the link key, fetched to the
client the same way (load.frame).
With a PostgreSQL URL the bench creates its own database on that server and drops it afterwards.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import time

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ..config import SfxeroConfig
from ..extract.xero_objects import XERO_OBJECTS
from ..extract.rows import COLUMN_TYPES
from ..recipes import R1, R4, R5
from ..settings import engine_for
from ..staging.migrations import migrate
from ..staging.schema import column_name
from ..staging.state import links
from ..staging.tables import ensure_object_table
from .harness import bench_database, peak_rss_mb

ACCOUNT_FIELDS = {"Name": "text", "AccountNumber": "text", "Phone": "text", "BillingStreet": "text",
                  "BillingCity": "text", "BillingPostalCode": "text", "BillingCountry": "text",
                  "CurrencyIsoCode": "text", "Xero_Contact_Id__c": "text", "Xero_Outstanding__c": "money",
                  "Xero_Overdue__c": "money"}
CONTACT_FIELDS = {"AccountId": "text", "LastName": "text", "Email": "text", "CreatedDate": "datetime"}
STAMP = "2025-03-01 12:00:00+00"
CHUNK = 100_000


def _sf_id(prefix: str, i: int) -> str:
    return f"{prefix}{i:015d}"


def _x_id(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-000000000000"


def _rows(n: int):
    """Yield (table, row dict) for the mix; ids are deterministic."""
    linked_end, changed_end, new_end = int(n * 0.90), int(n * 0.95), int(n * 0.98)
    x_next = n  # ids for extra Xero contacts
    for i in range(n):
        sid = _sf_id("001", i)
        name, email = f"Company {i} Ltd", f"ops{i}@example{i % 97}.com"
        phone = ("44", "20", f"{i:08d}")
        amb = i >= new_end
        if amb:
            email = f"shared{i}@example.com"
        linked = i < changed_end
        acct = {"id": sid, "name": name, "accountnumber": f"AN{i}", "phone": f"+{phone[0]} {phone[1]} {phone[2]}",
                "billingstreet": f"{i} High St", "billingcity": f"City{i % 100}", "billingpostalcode": f"PC{i % 1000}",
                "billingcountry": "United Kingdom", "currencyisocode": "GBP",
                "xero_contact_id__c": _x_id(i) if linked else None, "xero_outstanding__c": "10.0",
                "xero_overdue__c": "0.0"}
        yield "sf_account", acct
        yield "sf_contact", {"id": _sf_id("003", i), "accountid": sid, "lastname": f"Person{i}", "email": email,
                             "createddate": STAMP}
        if linked or amb:
            xname, xphone = name, phone
            if linked_end <= i < changed_end:  # changed: half renamed in Salesforce, half re-numbered in Xero
                if i % 2:
                    xname = f"Company {i} Ltd (old)"
                else:
                    xphone = ("44", "20", f"9{i:07d}")
            copies = [(_x_id(i), xname, sid if linked else None)] if linked else \
                [(_x_id(x_next), f"Shared A {i}", None), (_x_id(x_next + 1), f"Shared B {i}", None)]
            if amb:
                x_next += 2
            for cid, cname, number in copies:
                raw = {"ContactID": cid, "Name": cname, "EmailAddress": email, "ContactStatus": "ACTIVE",
                       "Phones": [{"PhoneType": "DEFAULT", "PhoneCountryCode": xphone[0], "PhoneAreaCode": xphone[1],
                                   "PhoneNumber": xphone[2]}],
                       "Addresses": [{"AddressType": "POBOX", "AddressLine1": acct["billingstreet"],
                                      "City": acct["billingcity"], "PostalCode": acct["billingpostalcode"],
                                      "Country": "United Kingdom"}], "DefaultCurrency": "GBP",
                       # As the typed columns below say: extract writes both from one record.
                       **({"ContactNumber": number, "AccountNumber": f"AN{i}"} if linked else {})}
                yield "xero_contact", {"id": cid, "contact_id": cid, "contact_number": number, "name": cname,
                                       "email_address": email, "contact_status": "ACTIVE", "default_currency": "GBP",
                                       "account_number": f"AN{i}" if linked else None,
                                       "ar_outstanding": "10.0", "ar_overdue": "0.0", "raw": raw}
            if linked:
                yield "sync_link", {"recipe": R1, "sf_id": sid, "xero_id": _x_id(i), "created_at": STAMP,
                                    "updated_at": STAMP}
    while x_next < 2 * n - int(n * 0.01) - 0 and x_next < n + int(n * 0.01) + 2 * (n - new_end):
        cid = _x_id(x_next)
        yield "xero_contact", {"id": cid, "contact_id": cid, "contact_number": None, "name": f"Unrelated {x_next}",
                               "email_address": None, "contact_status": "ACTIVE", "default_currency": "USD",
                               "account_number": None, "ar_outstanding": "0.0", "ar_overdue": "0.0",
                               "raw": {"ContactID": cid, "Name": f"Unrelated {x_next}"}}
        x_next += 1


def generate(engine: sa.Engine, n: int) -> dict[str, int]:
    migrate(engine)
    tables = {
        "sf_account": ensure_object_table(engine, "sf_account", {column_name(k): COLUMN_TYPES[v] for k, v in ACCOUNT_FIELDS.items()})[0],
        "sf_contact": ensure_object_table(engine, "sf_contact", {column_name(k): COLUMN_TYPES[v] for k, v in CONTACT_FIELDS.items()})[0],
        "xero_contact": ensure_object_table(engine, "xero_contact", {f.column: COLUMN_TYPES[f.kind] for f in XERO_OBJECTS["contacts"].fields})[0],
    }
    counts: dict[str, int] = {}
    buffers: dict[str, list[dict]] = {}

    def flush(table: str) -> None:
        batch = buffers.pop(table, [])
        if batch:
            _load(engine, table, batch, tables.get(table))
            counts[table] = counts.get(table, 0) + len(batch)

    for table, row in _rows(n):
        if table != "sync_link":
            row.setdefault("modified_at", STAMP)
            row.setdefault("is_deleted", False)
            row.setdefault("extracted_at", STAMP)
            row.setdefault("invalid_reason", None)
            row.setdefault("raw", {})
        buffers.setdefault(table, []).append(row)
        if len(buffers[table]) >= CHUNK:
            flush(table)
    for table in list(buffers):
        flush(table)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            for t in ("sf_account", "sf_contact", "xero_contact", "sync_link"):
                conn.exec_driver_sql(f"ANALYZE {t}")
    return counts


def _load(engine: sa.Engine, table: str, rows: list[dict], tbl: sa.Table | None) -> None:
    cols = list(rows[0].keys())
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            buf = io.StringIO()
            for r in rows:
                vals = []
                for c in cols:
                    v = r[c]
                    if v is None:
                        vals.append("\\N")
                    else:
                        v = json.dumps(v) if isinstance(v, dict) else ("t" if v is True else "f" if v is False else str(v))
                        vals.append(v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n"))
                buf.write("\t".join(vals) + "\n")
            with conn.connection.driver_connection.cursor() as cur, \
                    cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                copy.write(buf.getvalue())
        else:
            target = tbl if tbl is not None else sa.Table(table, sa.MetaData(), autoload_with=conn)
            import datetime as dt
            stamp = dt.datetime(2025, 3, 1, 12, tzinfo=dt.timezone.utc)
            fixed = [{k: (stamp if isinstance(v, str) and v == STAMP else v) for k, v in r.items()} for r in rows]
            for r in fixed:
                for k in ("xero_outstanding__c", "xero_overdue__c", "ar_outstanding", "ar_overdue"):
                    if k in r and r[k] is not None:
                        r[k] = float(r[k])
            conn.execute(target.insert(), fixed)


def _generate_in_child(url: str, size: int, results) -> None:
    engine = engine_for(url)
    try:
        results.put(generate(engine, size))
    finally:
        engine.dispose()


def generate_elsewhere(url: str, size: int) -> dict[str, int]:
    """Stage the synthetic data from a child process, so the peak memory reported is the
    reconciliation's own and not the data generator's."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    child = ctx.Process(target=_generate_in_child, args=(url, size, results))
    child.start()
    counts = results.get()
    child.join()
    if child.exitcode:
        raise RuntimeError(f"bench data generation failed (exit {child.exitcode})")
    return counts


def _planner(engine_mode: bool):
    """(plan builder over a connection, the recipes it stores): the contacts family (R1/R4/R5), or with
    `engine_mode` R1's settings written as a declaration (config/r1_declared.py) planned on the engine's
    own read, on R1's links, in R1's and R5's words (so their plan ids compare)."""
    from ..config import parse_config
    from ..config.r1_declared import CODE, r1_as_declared, r1_wording
    from ..reconcile.build import build_declared, build_plan

    cfg = SfxeroConfig()
    if not engine_mode:
        return (lambda conn: build_plan(conn, cfg, families=("contacts",))), (R1, R4, R5)
    declared = parse_config({"recipes": {CODE: r1_as_declared(cfg.mapping, cfg.recipes.R1)}})
    return (lambda conn: build_declared(conn, declared, CODE, wording=r1_wording(cfg.mapping))), (R1, R5)


def run_reconcile_bench(size: int, staging_url: str | None, engine_mode: bool = False) -> dict:
    from ..config.r1_declared import CODE
    from ..reconcile import load
    from ..staging.state.plans import write_plan

    build, recipes = _planner(engine_mode)
    with bench_database(staging_url) as url:
        engine = engine_for(url)
        try:
            t0 = time.perf_counter()
            counts = generate_elsewhere(url, size)
            if engine_mode:
                with engine.begin() as conn:
                    links.copy_links(conn, R1, CODE)
            setup_s = time.perf_counter() - t0
            with engine.connect() as conn:
                t0 = time.perf_counter()
                joined = load.frame(conn, "SELECT a.id, x.id FROM sf_account a JOIN xero_contact x "
                                       "ON x.id = a.xero_contact_id__c", ["sf_id", "xero_id"])
                floor_s = time.perf_counter() - t0
                floor_rows = len(joined)
                del joined
            t0 = time.perf_counter()
            with engine.begin() as conn:
                plan = build(conn)
                build_s = time.perf_counter() - t0
                written = write_plan(conn, plan.rows, recipes=recipes)
            seconds = time.perf_counter() - t0
            summary, first_ids, plan_rows = plan.summary, plan.plan_ids, len(plan.rows)
            matching = plan.stats.get(CODE if engine_mode else "contacts", {})
            del plan  # the rerun below must not hold two plans in memory at once
            # A second run over unchanged staging must produce the identical plan (and write nothing).
            t1 = time.perf_counter()
            with engine.begin() as conn:
                again = build(conn)
                rewritten = write_plan(conn, again.rows, recipes=recipes)
            rerun_s = time.perf_counter() - t1
        finally:
            engine.dispose()
    return {
        "bench": "reconcile", "records": size, "planner": "engine" if engine_mode else "family",
        "seconds": round(seconds, 3),
        "api_calls": {"salesforce": 0, "xero": 0},
        "floor_seconds": round(floor_s, 3), "ratio_to_floor": round(seconds / floor_s, 2) if floor_s else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "backend": make_url(url).get_backend_name(), "build_seconds": round(build_s, 3),
        "rerun_seconds": round(rerun_s, 3), "rerun_identical": again.plan_ids == first_ids and
        set(rewritten.values()) <= {"unchanged", "empty"}, "plan_rows": int(plan_rows), "floor_rows": floor_rows,
        "plan": summary, "plan_ids": first_ids, "written": written, "staged": counts, "setup_seconds": round(setup_s, 1),
        # Pairs settled in the database (linked, every compared value identical) vs compared in pandas.
        "matched_by": matching.get("matched_by"), "settled_in_database": matching.get("settled_in_database"),
    }
