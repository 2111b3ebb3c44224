"""`sfxero bench e2e`: one whole sync cycle on a sandbox of `size` Accounts, as Dagster runs.

Timed, stage by stage, exactly as `sfxero sync --stage all` runs them (the same jobs, in process, on a
temporary `DAGSTER_HOME` and a temporary staging database): extract → check → reconcile → push, then
the verifying pass extract → check → reconcile. Reported: seconds per stage, the API calls each stage
made (the emulators' own counters, token requests excluded), both plans' summaries and whether the
cycle converged (the second plan has nothing to create, update or delete).

Floor (the choice): the extract floor — one full fetch of every object the extract stage reads, with
bare `requests` (Salesforce: the same SOQL over queryAll in pages of 2000; Xero: the same collections
and filters in pages of 1000, unpaged reference collections in one call), no parsing, no loading.
It is measured on the same sandbox before the cycle, then both emulators are reset. It is the
irreducible network part of a first sync; check and reconcile call no API, and a push floor would
need the writes known before the plan exists, so a sum of stage floors would add little but noise.
`first_extract_ratio_to_floor` compares like with like; `ratio_to_floor` is the whole cycle's.

Tokens: Xero is connected first through the consent flow (sandbox `--auto-consent`, PKCE) into the token
store, so the cycle runs on a stored connection as a real organisation's does. `token_calls` counts the
token endpoint requests each emulator saw during the cycle (per stage too): a cycle should cost at most
one per system and tenant (the sandbox has one Xero tenant).

Rate limits: Xero's real 60 calls/minute by default (the cycle is paced like production);
`SFXERO_BENCH_FAST=1` lifts the limit in the emulator and in the Dagster `xero` resource.
"""

from __future__ import annotations

import gc
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
from cryptography.fernet import Fernet

from ..settings import display_url, engine_for
from .harness import (LIFTED_XERO_LIMITS, TOKEN_PATHS, api_calls, bench_database, environ, peak_rss_mb,
                      sandbox_process, sandbox_session, sandbox_stats)
from .push_bench import fast_mode, reset_emulators
from .tokens_bench import connect_by_consent

CYCLE = (("extract", "extract"), ("check", "check"), ("reconcile", "reconcile"), ("push", "push"),
         ("extract_verify", "extract"), ("check_verify", "check"), ("reconcile_verify", "reconcile"))
_PAGE_COUNT = re.compile(rb'"pageCount"\s*:\s*(\d+)')


# -- floor ---------------------------------------------------------------------------------------

def _xero_get(s: requests.Session, url: str, params: dict, headers: dict) -> tuple[bytes, int]:
    limited = 0
    while True:
        r = s.get(url, params=params, headers=headers, timeout=300)
        if r.status_code != 429:
            r.raise_for_status()
            return r.content, limited
        limited += 1
        time.sleep(float(r.headers.get("Retry-After") or 1))


