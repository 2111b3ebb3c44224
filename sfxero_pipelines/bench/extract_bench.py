"""`sfxero bench extract`: full and incremental extract of one Salesforce object (Account) and one
Xero object (invoices), each of `size` records, against its floor.

Floor: the same requests made with bare `requests` (keep-alive, same TLS), no JSON parsing and no
loading — the next-page link is found with a regex: the token, Salesforce's describe (the loader
asks for it too: the bench starts from an empty table and state) and every page. Both timings
start before the login. Floor and loader run alternately, `rounds(size)` times each, in the same run
against the same sandbox process; the best of each is reported. The Xero minute limit is lifted in the sandbox and
the client for this bench: it measures loading; pacing is measured by `bench push`.

Then every other Xero collection (journals included, though opt-in in config) is extracted once from
an empty table, untimed against a floor: `xero_collections` reports its rows, calls, seconds and the
call bound of a full read (`extract.xero.call_bound`), and `within_bounds` says whether all kept to it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time

import sqlalchemy as sa

from ..settings import display_url, engine_for
from ..staging.migrations import migrate
from ..staging.schema import extract_state
from .harness import (LIFTED_XERO_LIMITS, api_calls, bench_database, peak_rss_mb, sandbox_process,
                      sandbox_session, sandbox_stats)

SF_OBJECT, XERO_OBJECT = "Account", "invoices"
_NEXT = re.compile(rb'"nextRecordsUrl"\s*:\s*"([^"]+)"')
_PAGE_COUNT = re.compile(rb'"pageCount"\s*:\s*(\d+)')


def _sf_floor(env: dict, sobject: str, soql: str) -> float:
    started = time.perf_counter()
    with sandbox_session(env) as s:  # closed: the sandbox waits for open connections when it stops
        token = s.post(f"{env['SALESFORCE_LOGIN_URL']}/services/oauth2/token", data={"grant_type": "client_credentials"},
                       auth=(env["SALESFORCE_CLIENT_ID"], env["SALESFORCE_CLIENT_SECRET"]), timeout=60).json()
        base, headers = token["instance_url"], {"Authorization": f"Bearer {token['access_token']}",
                                                 "Sforce-Query-Options": "batchSize=2000"}
        api = f"{base}/services/data/v{env.get('SALESFORCE_API_VERSION', '59.0')}"
        s.get(f"{api}/sobjects/{sobject}/describe", headers=headers, timeout=60).raise_for_status()
        r = s.get(f"{api}/queryAll", params={"q": soql}, headers=headers, timeout=300)
        r.raise_for_status()
        while (m := _NEXT.search(r.content, 0, 4096) or _NEXT.search(r.content)):
            r = s.get(base + m.group(1).decode(), headers=headers, timeout=300)
            r.raise_for_status()
        return time.perf_counter() - started  # as the loader's: taken before the connection closes


def _xero_floor(env: dict, where: str, page_size: int = 1000) -> float:
    started = time.perf_counter()
    with sandbox_session(env) as s:  # closed: the sandbox waits for open connections when it stops
        token = s.post(f"{env['XERO_IDENTITY_URL']}/connect/token", data={"grant_type": "client_credentials"},
                       auth=(env["XERO_CLIENT_ID"], env["XERO_CLIENT_SECRET"]), timeout=60).json()
        headers = {"Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": env["XERO_TENANT_ID"],
                   "Accept": "application/json"}
        params = {"pageSize": page_size, "where": where, "order": "UpdatedDateUTC ASC"}
        r = s.get(f"{env['XERO_API_URL']}/Invoices", params={**params, "page": 1}, headers=headers, timeout=300)
        r.raise_for_status()
        pages = int(_PAGE_COUNT.search(r.content).group(1))
        for page in range(2, pages + 1):
            s.get(f"{env['XERO_API_URL']}/Invoices", params={**params, "page": page}, headers=headers,
                  timeout=300).raise_for_status()
        return time.perf_counter() - started


def rounds(size: int) -> int:
    """Rounds of floor and loader: more where a run is short. A 10k run lasts a third of a second,
    and one hiccup of a shared two-core machine moved either by a fifth (best of 2 swung ±0.15 in
    the ratio); a 200k run lasts seconds and three rounds settle it."""
    return 7 if size <= 50_000 else 3


def _fresh_tables(engine: sa.Engine, tables: list[str]) -> None:
    migrate(engine)
    with engine.begin() as conn:
        for table in tables:
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}"')
        conn.execute(extract_state.delete().where(extract_state.c.table_name.in_(tables)))


def _xero_collections(xero, engine: sa.Engine, env: dict, part: dict, page_size: int = 1000) -> dict[str, dict]:
    """Each Xero collection but the timed invoices, read in full once, as its asset reads it."""
    from ..extract.xero import call_bound, extract_xero_journals, extract_xero_paged, extract_xero_reference
    from ..extract.xero_objects import XERO_OBJECTS

    out: dict[str, dict] = {}
    for key, obj in XERO_OBJECTS.items():
        if key == XERO_OBJECT:
            continue
        _fresh_tables(engine, [obj.table])
        sandbox_stats(env, "xero", reset=True)
        started = time.perf_counter()
        with xero.get_client() as client:
            if obj.paged:
                report = extract_xero_paged(client, engine, obj, page_size=page_size, run_id="bench", **part)
            elif obj.offset_paged:
                report = extract_xero_journals(client, engine, obj, run_id="bench")
            else:
                report = extract_xero_reference(client, engine, obj, run_id="bench")
        seconds = time.perf_counter() - started
        calls = api_calls(sandbox_stats(env, "xero"))
        bound = call_bound(obj, report.rows, page_size)
        out[key] = {"collection": obj.collection, "records": report.rows, "api_calls": calls,
                    "api_call_bound": bound, "within_bound": calls <= bound, "seconds": round(seconds, 3)}
    return out


def run_extract_bench(size: int, staging_url: str | None) -> dict:
    """`staging_url`: a PostgreSQL server to stage on (a database is created and dropped for the run);
    default and SQLite URLs use a temporary SQLite file."""
    with bench_database(staging_url) as url:
        return _run(size, url)


def _run(size: int, staging_url: str) -> dict:
    from ..config import SalesforceExtract
    from ..extract.salesforce import extract_salesforce_object, field_specs, window_soql
    from ..defs.salesforce.resources import SalesforceResource
    from ..extract.xero import call_bound, extract_xero_paged
    from ..extract.xero_objects import XERO_OBJECTS
    from ..defs.xero.resources import XeroResource
    from ..extract.window import ReadWindow

    engine = engine_for(staging_url)
    invoice = XERO_OBJECTS[XERO_OBJECT]
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    part = dict(partition_start=today, partition_end=today + dt.timedelta(days=1), lookback=dt.timedelta(seconds=300))
    sf_cfg = SalesforceExtract()

    with sandbox_process(size, xero_limits=LIFTED_XERO_LIMITS) as env:
        sf = SalesforceResource(login_url=env["SALESFORCE_LOGIN_URL"], client_id=env["SALESFORCE_CLIENT_ID"],
                                client_secret=env["SALESFORCE_CLIENT_SECRET"], ca_bundle=env["SFXERO_CA_BUNDLE"],
                                api_version=env["SALESFORCE_API_VERSION"], bulk_threshold=10**9)
        xero = XeroResource(api_url=env["XERO_API_URL"], identity_url=env["XERO_IDENTITY_URL"],
                            client_id=env["XERO_CLIENT_ID"], client_secret=env["XERO_CLIENT_SECRET"],
                            tenant_id=env["XERO_TENANT_ID"], ca_bundle=env["SFXERO_CA_BUNDLE"],
                            per_minute_limit=LIFTED_XERO_LIMITS["per_minute"])
        with sf.get_client() as client:
            fields = [s.source for s in field_specs([[f["name"], f["type"]] for f in client.describe(SF_OBJECT)["fields"]])]
        sf_soql = window_soql(SF_OBJECT, fields, ReadWindow(None, None, today, today))
        timings: dict[str, list[float]] = {"sf_floor": [], "sf": [], "xero_floor": [], "xero": []}
        calls: dict[str, int] = {}
        rows: dict[str, int] = {}
        for _ in range(rounds(size)):
            timings["sf_floor"].append(_sf_floor(env, SF_OBJECT, sf_soql))
            _fresh_tables(engine, ["sf_account"])
            sandbox_stats(env, "sf", reset=True)
            started = time.perf_counter()
            with sf.get_client() as client:
                report = extract_salesforce_object(client, engine, SF_OBJECT, "sf_account", cfg=sf_cfg, run_id="bench", **part)
                timings["sf"].append(time.perf_counter() - started)
            calls["salesforce_full"], rows["salesforce"] = api_calls(sandbox_stats(env, "sf")), report.rows

            timings["xero_floor"].append(_xero_floor(env, invoice.where))
            _fresh_tables(engine, [invoice.table])
            sandbox_stats(env, "xero", reset=True)
            started = time.perf_counter()
            with xero.get_client() as client:
                report = extract_xero_paged(client, engine, invoice, page_size=1000, run_id="bench", **part)
                timings["xero"].append(time.perf_counter() - started)
            calls["xero_full"], rows["xero"] = api_calls(sandbox_stats(env, "xero")), report.rows

        # Incremental runs with nothing changed: exactly one call per object.
        sandbox_stats(env, "sf", reset=True)
        with sf.get_client() as client:
            extract_salesforce_object(client, engine, SF_OBJECT, "sf_account", cfg=sf_cfg, run_id="bench", **part)
        sandbox_stats(env, "xero", reset=True)
        with xero.get_client() as client:
            extract_xero_paged(client, engine, invoice, page_size=1000, run_id="bench", **part)
        calls["salesforce_incremental_unchanged"] = api_calls(sandbox_stats(env, "sf"))
        calls["xero_incremental_unchanged"] = api_calls(sandbox_stats(env, "xero"))
        collections = _xero_collections(xero, engine, env, part)

    engine.dispose()
    best = {k: min(v) for k, v in timings.items()}
    seconds, floor = best["sf"] + best["xero"], best["sf_floor"] + best["xero_floor"]
    invoice_bound, sf_bound = call_bound(invoice, rows["xero"], 1000), math.ceil(rows["salesforce"] / 2000) + 1
    return {
        "bench": "extract",
        "records": rows["salesforce"] + rows["xero"],
        "seconds": round(seconds, 3),
        "api_calls": {"salesforce": calls["salesforce_full"], "xero": calls["xero_full"]},
        "floor_seconds": round(floor, 3),
        "ratio_to_floor": round(seconds / floor, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "size_per_object": size,
        "rounds": rounds(size),
        "staging": display_url(staging_url).split("://")[0],
        "per_object": {
            "salesforce.Account": {"records": rows["salesforce"], "seconds": round(best["sf"], 3),
                                   "floor_seconds": round(best["sf_floor"], 3),
                                   "ratio_to_floor": round(best["sf"] / best["sf_floor"], 3),
                                   "api_calls": calls["salesforce_full"],
                                   "api_call_bound": sf_bound,
                                   "incremental_unchanged_calls": calls["salesforce_incremental_unchanged"]},
            "xero.invoices": {"records": rows["xero"], "seconds": round(best["xero"], 3),
                              "floor_seconds": round(best["xero_floor"], 3),
                              "ratio_to_floor": round(best["xero"] / best["xero_floor"], 3),
                              "api_calls": calls["xero_full"], "api_call_bound": invoice_bound,
                              "incremental_unchanged_calls": calls["xero_incremental_unchanged"]},
        },
        "xero_collections": collections,
        "within_bounds": all(c["within_bound"] for c in collections.values())
        and calls["xero_full"] <= invoice_bound and calls["salesforce_full"] <= sf_bound,
    }
