"""The failure report: which job and run failed, at which step, with the error's first line.

The same report becomes a webhook's JSON body and an email's subject and text. It never carries a
secret: errors are already redacted where they are raised, and `scrub` removes, once more, every
value of a secret-looking environment variable and any password inside a URL before anything is
sent or logged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from ..errors import redact

#: Environment variables named like these hold secrets (docs/architecture.md §8's *_CLIENT_SECRET and *_PASSWORD,
#: tokens, API keys); their values are replaced by *** in anything a notification carries.
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|CREDENTIAL", re.IGNORECASE)
#: scheme://user:password@host — the password of a database or broker URL.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*):(?P<password>[^@/\s]+)@", re.IGNORECASE)
#: Longest error line kept (a whole response body or traceback is not a notification).
MAX_LINE = 300


def first_line(text: str | None, limit: int = MAX_LINE) -> str:
    """The first non-blank line of `text`, stripped and cut to `limit` characters."""
    for line in (text or "").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def env_secrets(environ: Mapping[str, str], names: Iterable[str | None] = ()) -> list[str]:
    """Secret values in `environ`: variables with a secret-looking name, the ones in `names`, and
    passwords embedded in URL-valued variables (e.g. SFXERO_STAGING_URL). Longest first, so a secret
    that contains another is replaced whole."""
    wanted = {n for n in names if n}
    values = {v for k, v in environ.items() if v and (k in wanted or _SECRET_NAME.search(k))}
    for value in environ.values():
        values.update(m.group("password") for m in _URL_PASSWORD.finditer(value or ""))
    return sorted(values, key=len, reverse=True)


def scrub(text: str, environ: Mapping[str, str] | None = None, names: Iterable[str | None] = ()) -> str:
    """`text` without secrets: every secret value from the environment and any URL password → ***."""
    environ = os.environ if environ is None else environ
    text = redact(text, env_secrets(environ, names))
    return _URL_PASSWORD.sub(r"\g<head>:***@", text)


@dataclass(frozen=True)
class FailedStep:
    step: str
    #: The first line of the step's error (the innermost cause: what actually went wrong).
    error: str


@dataclass(frozen=True)
class RunFailure:
    """One failed Dagster run, as a person (or a chat webhook) should read it."""

    job: str
    run_id: str
    #: Dagster's run-level failure message (first line), e.g. "Execution of run … failed."
    message: str
    steps: tuple[FailedStep, ...] = field(default_factory=tuple)
    partition: str | None = None

    @property
    def short_run_id(self) -> str:
        """The 8-character id the Dagster UI shows in run lists."""
        return self.run_id[:8]

    @property
    def run_path(self) -> str:
        """The run's page, relative to the Dagster UI's base URL: `<ui>/runs/<run_id>`."""
        return f"/runs/{self.run_id}"

    @property
    def error(self) -> str:
        """What to show first: the first failed step's error, else the run's own message."""
        return self.steps[0].error if self.steps else self.message

    def scrubbed(self, environ: Mapping[str, str] | None = None, names: Iterable[str | None] = ()) -> RunFailure:
        names = list(names)
        return replace(
            self, message=scrub(self.message, environ, names),
            steps=tuple(FailedStep(s.step, scrub(s.error, environ, names)) for s in self.steps))

    def payload(self) -> dict:
        """The webhook's JSON body."""
        return {
            "event": "sfxero.run_failed",
            "job": self.job,
            "run_id": self.run_id,
            "short_run_id": self.short_run_id,
            "run_path": self.run_path,
            "partition": self.partition,
            "failed_step": self.steps[0].step if self.steps else None,
            "error": self.error,
            "failed_steps": [{"step": s.step, "error": s.error} for s in self.steps],
            "message": self.message,
        }

    def subject(self) -> str:
        where = f" at {self.steps[0].step}" if self.steps else ""
        return f"[sfxero] {self.job} failed{where} (run {self.short_run_id})"

    def text(self) -> str:
        lines = [f"sfxero: run {self.run_id} of {self.job} failed.",
                 f"Dagster UI: {self.run_path}"]
        if self.partition:
            lines.append(f"Partition: {self.partition}")
        lines += [f"Step {s.step}: {s.error}" for s in self.steps]
        lines.append(f"Run: {self.message}")
        return "\n".join(lines)
