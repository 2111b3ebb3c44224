"""`sfxero bench`: measure a stage against its floor (SPEC §9)."""

from __future__ import annotations

from ..errors import ConfigError
from . import EXIT_OK, NotAvailableYet


def run_bench(which: str, *, size: int, staging_url: str | None, as_json: bool) -> int:
    from ..bench.harness import emit

    if size < 1:
        raise ConfigError("--size", "must be at least 1")
    if staging_url:
        from ..settings import staging_url as validate

        staging_url = validate({"SFXERO_STAGING_URL": staging_url})
    if which == "extract":
        from ..bench.extract_bench import run_extract_bench

        emit(run_extract_bench(size, staging_url), as_json)
        return EXIT_OK
    if which == "check":
        from ..bench.check_bench import run_check_bench

        emit(run_check_bench(size, staging_url), as_json)
        return EXIT_OK
    if which == "reconcile":
        from ..bench.reconcile_bench import run_reconcile_bench

        emit(run_reconcile_bench(size, staging_url), as_json)
        return EXIT_OK
    if which == "push":
        from ..bench.push_bench import run_push_bench

        emit(run_push_bench(size, staging_url), as_json)
        return EXIT_OK
    if which == "e2e":
        from ..bench.e2e_bench import run_e2e_bench

        emit(run_e2e_bench(size, staging_url), as_json)
        return EXIT_OK
    raise NotAvailableYet(f"bench {which}")
