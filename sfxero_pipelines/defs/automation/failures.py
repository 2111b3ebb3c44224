"""The run-failure sensor: every failed run of this code location is reported (webhook, email or log).

The message names the job, the run (full id, the UI's short id and its `/runs/<id>` path), the
partition, and each failed step with the first line of its error: the innermost cause, since
Dagster wraps a step's exception in its own "Error occurred while executing …". Delivery and
secret scrubbing are `sfxero_pipelines.notify`; a notifier that fails is logged there, never
raised, so a broken webhook cannot make this sensor fail (and evaluate the same run again).
"""

from __future__ import annotations

import dagster as dg

from ...notify import FailedStep, RunFailure, first_line, notify
from ...config import NotifyConfig


def _error_line(error) -> str:
    while error is not None and error.cause is not None:
        error = error.cause
    return first_line(error.message) if error is not None else ""


def run_failure(context: dg.RunFailureSensorContext) -> RunFailure:
    """The report of the failed run in `context`, from its failure event and step failures."""
    run = context.dagster_run
    steps = []
    for event in context.get_step_failure_events():
        data = event.event_specific_data
        line = _error_line(getattr(data, "error", None)) or first_line(event.message)
        steps.append(FailedStep(step=event.step_key or "(unknown step)", error=line))
    event = context.failure_event
    message = first_line(event.message)
    # A run that failed outside any step (a resource or launch error) carries its error on the run event.
    if run_error := _error_line(getattr(event.event_specific_data, "error", None)):
        message = first_line(f"{message} {run_error}")
    return RunFailure(job=run.job_name, run_id=run.run_id, message=message, steps=tuple(steps),
                      partition=run.tags.get("dagster/partition"))


def build_failure_sensor(cfg: NotifyConfig, status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    channels = [name for name, on in (("webhook", cfg.webhook_url), ("email", cfg.smtp)) if on] or ["the sensor log"]

    @dg.run_failure_sensor(name="notify_run_failure_sensor", default_status=status,
                           description=f"Reports every failed run (job, run, failed step and error) to "
                                       f"{' and '.join(channels)}, as sfxero.yaml's notify: section says.")
    def notify_run_failure_sensor(context: dg.RunFailureSensorContext):
        notify(run_failure(context), cfg, context.log)

    return notify_run_failure_sensor
