"""HTTP for the Salesforce client: the session, the trust store, retries, and the limit headers.

Contract:
- Every HTTP call of one client (token requests included) goes through one `requests.Session` whose
  adapter sets a timeout (simple-salesforce passes none, and SFType methods cannot take one) and the
  trust store: SFXERO_CA_BUNDLE is trusted in addition to the public roots, one SSLContext per process
  (`trust_context`), set on the adapter because REQUESTS_CA_BUNDLE in the environment would otherwise
  override `session.verify`. Its connections call `request_sent.callback` once a request is on the wire.
- `Transport.retrying()` retries transient failures only (`is_transient`: connection errors, timeouts,
  5xx, UNABLE_TO_LOCK_ROW and the other retryable codes) with exponential backoff and jitter,
  `max_retries` times; anything else is raised at once. A certificate the trust store refuses is never
  transient (it is configuration, named by `errors.untrusted_certificate` upstream).
- `Sforce-Limit-Info` is parsed from every response into `api_usage`; `check_budget()` raises
  `errors.BudgetExhausted` once used/max reaches `budget_stop_share`. `api_calls` counts HTTP calls
  per endpoint name (`endpoint_name`) for run metadata.
Nothing here sees a secret except as request data; no log line carries a header or a body.
"""

from __future__ import annotations

import collections
import functools
import logging
import re
import ssl
import threading
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from simple_salesforce.exceptions import SalesforceError, SalesforceGeneralError, SalesforceMalformedRequest
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from ...errors import BudgetExhausted, certificate_problem

log = logging.getLogger("sfxero.salesforce")

SYSTEM = "Salesforce"
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
_TRANSIENT_CODES = {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION", "QUERY_TIMEOUT"}

request_sent = threading.local()  # .callback: called in this thread once a request is on the wire


class _SignallingHTTPConnection(urllib3.connection.HTTPConnection):
    def getresponse(self, *args, **kwargs):
        callback = getattr(request_sent, "callback", None)
        if callback is not None:  # the request line, headers and body are sent: now only waiting
            callback()
        return super().getresponse(*args, **kwargs)


class _SignallingHTTPSConnection(_SignallingHTTPConnection, urllib3.connection.HTTPSConnection):
    pass


class _SignallingHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _SignallingHTTPConnection


class _SignallingHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _SignallingHTTPSConnection


class _Adapter(HTTPAdapter):
    """Adds a default timeout and our trust store (`trust_context`) to every request simple-salesforce
    sends, over connections that tell `request_sent` when a request has gone out."""

    def __init__(self, timeout: float, trust: ssl.SSLContext) -> None:
        super().__init__(pool_connections=4, pool_maxsize=8)
        self.timeout, self.trust = timeout, trust

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _SignallingHTTPPool, "https": _SignallingHTTPSPool}

    def send(self, request, **kwargs):
        if not kwargs.get("timeout"):
            kwargs["timeout"] = (min(10.0, self.timeout), self.timeout)
        kwargs["verify"] = True  # always verified, against `trust` whatever REQUESTS_CA_BUNDLE says
        return super().send(request, **kwargs)

    # requests' documented way to bring one's own SSLContext: in the pool key, instead of a bundle path
    # (which urllib3 would load into a new context for every connection).
    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        pool_kwargs.pop("ca_certs", None)
        pool_kwargs.pop("ca_cert_dir", None)
        pool_kwargs["ssl_context"] = self.trust
        return host_params, pool_kwargs

    def cert_verify(self, conn, url, verify, cert):
        super().cert_verify(conn, url, verify, cert)
        conn.ca_certs = conn.ca_cert_dir = None  # already in `trust`; urllib3 would load them again


@functools.lru_cache(maxsize=8)
def trust_context(extra: str | None) -> ssl.SSLContext:
    """The public roots (requests' own bundle) plus `extra` (the sandbox CA, or a company's), loaded
    once per process: requests parsed the ~150 public roots again for every new connection, a
    tenth of a small extract (`sfxero bench extract`). Read-only once built, so shared across clients and
    threads."""
    context = ssl.create_default_context(cafile=DEFAULT_CA_BUNDLE_PATH)
    if extra:
        context.load_verify_locations(cafile=extra)
    return context


