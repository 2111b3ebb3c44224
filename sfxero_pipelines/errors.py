"""Errors a person can act on. Each message names the problem; none ever contains a secret.

The CLI turns `ConfigError` into a one-line message and exit code 2 (SPEC §6), and any other
`SfxeroError` into a one-line message and exit code 1.
"""

from __future__ import annotations


class SfxeroError(Exception):
    """Base class: a failure with a message fit to show a person as-is."""


class ConfigError(SfxeroError):
    """Bad configuration: the message names the key (env var or sfxero.yaml path) and what is wrong."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


class AuthError(SfxeroError):
    """A credential was refused by the target system (wrong client id/secret, revoked grant...)."""

    def __init__(self, system: str, detail: str) -> None:
        self.system = system
        super().__init__(f"{system} refused the credentials: {detail}")


class ApiError(SfxeroError):
    """The API answered with an error we do not retry (or retried until giving up)."""

    def __init__(self, system: str, endpoint: str, status: int | None, code: str, message: str) -> None:
        self.system, self.endpoint, self.status, self.code = system, endpoint, status, code
        super().__init__(f"{system} {endpoint} failed ({status} {code}): {message}")


class BudgetExhausted(SfxeroError):
    """The API budget reached its configured stop threshold (or the server refused for the limit).

    Raised instead of quietly stopping so a run never reports success on partial work.
    """

    def __init__(self, system: str, used: int | None, limit: int | None, detail: str = "") -> None:
        self.system, self.used, self.limit = system, used, limit
        where = f" ({used}/{limit} used)" if used is not None and limit is not None else ""
        super().__init__(f"{system} API budget exhausted{where}{': ' + detail if detail else ''}")


def redact(text: str, secrets: list[str | None]) -> str:
    """Replace every secret value in `text` with '***' (used before anything reaches a log)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
