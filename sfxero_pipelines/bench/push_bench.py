"""`sfxero bench push`: push `size` invoices (R2 creates) to Xero with their write-backs to Salesforce.

Setup (not timed, in a child process so its memory is not reported): a sandbox big enough to hold
`size` won Opportunities is staged with the real extract code (Salesforce Account, Contact,
Opportunity, OpportunityLineItem, Product2; Xero contacts, invoices, items); the real R1 matcher
links Accounts to their Xero contacts; the real R2 planner builds the invoice creates (line items
with ItemCode/AccountCode/TaxType from the staged items, a write-back of InvoiceID/InvoiceNumber/
Status/amounts to the real Opportunity). The first `size` creates are stored as the R2 plan in
`sync_plan`; a create whose Account has no linked Xero Contact (the plan would send it after R1
creates the Contact) is addressed by ContactID to one of the linked Contacts instead, so the bench
pushes invoices only.

Timed: `push_to_xero` executing that plan — ledger before and after each call, batches of 50 with
Idempotency-Keys, links, write-backs to Salesforce (sObject Collections of 200, or Bulk 2.0 above
`push.salesforce_bulk_threshold`).

Floor, measured in the same run on freshly reset emulators: the same Xero POST batches (the same
bodies, 50 per request) sent with bare `requests`, waiting out a 429's Retry-After (the simplest way
to live with the limit), then the same write-backs as bare sObject Collection PATCHes of 200 built
from Xero's answers. No ledger, no staging, no plan.

Rate limits: by default the Xero emulator enforces Xero's real 60 calls/minute, so at 10,000
invoices (200 write calls) the push takes over three minutes and `xero_budget_busy_share` shows how
much of each full minute's budget the push kept busy. `SFXERO_BENCH_FAST=1` lifts the limit in the
emulator and the client (for quick runs and tests; the busy share is then not meaningful).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import math
import multiprocessing
import os
import time
import uuid
from collections import Counter

import requests

from ..recipes import R1, R2
from ..settings import display_url, engine_for
from .harness import (LIFTED_XERO_LIMITS, api_calls, bench_database, peak_rss_mb, sandbox_process,
                      sandbox_session, sandbox_stats)

REAL_PER_MINUTE = 60
#: Salesforce objects the R1/R2 planners read → their staged tables (docs/architecture.md §4 names).
SF_OBJECTS = {"Account": "sf_account", "Contact": "sf_contact", "Opportunity": "sf_opportunity",
              "OpportunityLineItem": "sf_opportunity_line_item", "Product2": "sf_product2"}
#: R2 creates per sandbox Account (~0.54 measured: ~1.55 Opportunities per Account, 35 % won, a few
#: held for lines without a Xero Item); sized with margin.
_CREATES_PER_ACCOUNT = 0.45


def fast_mode() -> bool:
    return os.environ.get("SFXERO_BENCH_FAST", "").strip().lower() in ("1", "true", "yes")


def reset_emulators(env: dict) -> None:
    for base in (env["SALESFORCE_LOGIN_URL"], env["XERO_IDENTITY_URL"]):
        requests.post(f"{base}/__sandbox/reset", verify=env["SFXERO_CA_BUNDLE"], timeout=600).raise_for_status()


def _resources(env: dict, fast: bool):
    from ..defs.salesforce.resources import SalesforceResource
    from ..defs.xero.resources import XeroResource

    sf = SalesforceResource(login_url=env["SALESFORCE_LOGIN_URL"], client_id=env["SALESFORCE_CLIENT_ID"],
                            client_secret=env["SALESFORCE_CLIENT_SECRET"], ca_bundle=env["SFXERO_CA_BUNDLE"],
                            api_version=env["SALESFORCE_API_VERSION"])
    xero = XeroResource(api_url=env["XERO_API_URL"], identity_url=env["XERO_IDENTITY_URL"],
                        client_id=env["XERO_CLIENT_ID"], client_secret=env["XERO_CLIENT_SECRET"],
                        tenant_id=env["XERO_TENANT_ID"], ca_bundle=env["SFXERO_CA_BUNDLE"],
                        per_minute_limit=LIFTED_XERO_LIMITS["per_minute"] if fast else REAL_PER_MINUTE,
                        concurrent_limit=LIFTED_XERO_LIMITS["concurrent"] if fast else 5)
    return sf, xero


# -- setup (child process) -----------------------------------------------------------------------

def stage_and_plan(env: dict, staging_url: str, size: int, fast: bool) -> dict:
    """Stage the sandbox with the extract code and store an R2 plan of `size` invoice creates."""
    from ..config import load_config
    from ..extract.salesforce import extract_salesforce_object
    from ..extract.xero import extract_xero_paged, extract_xero_reference
    from ..extract.xero_objects import XERO_OBJECTS
    from ..staging.state.links import record_links
    from ..staging.state.plans import write_plan
    from ..reconcile.plan import PLAN_COLUMNS, dumps, finalize
    from ..reconcile.plan import summary as plan_summary
    from ..reconcile.build import build_family
    from ..staging.migrations import migrate

    cfg = load_config()
    engine = engine_for(staging_url)
    migrate(engine)
    sf, xero = _resources(env, fast)
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    part = dict(partition_start=today, partition_end=today + dt.timedelta(days=1), lookback=dt.timedelta(seconds=300))
    staged: dict[str, int] = {}
    with sf.get_client() as client:
        for sobject, table in SF_OBJECTS.items():
            staged[table] = extract_salesforce_object(client, engine, sobject, table, cfg=cfg.extract.salesforce,
                                                      run_id="bench-setup", **part).rows
    with xero.get_client() as client:
        for key in ("contacts", "invoices"):
            obj = XERO_OBJECTS[key]
            staged[obj.table] = extract_xero_paged(client, engine, obj, page_size=1000, run_id="bench-setup", **part).rows
        obj = XERO_OBJECTS["items"]
        staged[obj.table] = extract_xero_reference(client, engine, obj, run_id="bench-setup").rows

    with engine.begin() as conn:
        contacts = build_family(conn, cfg, "contacts").rows
        matched = contacts[(contacts.recipe == R1) & (contacts.direction == "sf_to_xero")
                           & contacts.action.isin(["skip", "update"]) & contacts.target_id.notna()]
        linked = record_links(conn, [(R1, s, x) for s, x in zip(matched.source_id, matched.target_id)])
        invoices = build_family(conn, cfg, "invoices").rows
        creates = invoices[(invoices.recipe == R2) & (invoices.action == "create")].head(size).reset_index(drop=True)
        pool = sorted(set(matched.target_id))
        readdressed = 0
        diffs = []
        for d in creates["diff"]:
            diff = json.loads(d)
            if not diff["payload"]["Contact"].get("ContactID"):
                # The Account has no Xero Contact yet (R1 would create it in the same push): address
                # the invoice to an existing customer so the bench pushes invoices only.
                contact = {"ContactID": pool[readdressed % len(pool)]}
                diff["payload"]["Contact"] = contact
                diff["fields"]["Contact"]["new"] = contact
                diff["depends_on"] = None
                readdressed += 1
            diffs.append(dumps(diff))
        creates["diff"] = diffs
        plan = finalize([creates[PLAN_COLUMNS]])
        write_plan(conn, plan, recipes=(R2,))
        summary = {k: v for k, v in plan_summary(invoices).get(R2, {}).items() if v}
    engine.dispose()
    return {"staged": staged, "accounts_linked": int(linked), "r2_plan_of_sandbox": summary,
            "readdressed_to_linked_contact": readdressed, "planned": int(len(plan))}


def _stage_in_child(env: dict, staging_url: str, size: int, fast: bool, results) -> None:
    try:
        results.put(("ok", stage_and_plan(env, staging_url, size, fast)))
    except BaseException as exc:  # reported by the parent
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def stage_elsewhere(env: dict, staging_url: str, size: int, fast: bool) -> dict:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    child = ctx.Process(target=_stage_in_child, args=(env, staging_url, size, fast, results))
    child.start()
    status, value = results.get()
    child.join()
    if status != "ok":
        raise RuntimeError(f"bench setup failed: {value}")
    return value


# -- floor ---------------------------------------------------------------------------------------

def _plan_payloads(staging_url: str) -> list[tuple[dict, dict]]:
    """(Xero invoice body, write-back spec) of every stored R2 create, in push order."""
    from ..push.rows import load_rows

    engine = engine_for(staging_url)
    with engine.connect() as conn:
        rows, _ = load_rows(conn, "xero")
    engine.dispose()
    return [(r.payload, r.diff.get("write_back") or {}) for r in rows]


def _path(record: dict, spec) -> tuple[bool, object]:
    path = spec if isinstance(spec, str) else spec.get("path", "")
    value: object = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return (False, None) if isinstance(spec, str) or "default" not in spec else (True, spec["default"])
        value = value[part]
    return True, value


def run_floor(env: dict, payloads: list[tuple[dict, dict]], batch: int = 50, sf_batch: int = 200) -> dict:
    """The same Xero batches and Salesforce write-backs with bare `requests`."""
    x = sandbox_session(env)
    token = x.post(f"{env['XERO_IDENTITY_URL']}/connect/token", data={"grant_type": "client_credentials"},
                   auth=(env["XERO_CLIENT_ID"], env["XERO_CLIENT_SECRET"]), timeout=60).json()
    xh = {"Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": env["XERO_TENANT_ID"],
          "Accept": "application/json", "Content-Type": "application/json"}
    s = sandbox_session(env)
    tok = s.post(f"{env['SALESFORCE_LOGIN_URL']}/services/oauth2/token", data={"grant_type": "client_credentials"},
                 auth=(env["SALESFORCE_CLIENT_ID"], env["SALESFORCE_CLIENT_SECRET"]), timeout=60).json()
    sh = {"Authorization": f"Bearer {tok['access_token']}", "Content-Type": "application/json"}
    sf_url = f"{tok['instance_url']}/services/data/v{env.get('SALESFORCE_API_VERSION', '59.0')}/composite/sobjects"
    limited = 0
    started = time.perf_counter()
    backs: list[dict] = []
    for start in range(0, len(payloads), batch):
        chunk = payloads[start:start + batch]
        body = json.dumps({"Invoices": [p for p, _ in chunk]})
        while True:
            r = x.post(f"{env['XERO_API_URL']}/Invoices", params={"summarizeErrors": "false"}, data=body,
                       headers={**xh, "Idempotency-Key": f"floor-{uuid.uuid4().hex}"}, timeout=300)
            if r.status_code != 429:
                break
            limited += 1
            time.sleep(float(r.headers.get("Retry-After") or 1))
        r.raise_for_status()
        for (_, spec), rec in zip(chunk, r.json()["Invoices"]):
            fields = {}
            for field, path in (spec.get("fields") or {}).items():
                found, value = _path(rec, path)
                if found:
                    fields[field] = value
            backs.append({"attributes": {"type": spec.get("sobject", "Opportunity")}, "Id": spec.get("id"), **fields})
    xero_s = time.perf_counter() - started
    for start in range(0, len(backs), sf_batch):
        s.patch(sf_url, data=json.dumps({"allOrNone": False, "records": backs[start:start + sf_batch]}), headers=sh,
                timeout=300).raise_for_status()
    seconds = time.perf_counter() - started
    x.close()
    s.close()
    return {"seconds": seconds, "xero_seconds": xero_s, "xero_429": limited}


# -- the measured push ---------------------------------------------------------------------------

class _Watch:
    """Stands in for XeroClient._api: counts the answers the client sees (429s included — the client
    waits them out itself, so none reaches the push) and stamps each successful write."""

    def __init__(self, api) -> None:
        self._api = api
        self.statuses: Counter[int] = Counter()
        self.write_times: list[float] = []

    def __getattr__(self, name: str):
        target = getattr(self._api, name)
        if not callable(target):
            return target
        from xero_python.exceptions import ApiException

        def call(*args, **kwargs):
            try:
                out = target(*args, **kwargs)
            except ApiException as exc:
                self.statuses[int(exc.status or 0)] += 1
                raise
            status = out[1] if isinstance(out, tuple) and len(out) > 1 else 200
            self.statuses[int(status)] += 1
            if name.startswith(("create_", "update_or_create_")) and 200 <= int(status) < 300:
                self.write_times.append(time.monotonic())
            return out

        return call


def budget_share(write_times: list[float], per_minute: int, window_s: float = 60.0) -> tuple[float | None, int]:
    """Share of the minute budget used in the full minutes of the push: windows of `window_s` from the
    first write, counted while the push was still writing at their end (a partial last minute would
    flatter or punish the figure by its length alone). None when the writes span less than a minute."""
    if not write_times:
        return None, 0
    t0, last = write_times[0], write_times[-1]
    full = int((last - t0) // window_s)
    if full < 1:
        return None, 0
    in_full = sum(1 for t in write_times if t - t0 < full * window_s)
    return in_full / (per_minute * full), full


def _measured_push(env: dict, staging_url: str, cfg, fast: bool):
    from ..push.run import push_to_xero

    engine = engine_for(staging_url)
    sf, xero = _resources(env, fast)
    with sf.get_client() as s, xero.get_client() as x:
        watch = _Watch(x._api)
        x._api = watch
        started = time.perf_counter()
        report = push_to_xero(engine, x, s, cfg=cfg, run_id=f"bench-{uuid.uuid4().hex[:8]}")
        seconds = time.perf_counter() - started
        pacer_wait = x.pacer.waited_s
    engine.dispose()
    out = (report, seconds, watch.statuses, watch.write_times, pacer_wait)
    del s, x, watch
    # XeroClient.close() leaves a socket open until its response objects are garbage collected, and
    # the sandbox process waits for open connections before it exits on SIGTERM.
    gc.collect()
    return out


def run_push_bench(size: int, staging_url: str | None) -> dict:
    """`staging_url`: a PostgreSQL server to stage on (a database is created and dropped for the run);
    default and SQLite URLs use a temporary SQLite file."""
    fast = fast_mode()
    with bench_database(staging_url) as url:
        return _run(size, url, fast)


def _run(size: int, staging_url: str, fast: bool) -> dict:
    from ..config import load_config

    accounts = max(40, math.ceil(size / _CREATES_PER_ACCOUNT) + 20)
    cfg = load_config().push
    with sandbox_process(accounts, xero_limits=LIFTED_XERO_LIMITS if fast else None) as env:
        t0 = time.perf_counter()
        setup = stage_elsewhere(env, staging_url, size, fast)
        setup_s = time.perf_counter() - t0
        if setup["planned"] < size:
            raise RuntimeError(f"the sandbox of {accounts} accounts gave only {setup['planned']} invoice creates "
                               f"for {size} records")
        payloads = _plan_payloads(staging_url)

        reset_emulators(env)
        floor = run_floor(env, payloads, batch=cfg.xero_batch_size, sf_batch=cfg.salesforce_batch_size)
        floor_calls = {"salesforce": api_calls(sandbox_stats(env, "sf")), "xero": api_calls(sandbox_stats(env, "xero"))}
        del payloads

        reset_emulators(env)
        report, seconds, statuses, write_times, pacer_wait = _measured_push(env, staging_url, cfg, fast)
        sf_stats, xero_stats = sandbox_stats(env, "sf"), sandbox_stats(env, "xero")

    calls = {"salesforce": api_calls(sf_stats), "xero": api_calls(xero_stats)}
    writes = len(write_times)
    per_minute = LIFTED_XERO_LIMITS["per_minute"] if fast else REAL_PER_MINUTE
    share, full_minutes = budget_share(write_times, per_minute)
    span = (write_times[-1] - write_times[0]) if writes > 1 else 0.0
    client_429 = statuses.get(429, 0)
    seen = sum(statuses.values())
    bulk_calls = sum(n for k, n in sf_stats.get("requests", {}).items() if "/jobs/" in k)
    sf_bound = math.ceil(size / cfg.salesforce_batch_size) + 1
    bulk = size > cfg.salesforce_bulk_threshold
    return {
        "bench": "push",
        "records": report.written,
        "seconds": round(seconds, 3),
        "api_calls": calls,
        "floor_seconds": round(floor["seconds"], 3),
        "ratio_to_floor": round(seconds / floor["seconds"], 3) if floor["seconds"] else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "size": size,
        "staging": display_url(staging_url).split("://")[0],
        "xero_limits": "lifted (SFXERO_BENCH_FAST)" if fast else f"real ({REAL_PER_MINUTE}/minute)",
        "api_call_bounds": {"xero": math.ceil(size / cfg.xero_batch_size) + 1,
                            "salesforce": sf_bound, "salesforce_bulk": bulk},
        # Above push.salesforce_bulk_threshold the write-backs go through one Bulk 2.0 job: its calls
        # (create, upload, close, polls, results) are reported apart from the collection bound.
        "within_bounds": {"xero": calls["xero"] <= math.ceil(size / cfg.xero_batch_size) + 1,
                          "salesforce": calls["salesforce"] - bulk_calls <= sf_bound},
        "salesforce_bulk_job_calls": bulk_calls,
        "api_calls_by_endpoint": {"salesforce": sf_stats.get("requests", {}), "xero": xero_stats.get("requests", {})},
        "client_api_calls": dict(sorted(report.api_calls.items())),
        "xero_write_calls": writes,
        "xero_write_calls_per_minute": round(writes / span * 60, 1) if span else None,
        "xero_budget_busy_share": round(share, 3) if share is not None else None,
        "xero_budget_busy_share_basis": "write calls in the full minutes since the first write / "
                                        f"({per_minute} x full minutes); null when the writes span < 1 minute",
        "xero_budget_full_minutes": full_minutes,
        "xero_pacer_wait_seconds": round(pacer_wait, 1),
        "xero_429_seen_by_client": client_429,
        # The emulator counts requests, not statuses: what it refused = requests it counted minus the
        # answers the client saw that were not refusals.
        "xero_429_emulator": max(0, calls["xero"] - (seen - client_429)),
        "written": report.written, "already_done": report.already_done, "found_by_lookup": report.found_by_lookup,
        "held": len(report.held), "held_sample": report.held[:3], "write_backs": report.write_backs,
        "unknown": report.unknown, "links_recorded": report.links_recorded,
        "floor": {"xero_seconds": round(floor["xero_seconds"], 3), "xero_429_waited_out": floor["xero_429"],
                  "api_calls": floor_calls},
        "setup": {"seconds": round(setup_s, 1), "sandbox_accounts": accounts, **setup},
    }
