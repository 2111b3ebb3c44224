"""`sfxero bench latency`: how long a change takes to cross through the real-time lane, and what the
lane costs while nothing changes (docs/architecture.md §9).

Set-up, as production runs it: a sandbox in its own process; one `sfxero sync` so that the records are
linked; `sfxero webhooks` (the receiver) with the sandbox's Xero posting to it; `dagster-daemon run`
on a fresh persisted instance evaluating the code location's sensors (the hourly cycle's cron is moved
out of the bench's way, so that no cycle runs meanwhile; `realtime.salesforce_budget_share` is set so
that the Salesforce change poll runs at its 10 s floor on the sandbox's 100,000-call org; R2 creates
invoices AUTHORISED, so that the first sync's invoices can be paid).

Measured:
- `changes` changes (`latency_changes.py`: won Opportunity → invoice, Account edit → Contact, Xero
  payment → Opportunity, Xero Contact edit → Account), in turn, at random instants over `spread_s`,
  each through the public APIs; latency = from just before the API call to the first read of
  `/__sandbox/records` showing the effect in the other system (read every `WATCH_S`);
- where the time went, per change, from the Dagster instance: the sensor tick that requested the run
  that carried the change (`to_tick`: waiting for the poll or the webhook, then the tick), the tick's
  evaluation, the run's queueing and launch (a run worker process), and the op's stage seconds
  (extract by id, checks, reconcile, push; the op's `stage_seconds` metadata);
- idle: once no run is in progress and none was created for `SETTLE_S`, the emulators' counters
  are zeroed just after a Salesforce poll (the window opens at one, as an interval does),
  `idle_minutes` pass with no change, and the API calls (token requests excluded) are scaled to an hour.
The floor is the API call that makes a change (its own round trip): `floor_seconds` is the median.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from ..recipes import R2
from ..settings import display_url
from .harness import (LIFTED_XERO_LIMITS, api_calls, bench_database, environ, peak_rss_mb, sandbox_process,
                      sandbox_session, sandbox_stats, stop_process_group)
from .latency_changes import KINDS, Change, Targets, effect_objects, make_change, visible
from .push_bench import fast_mode
from .soak_sim import Simulator

WATCH_S = 0.5
#: How often the idle window's opening looks for the poll it opens at (seconds).
POLL_WATCH_S = 0.2
#: A change not visible this long after it was made has not crossed (reported, never waited for longer).
CROSS_TIMEOUT_S = 180.0
#: Quiet needed before the idle window: the lane's own writes come back as changes (webhooks and the
#: poll), and the push sensor (every 60 s) pushes the rest of the plans the lane rebuilt, which comes back too.
SETTLE_S = 90.0
SEED = 11
LANE_JOB, LANE_SENSOR = "realtime_lane_job", "realtime_lane_sensor"
#: The 10 s poll on the sandbox's 100,000 calls a day: 8,640 polls, 8.6% of it.
SALESFORCE_SHARE = 0.1
NEVER_CRON = "0 0 1 1 *"  # the cycle's cron moved to New Year: no cycle runs during the bench


class Child:
    """A command in its own process group, its output kept for waiting on and for errors."""

    def __init__(self, name: str, cmd: list[str], env: dict, cwd: Path) -> None:
        self.name, self.lines = name, []
        self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, text=True, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()

    def count(self, needle: str) -> int:
        return sum(needle in line for line in list(self.lines))

    def wait_for(self, needle: str, timeout_s: float, times: int = 1) -> None:
        deadline = time.monotonic() + timeout_s
        while self.count(needle) < times:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {''.join(self.lines[-30:])}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: no line with {needle!r} in {timeout_s:.0f} s: {''.join(self.lines[-30:])}")
            time.sleep(0.2)

    def stop(self) -> None:
        stop_process_group(self.proc)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bench_config(path: Path) -> None:
    """The user's sfxero.yaml with the two settings the bench needs (module docstring)."""
    from ..config import config_path

    source = config_path()
    data = (yaml.safe_load(source.read_text()) or {}) if source.exists() else {}
    data.setdefault("realtime", {})["salesforce_budget_share"] = SALESFORCE_SHARE
    data.setdefault("schedules", {})["cycle_cron"] = NEVER_CRON
    # The first sync's invoices must take payments (a DRAFT cannot): R2 creates them AUTHORISED.
    data.setdefault("recipes", {}).setdefault(R2, {})["status"] = "AUTHORISED"
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _workspace(path: Path) -> Path:
    root = Path(__file__).resolve().parents[2]
    path.write_text("load_from:\n  - python_module:\n      module_name: sfxero_pipelines.definitions\n"
                    f"      attribute: defs\n      working_directory: {root}\n      location_name: sfxero_pipelines\n")
    return path


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sfxero_pipelines.cli", *args]


