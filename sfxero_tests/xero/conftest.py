"""Fixtures for the Xero tests: Xero's OpenAPI spec as a response validator on every emulator we use.

`openapi_spec` loads `shared/specs/xero_accounting.yaml` once per session (the spec itself does not
pass openapi-spec-validator, so spec validation is off; YAML timestamps are kept as strings because
Xero's examples are not dates). The autouse `validate_xero_responses` installs a hook on the
session sandbox's Xero emulator and on every `xero_sandbox(...)` one: each Accounting API response
is validated against the operation's declared response for that status, and the test fails at
teardown on the first response that does not validate. Statuses the spec does not declare for an
operation (401, 403, 404, 429, 5xx) are counted as `undeclared` and not validated.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

from sfxero_pipelines.defs.xero.resources import XeroResource

from ..conftest import xero_resource

SPEC_PATH = Path(os.environ.get("SFXERO_XERO_SPEC", Path(__file__).resolve().parents[3] / "shared" / "specs"
                                / "xero_accounting.yaml"))
if not SPEC_PATH.exists():
    SPEC_PATH = Path("/work/shared/specs/xero_accounting.yaml")


class _NoTimestampLoader(yaml.CSafeLoader):
    pass


_NoTimestampLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


@dataclasses.dataclass
class _Req:
    method: str
    path: str
    host_url: str = "https://api.xero.com"
    body: bytes | None = None
    content_type: str = "application/json"
    parameters: RequestParameters = dataclasses.field(default_factory=RequestParameters)


@dataclasses.dataclass
class _Resp:
    status_code: int
    data: bytes
    content_type: str
    headers: Headers


class ResponseValidator:
    def __init__(self, openapi: OpenAPI) -> None:
        self.openapi = openapi
        self.failures: list[str] = []
        self.validated = 0
        self.undeclared = 0
        self.statuses: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, method, path, query, status, headers, body, media_type) -> None:
        request = _Req(method=method.lower(), path=path,
                       parameters=RequestParameters(query=ImmutableMultiDict()))
        response = _Resp(status, body, (media_type or "application/json").split(";")[0].strip(), Headers(headers))
        with self._lock:
            self.statuses.append(status)
        try:
            self.openapi.validate_response(request, response)
        except ResponseNotFound:
            with self._lock:
                self.undeclared += 1
            return
        except Exception as exc:  # noqa: BLE001 - any validation error is a failure to report
            detail = str(exc)[:500]
            for sub in getattr(exc, "__cause__", None) and getattr(exc.__cause__, "schema_errors", []) or []:
                detail += f"\n  - {list(sub.absolute_path)}: {sub.message}"
            with self._lock:
                self.failures.append(f"{method} {path}?{query} -> {status}: {detail}")
            return
        with self._lock:
            self.validated += 1

    def reset(self) -> None:
        with self._lock:
            self.failures.clear()
            self.statuses.clear()


@pytest.fixture(scope="session")
def openapi_spec() -> OpenAPI:
    from openapi_core import Config

    data = yaml.load(SPEC_PATH.read_text(), Loader=_NoTimestampLoader)
    return OpenAPI.from_dict(data, config=Config(spec_validator_cls=None))


@pytest.fixture(scope="session")
def response_validator(openapi_spec) -> ResponseValidator:
    return ResponseValidator(openapi_spec)


@pytest.fixture(autouse=True)
def validate_xero_responses(sandbox, response_validator):
    """Every Xero API response in the test validates against the spec (checked at teardown)."""
    response_validator.reset()
    if response_validator not in sandbox.xero.response_hooks:
        sandbox.xero.response_hooks.append(response_validator)
    # The session sandbox is shared by many tests in one real minute; its Xero-sized minute budget
    # would turn the suite into a series of 60-second waits. Limits are tested on fresh sandboxes.
    saved = dict(sandbox.xero.limits.cfg)
    sandbox.xero.limits.cfg.update(per_minute=1_000_000, app_per_minute=1_000_000)
    yield response_validator
    sandbox.xero.limits.cfg.update(saved)
    failures = list(response_validator.failures)
    if failures:
        pytest.fail(f"{len(failures)} Xero response(s) do not validate against the OpenAPI spec; first:\n"
                    + failures[0])


@pytest.fixture
def xero_sandbox(make_sandbox, response_validator):
    """A fresh sandbox (kwargs as SandboxServer's) whose Xero responses are validated too."""

    def factory(**kwargs):
        server = make_sandbox(**kwargs)
        server.xero.response_hooks.append(response_validator)
        return server

    return factory


def resource_for(server, **overrides) -> XeroResource:
    """The shared builder with a short retry backoff (these tests provoke retries on purpose)."""
    return xero_resource(server, **{"backoff_initial_s": 0.05, **overrides})


@pytest.fixture
def xero_client(sandbox):
    with resource_for(sandbox, per_minute_limit=1_000_000).get_client() as client:
        yield client