def extract_floor(env: dict, sf_objects: list[str], xero_keys: list[str]) -> dict:
    """Bare page fetches of every extracted object; returns seconds per system and 429s waited out."""
    from ..extract.salesforce import field_specs, window_soql
    from ..defs.salesforce.resources import SalesforceResource
    from ..extract.xero_objects import XERO_OBJECTS
    from ..extract.window import ReadWindow
    from .extract_bench import _sf_floor

    import datetime as dt

    today = dt.datetime.now(dt.timezone.utc)
    sf = SalesforceResource(login_url=env["SALESFORCE_LOGIN_URL"], client_id=env["SALESFORCE_CLIENT_ID"],
                            client_secret=env["SALESFORCE_CLIENT_SECRET"], ca_bundle=env["SFXERO_CA_BUNDLE"],
                            api_version=env["SALESFORCE_API_VERSION"])
    soqls = []
    with sf.get_client() as client:  # the SELECT lists; the floor asks for each describe again, as extract does
        for sobject in sf_objects:
            fields = [s.source for s in field_specs([[f["name"], f["type"]] for f in client.describe(sobject)["fields"]])]
            soqls.append((sobject, window_soql(sobject, fields, ReadWindow(None, None, today, today))))
    del client
    gc.collect()
    sf_s = sum(_sf_floor(env, sobject, soql) for sobject, soql in soqls)

    s = sandbox_session(env)
    token = s.post(f"{env['XERO_IDENTITY_URL']}/connect/token", data={"grant_type": "client_credentials"},
                   auth=(env["XERO_CLIENT_ID"], env["XERO_CLIENT_SECRET"]), timeout=60).json()
    headers = {"Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": env["XERO_TENANT_ID"],
               "Accept": "application/json"}
    limited = 0
    started = time.perf_counter()
    for key in xero_keys:
        obj = XERO_OBJECTS[key]
        url = f"{env['XERO_API_URL']}/{obj.collection}"
        if not obj.paged:
            limited += _xero_get(s, url, {}, headers)[1]
            continue
        params = {"pageSize": 1000, "order": "UpdatedDateUTC ASC"}
        if obj.where:
            params["where"] = obj.where
        if obj.collection in ("Contacts", "Invoices"):
            params["includeArchived"] = str(obj.include_archived).lower()
        page, pages = 1, 1
        while page <= pages:
            body, n = _xero_get(s, url, {**params, "page": page}, headers)
            limited += n
            if page == 1:
                m = _PAGE_COUNT.search(body)
                pages = int(m.group(1)) if m else 1
            page += 1
    xero_s = time.perf_counter() - started
    s.close()
    return {"seconds": sf_s + xero_s, "salesforce_seconds": sf_s, "xero_seconds": xero_s, "xero_429_waited_out": limited}


# -- the cycle -----------------------------------------------------------------------------------

def _definitions(fast: bool):
    import dagster as dg

    from ..definitions import defs

    d = defs()
    if not fast:
        return d
    from ..defs.xero.resources import xero_resource_from_env

    xero = xero_resource_from_env(per_minute_limit=LIFTED_XERO_LIMITS["per_minute"],
                                  concurrent_limit=LIFTED_XERO_LIMITS["concurrent"])
    return dg.Definitions(assets=d.assets, asset_checks=d.asset_checks, jobs=d.jobs, schedules=d.schedules,
                          sensors=d.sensors, executor=d.executor, loggers=d.loggers, metadata=d.metadata,
                          resources={**d.resources, "xero": xero})


def _delta(after: dict, before: dict) -> dict:
    return {k: n - before.get(k, 0) for k, n in after.get("requests", {}).items() if n - before.get(k, 0)}


def _token_calls(requests_by_endpoint: dict) -> int:
    return sum(n for key, n in requests_by_endpoint.items() if key.endswith(TOKEN_PATHS))


def _plan_summary(engine) -> dict:
    from ..reconcile.plan import summary
    from ..staging.state.plans import load_latest

    with engine.connect() as conn:
        return {r: {a: n for a, n in c.items() if n} for r, c in summary(load_latest(conn)).items()}


@dataclass(frozen=True)
class HeadlessCycle:
    """How a cycle runs headless, as `sfxero sync` runs it; handed in by the CLI (`cli/bench_cmd.py`), so the
    bench measures exactly that path without importing the CLI (which imports the benches)."""

    get_instance: Callable[[], object]
    #: (stage, instance, definitions, verifying=bool) -> (all runs ok, summary rows)
    run_stage_jobs: Callable[..., tuple[bool, list[tuple]]]
    #: staging engine -> (converged, plan counts)
    verify_convergence: Callable[..., tuple[bool, dict]]


