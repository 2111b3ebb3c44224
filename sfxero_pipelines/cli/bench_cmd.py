"""`sfxero bench`: measure a stage against its floor (docs/architecture.md §9)."""

from __future__ import annotations

from importlib import import_module

from ..errors import ConfigError
from . import EXIT_OK, NotAvailableYet

#: bench name → (module under sfxero_pipelines.bench, its entry point taking (size, staging_url)).
BENCH_RUNNERS = {
    "extract": ("extract_bench", "run_extract_bench"),
    "check": ("check_bench", "run_check_bench"),
    "reconcile": ("reconcile_bench", "run_reconcile_bench"),
    "push": ("push_bench", "run_push_bench"),
    "e2e": ("e2e_bench", "run_e2e_bench"),
    "tokens": ("tokens_bench", "run_tokens_bench"),
    "soak": ("soak_bench", "run_soak_bench"),
    "scale": ("scale_bench", "run_scale_bench"),
    "latency": ("latency_bench", "run_latency_bench"),
}
#: The soak's cycles when --cycles is not given, and its sandbox when --size is left at the default.
SOAK_CYCLES, SOAK_SIZE = 50, 40
#: `bench scale`'s sandbox when --size is left at the default: a few hundred records per organisation.
SCALE_SIZE = 40
#: `bench latency`'s sandbox when --size is left at the default: enough records for 60 changes.
LATENCY_SIZE = 60


def run_bench(which: str, *, size: int, staging_url: str | None, as_json: bool, cycles: int | None = None,
              tenants: int | None = None, changes: int | None = None, duration: float | None = None,
              idle_minutes: float | None = None, engine_mode: bool = False) -> int:
    from ..bench.harness import emit

    if size < 1:
        raise ConfigError("--size", "must be at least 1")
    if cycles is not None and which != "soak":
        raise ConfigError("--cycles", "applies to `bench soak` only")
    if tenants is not None and which != "scale":
        raise ConfigError("--tenants", "applies to `bench scale` only")
    if engine_mode and which != "reconcile":
        raise ConfigError("--engine", "applies to `bench reconcile` only")
    if cycles is not None and cycles < 1:
        raise ConfigError("--cycles", "must be at least 1")
    for flag, value in (("--changes", changes), ("--duration", duration), ("--idle-minutes", idle_minutes)):
        if value is None:
            continue
        if which != "latency":
            raise ConfigError(flag, "applies to `bench latency` only")
        if value <= 0:
            raise ConfigError(flag, "must be positive")
    if staging_url:
        from ..settings import staging_url as validate

        staging_url = validate({"SFXERO_STAGING_URL": staging_url})
    if which not in BENCH_RUNNERS:
        raise NotAvailableYet(f"bench {which}")
    module, entry = BENCH_RUNNERS[which]
    runner = getattr(import_module(f"..bench.{module}", __package__), entry)
    extra = {"headless": _headless_cycle()} if which == "e2e" else {"engine_mode": True} if engine_mode else {}
    if which == "soak":
        # A soak cycle reads the sandbox back whole: the default --size of the other benches is too big.
        size = SOAK_SIZE if size == 10_000 else size
        extra = {"cycles": cycles or SOAK_CYCLES}
    if which == "scale":
        size = SCALE_SIZE if size == 10_000 else size
        extra = {"tenants": 1 if tenants is None else tenants, "start_sandbox": _start_sandbox}
    if which == "latency":
        size = LATENCY_SIZE if size == 10_000 else size
        extra = {k: v for k, v in (("changes", changes), ("spread_s", duration), ("idle_minutes", idle_minutes))
                 if v is not None}
    emit(runner(size, staging_url, **extra), as_json)
    return EXIT_OK


def _headless_cycle():
    """The e2e bench measures the cycle exactly as `sfxero sync` runs it: the CLI hands it its runner."""
    from ..bench.e2e_bench import HeadlessCycle
    from .instance import get_instance
    from .sync_cmd import run_stage_jobs, verify_convergence

    return HeadlessCycle(get_instance=get_instance, run_stage_jobs=run_stage_jobs,
                         verify_convergence=verify_convergence)


def _start_sandbox(**kwargs):
    """A sandbox in this process for `bench scale`, which counts each Xero response as it is given
    (the bench measures the workers' calls, not this process's)."""
    from ..sandbox.runner import SandboxServer

    return SandboxServer(**kwargs).start()