class Watcher:
    """Reads the records the pending changes' effects live in every `WATCH_S`, stamping each change
    the first time its effect shows."""

    def __init__(self, env: dict) -> None:
        self.env, self.http = env, sandbox_session(env)
        self.pending: list[Change] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def add(self, change: Change) -> None:
        with self.lock:
            self.pending.append(change)

    def _records(self, system: str, obj: str) -> list[dict]:
        base = self.env["SALESFORCE_LOGIN_URL"] if system == "sf" else self.env["XERO_IDENTITY_URL"]
        response = self.http.get(f"{base}/__sandbox/records/{obj}", timeout=60)
        response.raise_for_status()
        return response.json()

    def _run(self) -> None:
        while not self.stop.wait(WATCH_S):
            with self.lock:
                waiting = [c for c in self.pending if c.seen_at is None]
            if not waiting:
                continue
            read_at = time.time()
            records = {key: self._records(*key) for key in effect_objects(waiting)}
            for change in waiting:
                if visible(change, records):
                    # The read began before the records were taken: the effect was there by then.
                    change.seen_at = read_at

    def wait_all(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while any(c.seen_at is None for c in self.pending) and time.monotonic() < deadline:
            time.sleep(0.5)


def make_changes(env: dict, count: int, spread_s: float, rng: random.Random, watcher: Watcher) -> list[Change]:
    sim = Simulator(env, seed=rng.randrange(10**6))
    targets = Targets(sim, rng)
    kinds = [KINDS[i % len(KINDS)] for i in range(count)]
    rng.shuffle(kinds)
    short = {k: n for k, n in targets.available().items() if n < kinds.count(k)}
    if short:
        raise RuntimeError(f"the sandbox has too few records for {count} changes: {short} available "
                           "(a larger --size)")
    offsets = sorted(rng.uniform(0, spread_s) for _ in range(count))
    start, changes = time.monotonic(), []
    for n, (kind, offset) in enumerate(zip(kinds, offsets)):
        time.sleep(max(0.0, start + offset - time.monotonic()))
        change = make_change(kind, targets, n, time.time)
        watcher.add(change)
        changes.append(change)
    sim.close()
    return changes


# -- where the time went ---------------------------------------------------------------------------

def _lane_runs(instance) -> list[dict]:
    import dagster as dg

    runs = []
    for record in instance.get_run_records(dg.RunsFilter(job_name=LANE_JOB)):
        run = record.dagster_run
        ops = (run.run_config or {}).get("ops", {}).get("lane_batch", {}).get("config", {})
        events = {}
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            name = event.event_type.name
            events.setdefault(name, entry.timestamp)
            if name == "STEP_OUTPUT":
                meta = event.step_output_data.metadata.get("stage_seconds")
                events["stage_seconds"] = meta.value if meta is not None else {}
            elif name == "STEP_FAILURE":
                error = event.step_failure_data.error
                events["failure"] = (error.message if error else event.message or "")[:500]
        runs.append({"run_id": run.run_id, "status": run.status.value, "records": set(ops.get("records", [])),
                     "created": record.create_timestamp.timestamp(), "events": events})
    return sorted(runs, key=lambda r: r["created"])


def _lane_ticks(instance) -> list:
    for state in instance.all_instigator_state():
        if state.name == LANE_SENSOR:
            return list(instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=100_000))
    return []


