"""great-expectations itself evaluating the suites: the reference `checks/expectations.py` (what the
checks use) is held to by `test_expectations_match_ge.py`. An ephemeral context with one pandas
datasource and a whole-dataframe batch definition, built once per process and reused for every suite.
Test-only: production evaluates natively (see `checks/runner.py`)."""

from __future__ import annotations

import logging

from sfxero_pipelines.checks.runner import Found
from sfxero_pipelines.config import ChecksConfig

_GX: dict = {}


def _batch_definition():
    if not _GX:
        import great_expectations as gx

        # GE logs every metric at INFO and draws progress bars; neither belongs in a test's output.
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = {"globally": False, "metric_calculations": False, "profilers": False}
        asset = context.data_sources.add_pandas("sfxero_staging").add_dataframe_asset("staged_table")
        _GX["batch_definition"] = asset.add_batch_definition_whole_dataframe("whole_table")
        _GX["gx"] = gx
    return _GX["gx"], _GX["batch_definition"]


def evaluate_with_great_expectations(runnable: list[dict], frame, params: dict, cfg: ChecksConfig) -> list[Found]:
    """The same expectations validated by great-expectations (one context per process): the reference
    the native evaluation is tested against."""
    gx, batch_definition = _batch_definition()
    gx_suite = gx.ExpectationSuite(name="sfxero", expectations=[{"type": e["type"], "kwargs": e["kwargs"]} for e in runnable])
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    validation = batch.validate(
        gx_suite, expectation_parameters={k: v for k, v in params.items() if v is not None},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["id"],
                       "partial_unexpected_count": cfg.sample_size, "return_unexpected_index_query": False})
    found = []
    for res in validation.results:  # GE returns results in suite order
        info = res.exception_info or {}
        if info.get("raised_exception") or any(isinstance(v, dict) and v.get("raised_exception") for v in info.values()):
            message = info.get("exception_message") or next(
                (v.get("exception_message") for v in info.values() if isinstance(v, dict) and v.get("exception_message")), "")
            found.append(Found(False, error=str(message).splitlines()[0] if message else "could not evaluate"))
            continue
        payload = res.result or {}
        failing = payload.get("unexpected_index_list") or []
        found.append(Found(bool(res.success), int(payload.get("unexpected_count") or len(failing)), failing))
    return found
