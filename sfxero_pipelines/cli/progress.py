"""A progress bar for a run the CLI executes, redrawn in place on stderr, only when stderr is a terminal.

Counts the run's finished steps (succeeded, failed or skipped) out of the job's steps, with the time
spent: extract pages, backfills and pushes run as steps, so a long stage shows it is moving. When
stderr is not a terminal (make run piped to a file, CI), nothing is drawn: the stage summary lines
are the plain record.
"""

from __future__ import annotations

import sys
import time

import dagster as dg

WIDTH = 24
FINISHED = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.STEP_SKIPPED}


class RunProgress:
    def __init__(self, instance: dg.DagsterInstance, run_id: str, job: dg.JobDefinition, stream=None) -> None:
        self.instance, self.run_id, self.name = instance, run_id, job.name
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = max(len(job.graph.nodes), 1)
        self.started = time.monotonic()
        self.drawn = 0

    def line(self, done: int) -> str:
        done = min(done, self.total)
        filled = WIDTH * done // self.total
        return (f"  {self.name} [{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{self.total} steps, "
                f"{time.monotonic() - self.started:.0f} s")

    def update(self) -> None:
        if not self.enabled:
            return
        done = len(self.instance.get_records_for_run(self.run_id, of_type=FINISHED).records)
        text = self.line(done)
        self.stream.write("\r" + text.ljust(self.drawn))
        self.stream.flush()
        self.drawn = len(text)

    def close(self) -> None:
        if self.enabled and self.drawn:
            self.stream.write("\r" + " " * self.drawn + "\r")
            self.stream.flush()