def endpoint_name(method: str, url: str) -> str:
    """A stable name per API endpoint for `api_calls` (run metadata)."""
    path = urlsplit(url).path.rstrip("/")
    if path.endswith("/services/oauth2/token"):
        return "token"
    m = re.search(r"/services/data/v[\d.]+/?(.*)$", path)
    rest = m.group(1) if m else path
    parts = rest.split("/") if rest else []
    if not parts:
        return "versions"
    head = parts[0]
    if head in ("query", "queryAll"):
        return "queryMore" if len(parts) > 1 else head
    if head == "sobjects":
        if len(parts) == 1:
            return "describeGlobal"
        if len(parts) >= 3 and parts[2] in ("describe", "updated", "deleted"):
            return parts[2]
        return "sobject"
    if head == "composite":
        return f"composite/{parts[1]}" if len(parts) > 1 and parts[1] in ("sobjects", "batch") else "composite"
    if head == "jobs" and len(parts) > 1:
        return f"bulk2/{parts[1]}"
    return head


def error_code(exc: SalesforceError) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode") or content[0].get("statusCode") or "")
    if isinstance(content, dict):
        return str(content.get("errorCode") or "")
    return ""


def error_message(exc: SalesforceError) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("message", ""))
    return str(content)[:300] if content else ""


def is_transient(exc: BaseException) -> bool:
    if certificate_problem(exc):  # requests reports it as a ConnectionError; it never heals
        return False
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return True
    if isinstance(exc, SalesforceGeneralError) and getattr(exc, "status", 0) >= 500:
        return True
    if isinstance(exc, SalesforceMalformedRequest) and error_code(exc) in _TRANSIENT_CODES:
        return True
    return False


def read_body(response: requests.Response) -> bytes:
    """A streamed response's body in one read. `.content` reads a 2 MB page 10 KB at a time through
    three layers of Python, twice the CPU, all of it holding the interpreter lock the loader needs;
    a broken read raises what `.content` raises (a transient error, retried). Read to its end, the
    connection goes back to the pool."""
    try:
        return response.raw.read(decode_content=True)
    except urllib3.exceptions.HTTPError as exc:
        response.close()
        raise requests.ConnectionError(f"reading the response body failed: {type(exc).__name__}") from None


class Transport:
    """One client's HTTP session with its call accounting, API-budget check and retry policy."""

    def __init__(self, *, timeout_s: float, ca_bundle: str | None, max_retries: int, backoff_s: float,
                 budget_stop_share: float) -> None:
        self.api_calls: collections.Counter[str] = collections.Counter()
        self.api_usage: tuple[int, int] | None = None
        self.max_retries, self.backoff_s = int(max_retries), float(backoff_s)
        self.budget_stop_share = budget_stop_share
        self.session = requests.Session()
        adapter = _Adapter(float(timeout_s), trust_context(ca_bundle))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.hooks["response"].append(self._on_response)

    def close(self) -> None:
        self.session.close()

    def _on_response(self, response: requests.Response, *args, **kwargs) -> None:
        self.api_calls[endpoint_name(response.request.method or "", response.url)] += 1
        m = _USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if m:
            self.api_usage = (int(m.group(1)), int(m.group(2)))

    def check_budget(self) -> None:
        if self.api_usage and self.api_usage[1]:
            used, limit = self.api_usage
            if used / limit >= self.budget_stop_share:
                raise BudgetExhausted(SYSTEM, used, limit, f"stopped at the configured {self.budget_stop_share:.0%} "
                                      "of the daily API request limit; the rest continues in the next run")

    def retrying(self) -> Retrying:
        return Retrying(
            retry=retry_if_exception(is_transient),
            wait=wait_random_exponential(multiplier=self.backoff_s, max=max(self.backoff_s * 60, 1)),
            stop=stop_after_attempt(self.max_retries + 1),
            reraise=True,
            before_sleep=lambda rs: log.warning("Salesforce call failed transiently (%s); retry %d of %d",
                                                type(rs.outcome.exception()).__name__ if rs.outcome else "?",
                                                rs.attempt_number, self.max_retries),
        )
