"""Errors a person can act on. Each message names the problem; none ever contains a secret.

The CLI turns `ConfigError` into a one-line message and exit code 2 (docs/architecture.md §7), and any other
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
    """A credential was refused by the target system (wrong client id/secret, revoked grant...).

    `variables` names the settings to check (never their values)."""

    def __init__(self, system: str, detail: str, variables: tuple[str, ...] = ()) -> None:
        self.system, self.detail, self.variables = system, detail, tuple(variables)
        check = f" (check {' / '.join(variables)})" if variables else ""
        super().__init__(f"{system} refused the credentials: {detail}{check}")


class ApiError(SfxeroError):
    """The API answered with an error we do not retry (or retried until giving up).

    `transient`: whether asking again later may succeed (a step's retry policy reruns it). By
    default, anything but a 4xx refusal — 408 and 429 included — or as the raiser says."""

    def __init__(self, system: str, endpoint: str, status: int | None, code: str, message: str,
                 *, transient: bool | None = None) -> None:
        self.system, self.endpoint, self.status, self.code = system, endpoint, status, code
        if transient is None:
            transient = status is None or not 400 <= status < 500 or status in (408, 429)
        self.transient = transient
        super().__init__(f"{system} {endpoint} failed ({status} {code}): {message}")


class BudgetExhausted(SfxeroError):
    """The API budget reached its configured stop threshold (or the server refused for the limit).

    Raised instead of quietly stopping so a run never reports success on partial work.
    """

    def __init__(self, system: str, used: int | None, limit: int | None, detail: str = "") -> None:
        self.system, self.used, self.limit = system, used, limit
        where = f" ({used}/{limit} used)" if used is not None and limit is not None else ""
        super().__init__(f"{system} API budget exhausted{where}{': ' + detail if detail else ''}")


def certificate_problem(exc: BaseException) -> str | None:
    """Why the server's TLS certificate was refused, when `exc` is (or wraps, as requests and
    urllib3 do) a certificate verification failure; None for any other error. Such a failure is
    configuration (the trust store, or the URL), so asking again cannot help."""
    import ssl

    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        err = stack.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, ssl.SSLCertVerificationError):
            return err.verify_message or str(err)
        stack.extend(e for e in (err.__cause__, err.__context__, getattr(err, "reason", None), *err.args)
                     if isinstance(e, BaseException))
    return None


def untrusted_certificate(url: str, problem: str) -> ConfigError:
    from urllib.parse import urlsplit

    return ConfigError("SFXERO_CA_BUNDLE", f"the TLS certificate of {urlsplit(url).netloc or url} is not trusted "
                       f"({problem}): set SFXERO_CA_BUNDLE to the CA that signed it, or check the URL")


def redact(text: str, secrets: list[str | None]) -> str:
    """Replace every secret value in `text` with '***' (used before anything reaches a log)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