def breakdown(change: Change, runs: list[dict], ticks: list) -> dict | None:
    """The stretches of one change's latency, from the run that carried it and the tick that asked for it."""
    run = next((r for r in runs if change.source in r["records"] and r["created"] >= change.made_at - 1), None)
    if run is None:
        return None
    tick = next((t for t in ticks if run["run_id"] in t.run_ids), None)
    e = run["events"]
    out = {}
    if tick is not None:
        out["to_tick"] = tick.timestamp - change.made_at
        out["tick"] = run["created"] - tick.timestamp
    # queued: until the daemon dequeued and launched it; launch: the run worker's process start and
    # code load; step_start: the run's own set-up (resources) before the op.
    stretches = (("queued", "created", "RUN_STARTING"), ("launch", "RUN_STARTING", "RUN_START"),
                 ("step_start", "RUN_START", "STEP_START"))
    for name, start, end in stretches:
        begin = run["created"] if start == "created" else e.get(start)
        if begin is not None and e.get(end) is not None:
            out[name] = e[end] - begin
    out.update({f"stage_{k}": v for k, v in (e.get("stage_seconds") or {}).items()})
    return {k: round(v, 3) for k, v in out.items()}


# -- figures ---------------------------------------------------------------------------------------

def _pct(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `q` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered), max(1, math.ceil(q * len(ordered) - 1e-9))) - 1], 3)


def summary(values: list[float]) -> dict:
    return {"changes": len(values), "p50_seconds": _pct(values, 0.5), "p95_seconds": _pct(values, 0.95),
            "max_seconds": round(max(values), 3) if values else None}


def where_time_goes(parts: list[dict]) -> dict:
    names = sorted({k for p in parts for k in p})
    return {name: {"p50": _pct([p[name] for p in parts if name in p], 0.5),
                   "p95": _pct([p[name] for p in parts if name in p], 0.95)} for name in names}


# -- the run ---------------------------------------------------------------------------------------