def run_cycle(env: dict, staging_url: str, dagster_home: Path, fast: bool, headless: HeadlessCycle) -> dict:
    get_instance, run_stage_jobs, verify_convergence = (headless.get_instance, headless.run_stage_jobs,
                                                        headless.verify_convergence)
    stages: dict[str, dict] = {}
    plans: dict[str, dict] = {}
    with environ({**env, "DAGSTER_HOME": str(dagster_home), "SFXERO_STAGING_URL": staging_url}):
        instance = get_instance()
        definitions = _definitions(fast)
        engine = engine_for(staging_url)
        try:
            for name, stage in CYCLE:
                before = {"salesforce": sandbox_stats(env, "sf").get("requests", {}),
                          "xero": sandbox_stats(env, "xero").get("requests", {})}
                started = time.perf_counter()
                ok, rows = run_stage_jobs(stage, instance, definitions, verifying=name.endswith("_verify"))
                seconds = time.perf_counter() - started
                calls = {"salesforce": _delta(sandbox_stats(env, "sf"), before["salesforce"]),
                         "xero": _delta(sandbox_stats(env, "xero"), before["xero"])}
                entry = {"seconds": round(seconds, 3), "ok": ok,
                         "api_calls": {k: api_calls({"requests": v}) for k, v in calls.items()},
                         "token_calls": {k: _token_calls(v) for k, v in calls.items()}}
                if stage == "extract":
                    entry["rows_staged"] = sum(r[1] for r in rows if isinstance(r[1], int))
                elif stage == "check":
                    entry["held"] = sum(r[5] for r in rows if isinstance(r[5], int))
                    entry["errors"] = sum(1 for r in rows if r[2] == "ERROR")
                elif stage == "push":
                    entry["by_asset"] = {r[0]: {"planned": r[1], "written": r[2], "write_backs": r[5], "held": r[6]}
                                         for r in rows}
                    entry["api_calls_by_endpoint"] = calls
                elif stage == "reconcile":
                    plans[name] = _plan_summary(engine)
                stages[name] = entry
            converged, _ = verify_convergence(engine)
        finally:
            engine.dispose()
            instance.dispose()
    return {"stages": stages, "plans": plans, "converged": converged}


def run_e2e_bench(size: int, staging_url: str | None, headless: HeadlessCycle) -> dict:
    """`staging_url`: a PostgreSQL server to stage on (a database is created and dropped for the run);
    default and SQLite URLs use a temporary SQLite file."""
    from ..config import load_config

    fast = fast_mode()
    work = Path(tempfile.mkdtemp(prefix="sfxero-e2e-"))
    extract_cfg = load_config().extract
    try:
        with bench_database(staging_url) as url, \
                sandbox_process(size, xero_limits=LIFTED_XERO_LIMITS if fast else None, auto_consent=True) as env:
            staging_url = url
            floor = extract_floor(env, list(extract_cfg.salesforce.objects), list(extract_cfg.xero.objects))
            floor_calls = {"salesforce": api_calls(sandbox_stats(env, "sf")), "xero": api_calls(sandbox_stats(env, "xero"))}
            reset_emulators(env)
            key = Fernet.generate_key()
            connect_by_consent(env, staging_url, key)
            env = {**env, "SFXERO_SECRET_KEY": key.decode()}
            cycle = run_cycle(env, staging_url, work / "dagster_home", fast, headless)
            gc.collect()  # closes client sockets the sandbox would wait for on shutdown
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stages = cycle["stages"]
    seconds = sum(s["seconds"] for s in stages.values())
    calls = {k: sum(s["api_calls"][k] for s in stages.values()) for k in ("salesforce", "xero")}
    first = stages["extract"]
    return {
        "bench": "e2e",
        "records": first.get("rows_staged", 0),
        "seconds": round(seconds, 3),
        "api_calls": calls,
        "token_calls": {k: sum(s["token_calls"][k] for s in stages.values()) for k in ("salesforce", "xero")},
        "xero_tenants": 1,
        "floor_seconds": round(floor["seconds"], 3),
        "ratio_to_floor": round(seconds / floor["seconds"], 2) if floor["seconds"] else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "sandbox_accounts": size,
        "staging": display_url(staging_url).split("://")[0],
        "xero_limits": "lifted (SFXERO_BENCH_FAST)" if fast else "real (60/minute)",
        "floor": "extract floor: bare page fetch of every extracted object",
        "first_extract_ratio_to_floor": round(first["seconds"] / floor["seconds"], 2) if floor["seconds"] else None,
        "floor_detail": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in floor.items()} | {"api_calls": floor_calls},
        "stage_seconds": {name: s["seconds"] for name, s in stages.items()},
        "runs_ok": all(s["ok"] for s in stages.values()),
        "converged": cycle["converged"],
        "plans": cycle["plans"],
        "stages": json.loads(json.dumps(stages, default=str)),
    }