def _settle(instance, quiet_s: float, timeout_s: float) -> None:
    """Wait until no run (of any job: the lane's and the pushes the push sensor launches after it) is in
    progress and none was created for `quiet_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        records = instance.get_run_records(limit=200)
        busy = [r for r in records if not r.dagster_run.is_finished]
        last = max((r.create_timestamp.timestamp() for r in records), default=0.0)
        if not busy and time.time() - last >= quiet_s:
            return
        time.sleep(2)
    raise RuntimeError("the lane did not settle: runs kept coming")


def run_latency_bench(size: int, staging_url: str | None, *, changes: int = 60, spread_s: float = 300.0,
                      idle_minutes: float = 10.0, seed: int = SEED) -> dict:
    import dagster as dg

    rng = random.Random(seed)
    fast = fast_mode()
    work = Path(tempfile.mkdtemp(prefix="sfxero-latency-"))
    children: list[Child] = []
    try:
        with bench_database(staging_url) as url, \
                sandbox_process(size, seed=seed, xero_limits=LIFTED_XERO_LIMITS if fast else None) as env:
            home = work / "dagster_home"
            home.mkdir()
            shutil.copyfile(Path(__file__).resolve().parents[2] / "dagster.yaml", home / "dagster.yaml")
            _bench_config(work / "sfxero.yaml")
            run_env = {**os.environ, **env, "SFXERO_STAGING_URL": url, "DAGSTER_HOME": str(home),
                       "SFXERO_CONFIG": str(work / "sfxero.yaml")}
            cwd = Path(__file__).resolve().parents[2]
            started = time.perf_counter()
            _first_sync(run_env, cwd)
            sync_s = time.perf_counter() - started

            port = _free_port()
            receiver = Child("sfxero webhooks", _cli("webhooks", "--port", str(port)), run_env, cwd)
            children.append(receiver)
            receiver.wait_for("sfxero webhooks: POST", 120)
            http = sandbox_session(env)
            http.post(f"{env['XERO_IDENTITY_URL']}/__sandbox/webhooks",
                      json={"url": f"http://127.0.0.1:{port}/webhooks/xero"}, timeout=30).raise_for_status()
            _wait(lambda: http.get(f"{env['XERO_IDENTITY_URL']}/__sandbox/webhooks", timeout=30).json()["status"]
                  == "ACTIVE", "the webhook handshake", 120)

            daemon_bin = str(Path(sys.executable).with_name("dagster-daemon"))
            daemon = Child("dagster-daemon", [daemon_bin, "run", "-w", str(_workspace(work / "workspace.yaml"))],
                           run_env, cwd)
            children.append(daemon)
            # The lane's first tick starts the Salesforce cursors; changes count from the second on.
            daemon.wait_for(f"Checking for new runs for sensor: {LANE_SENSOR}", 300, times=2)

            watcher = Watcher(env)
            watcher.thread.start()
            made = make_changes(env, changes, spread_s, rng, watcher)
            watcher.wait_all(CROSS_TIMEOUT_S)
            watcher.stop.set()

            with environ({"DAGSTER_HOME": str(home)}):
                instance = dg.DagsterInstance.get()
                try:
                    _settle(instance, SETTLE_S, 900)
                    _open_at_a_poll(env, timeout_s=120)
                    idle_runs_before = len(_lane_runs(instance))
                    time.sleep(idle_minutes * 60)
                    idle = {"salesforce": api_calls(sandbox_stats(env, "sf")),
                            "xero": api_calls(sandbox_stats(env, "xero"))}
                    runs, ticks = _lane_runs(instance), _lane_ticks(instance)
                finally:
                    instance.dispose()
            for child in reversed(children):
                child.stop()
            children.clear()
    finally:
        for child in reversed(children):
            child.stop()
        shutil.rmtree(work, ignore_errors=True)

    crossed = [c for c in made if c.seconds is not None]
    parts = {id(c): breakdown(c, runs, ticks) for c in crossed}
    by_kind = {}
    for kind in KINDS:
        mine = [c for c in made if c.kind == kind]
        by_kind[kind] = {**summary([c.seconds for c in mine if c.seconds is not None]),
                         "not_crossed": sum(c.seconds is None for c in mine),
                         "where_time_goes": where_time_goes([p for c in mine if (p := parts.get(id(c)))])}
    latencies = [c.seconds for c in crossed]
    floor = round(statistics.median(c.call_s for c in made), 3) if made else None
    scale = 60.0 / idle_minutes
    return {
        "bench": "latency",
        "records": len(made),
        "seconds": round(sum(latencies), 3),
        "api_calls": idle,
        "floor_seconds": floor,
        "ratio_to_floor": round(statistics.median(latencies) / floor, 1) if latencies and floor else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        **summary(latencies),
        "changes": len(made),
        "crossed": len(crossed),
        "idle_calls_per_hour": {k: round(n * scale, 1) for k, n in idle.items()},
        "idle_minutes": idle_minutes,
        "idle_lane_runs": len(runs) - idle_runs_before,
        "by_kind": by_kind,
        "where_time_goes": where_time_goes([p for p in parts.values() if p]),
        "lane_runs": len(runs),
        "lane_runs_failed": sum(r["status"] == "FAILURE" for r in runs),
        "lane_failures": sorted({r["events"]["failure"] for r in runs if "failure" in r["events"]})[:3],
        "spread_seconds": spread_s,
        "first_sync_seconds": round(sync_s, 1),
        "sandbox_accounts": size,
        "staging": display_url(url).split("://")[0],
        "xero_limits": "lifted (SFXERO_BENCH_FAST)" if fast else "real (60/minute)",
        "salesforce_budget_share": SALESFORCE_SHARE,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _open_at_a_poll(env: dict, timeout_s: float) -> None:
    """Zero both emulators' counters just after the lane's next Salesforce poll. The polls keep a fixed
    cadence, so a window opened at one counts one poll per interval; opened anywhere, ten minutes of
    10 s polls held 60 or 61 of them by phase alone (a poll at each end)."""
    sandbox_stats(env, "sf", reset=True)
    deadline = time.monotonic() + timeout_s
    while not api_calls(sandbox_stats(env, "sf")):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the lane polled Salesforce no time in {timeout_s:.0f} s: is its sensor running?")
        time.sleep(POLL_WATCH_S)
    for system in ("sf", "xero"):
        sandbox_stats(env, system, reset=True)


def _first_sync(env: dict, cwd: Path) -> None:
    """Sync until converged: the AUTHORISED invoices the first cycle creates move the Accounts' balances
    (R4), which the second cycle writes. Exit 1 (records held, e.g. a WARN check) is a finished cycle."""
    for _ in range(2):
        sync = subprocess.run(_cli("sync", "--stage", "all"), env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=1800)
        if sync.returncode in (0, 1) and "\nConverged:" in sync.stdout:
            return
    raise RuntimeError(f"the first sync did not converge in two cycles: {(sync.stdout + sync.stderr)[-3000:]}")


def _wait(predicate, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)
