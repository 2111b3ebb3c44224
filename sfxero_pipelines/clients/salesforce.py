"""`SalesforceClient`: the one way production code talks to Salesforce (wraps simple-salesforce 1.12.10).

Contract (what extract and push rely on):
- OAuth is done here, not by simple-salesforce: its login builds `https://{domain}.salesforce.com`
  URLs that cannot reach a My Domain given as a URL or the loopback sandbox (as the real API documents it). Grant by configuration: private key + username -> JWT bearer; username + password ->
  password grant; else client credentials (HTTP Basic).
- The `Salesforce` object is built as a direct session (`session_id` + `instance_url`), so SS never
  refreshes on its own (its refresh drops custom headers and SFType's can loop forever, §8.5). On
  `SalesforceExpiredSession` we re-authenticate once, rebuild it (and re-access `.bulk2`, which
  snapshots the token) and retry the same request: a query cursor survives, so no record is lost
  or repeated.
- Every HTTP call goes through one `requests.Session` whose adapter sets a timeout (SS passes none,
  and SFType methods cannot take one) and the trust store (SFXERO_CA_BUNDLE is trusted in addition
  to the public roots, one SSLContext per process, `trust_context`; set on the adapter because
  REQUESTS_CA_BUNDLE in the environment would otherwise override `session.verify`).
- Transient failures (connection errors, timeouts, 5xx, UNABLE_TO_LOCK_ROW) are retried with
  exponential backoff and jitter, `max_retries` times; other API errors raise `errors.ApiError`
  (`transient` says which kind). A certificate the trust store refuses is configuration, not a
  connection error: `ConfigError` naming SFXERO_CA_BUNDLE, at once.
- `Sforce-Limit-Info` is parsed from every response into `api_usage`; before each call, if
  used/max >= `budget_stop_share` the client raises `errors.BudgetExhausted` (a run must not report
  success on partial work); a 403 REQUEST_LIMIT_EXCEEDED raises it too. `api_calls` counts HTTP
  calls per endpoint name for run metadata.
- Secrets (client secret, password, private key, access token) never reach logs, exceptions or repr.
- `query_raw_pages` yields REST query pages as the raw response bytes (only the envelope is read);
  `page_records` turns one into its records, cleaned as `clean_record` does, and their JSON texts.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import functools
import io
import json
import logging
import math
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import Operation
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceOperationError,
    SalesforceRefusedRequest,
)
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from ..errors import ApiError, AuthError, BudgetExhausted, certificate_problem, redact, untrusted_certificate
from . import json_records
from .prefetch import RequestingAhead

log = logging.getLogger("sfxero.salesforce")

SYSTEM = "Salesforce"
COLLECTION_LIMIT = 200  # sObject Collections accept at most 200 records per call (doc §3.2)
COMPOSITE_BATCH_LIMIT = 25  # subrequests per /composite/batch (doc §3.3)
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
_FROM = re.compile(r"\bFROM\s+([A-Za-z_][A-Za-z0-9_]*)", re.I)
_TRANSIENT_CODES = {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION", "QUERY_TIMEOUT"}
# A query page is `{<scalar members>, "records": [...], <scalar members>}`: the envelope around the
# array is short and flat, so these two patterns split a page without parsing its records.
_SCALAR = r'"[A-Za-z]+"\s*:\s*(?:"[^"\\]*"|true|false|null|-?\d+)'
_PAGE_HEAD = re.compile(rf'\{{\s*((?:{_SCALAR}\s*,\s*)*)"records"\s*:\s*(?=\[)'.encode())
_PAGE_TAIL = re.compile(rf'\]\s*((?:,\s*{_SCALAR}\s*)*)\}}\s*$'.encode())
_MISSING = object()
#: The settings each OAuth grant reads: what a refused grant tells the user to check.
_GRANT_VARIABLES = {
    "JWT bearer": ("SALESFORCE_CLIENT_ID", "SALESFORCE_USERNAME", "SALESFORCE_PRIVATE_KEY_FILE"),
    "username-password": ("SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET", "SALESFORCE_USERNAME",
                          "SALESFORCE_PASSWORD"),
    "client-credentials": ("SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET"),
}


_request_sent = threading.local()  # .callback: called in this thread once a request is on the wire


class _SignallingHTTPConnection(urllib3.connection.HTTPConnection):
    def getresponse(self, *args, **kwargs):
        callback = getattr(_request_sent, "callback", None)
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
    sends, over connections that tell `_request_sent` when a request has gone out."""

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


def _error_code(exc: SalesforceError) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode") or content[0].get("statusCode") or "")
    if isinstance(content, dict):
        return str(content.get("errorCode") or "")
    return ""


def _error_message(exc: SalesforceError) -> str:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("message", ""))
    return str(content)[:300] if content else ""


def _transient(exc: BaseException) -> bool:
    if certificate_problem(exc):  # requests reports it as a ConnectionError; it never heals
        return False
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return True
    if isinstance(exc, SalesforceGeneralError) and getattr(exc, "status", 0) >= 500:
        return True
    if isinstance(exc, SalesforceMalformedRequest) and _error_code(exc) in _TRANSIENT_CODES:
        return True
    return False


def clean_record(rec: dict) -> dict:
    """Drop REST `attributes` (also inside nested relationship records)."""
    out = {}
    for k, v in rec.items():
        if k == "attributes":
            continue
        if isinstance(v, dict) and "attributes" in v:
            v = clean_record(v)
        out[k] = v
    return out


def _body(response: requests.Response) -> bytes:
    """A streamed response's body in one read. `.content` reads a 2 MB page 10 KB at a time through
    three layers of Python, twice the CPU, all of it holding the interpreter lock the loader needs;
    a broken read raises what `.content` raises (a transient error, retried). Read to its end, the
    connection goes back to the pool."""
    try:
        return response.raw.read(decode_content=True)
    except urllib3.exceptions.HTTPError as exc:
        response.close()
        raise requests.ConnectionError(f"reading the response body failed: {type(exc).__name__}") from None


def split_query_page(body: bytes) -> tuple[dict, bytes | None]:
    """A REST query page -> (its envelope without records, the `records` array bytes).

    Only the short envelope is parsed. A body of another shape comes back fully parsed, records
    (as dicts) inside the envelope and None for the array."""
    head = _PAGE_HEAD.match(body)
    # The envelope's tail is a few short members: look for it near the end only.
    tail = _PAGE_TAIL.search(body, max(head.end(), len(body) - 4096)) if head else None
    if head is None or tail is None:
        return json.loads(body), None
    members = [m.strip(b" \t\r\n,") for m in (head.group(1), tail.group(1))]
    envelope = json.loads(b"{" + b",".join(m for m in members if m) + b"}")
    return envelope, body[head.end():tail.start() + 1]


def page_records(body: bytes) -> tuple[list[dict], list[str]]:
    """A REST query page's records, each exactly `clean_record` of it, and each one's JSON text.

    A record's own `attributes` is dropped in place; the whole `clean_record` runs only when the page
    holds more of them than records (a relationship record or a subquery carries its own)."""
    records = json_records.loads(body).get("records") or []
    own = sum(1 for r in records if r.__class__ is dict and r.pop("attributes", _MISSING) is not _MISSING)
    if body.count(b'"attributes"') != own:
        records = [clean_record(r) if isinstance(r, dict) else r for r in records]
    return records, json_records.record_texts(records)


def parse_bulk_csv(text: str) -> list[dict]:
    """Bulk 2.0 CSV -> dicts: values stay strings, empty -> None; `Account.Name` nests like REST."""
    reader = csv.reader(io.StringIO(text.replace("\x00", "")))
    try:
        header = next(reader)
    except StopIteration:
        return []
    nested = [(h.split(".") if "." in h else None) for h in header]
    rows = []
    for values in reader:
        rec: dict[str, Any] = {}
        for h, path, v in zip(header, nested, values):
            v = v if v != "" else None
            if path is None:
                rec[h] = v
                continue
            node = rec
            for part in path[:-1]:
                node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
            node[path[-1]] = v
        for h, path in zip(header, nested):
            if path and isinstance(rec.get(path[0]), dict) and all(x is None for x in _leaves(rec[path[0]])):
                rec[path[0]] = None
        rows.append(rec)
    return rows


def _leaves(d: dict) -> Iterator[Any]:
    for v in d.values():
        if isinstance(v, dict):
            yield from _leaves(v)
        else:
            yield v


def _csv_cell(v: Any) -> str:
    if v is None:
        return "#N/A"  # Bulk ingest: an empty cell leaves the field unchanged; #N/A sets null (doc §4.1)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Settings:
    """Resolved connection settings (EnvVars already read). Secrets are kept out of repr."""

    login_url: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    private_key_file: str | None = None
    api_version: str = "59.0"
    ca_bundle: str | None = None
    timeout_s: float = 60
    max_retries: int = 5
    budget_stop_share: float = 0.9
    bulk_threshold: int = 50_000
    retry_backoff_s: float = 0.5


class SalesforceClient:
    """A live connection: authenticate lazily, call, retry, pace. Use as a context manager."""

    def __init__(self, config: Settings) -> None:
        self._cfg = config
        self.api_calls: collections.Counter[str] = collections.Counter()
        self.api_usage: tuple[int, int] | None = None
        self._session = requests.Session()
        adapter = _Adapter(float(config.timeout_s), trust_context(config.ca_bundle))
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.hooks["response"].append(self._on_response)
        self._sf: Salesforce | None = None
        self._token: str | None = None
        self._backoff = float(config.retry_backoff_s)

    # -- plumbing --------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"SalesforceClient(login_url={self._cfg.login_url!r}, api_usage={self.api_usage})"

    def __enter__(self) -> "SalesforceClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    def _secrets(self) -> list[str | None]:
        return [self._cfg.client_secret, self._cfg.password, self._token]

    def _on_response(self, response: requests.Response, *args, **kwargs) -> None:
        self.api_calls[endpoint_name(response.request.method or "", response.url)] += 1
        m = _USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if m:
            self.api_usage = (int(m.group(1)), int(m.group(2)))

    def _check_budget(self) -> None:
        if self.api_usage and self.api_usage[1]:
            used, limit = self.api_usage
            if used / limit >= self._cfg.budget_stop_share:
                raise BudgetExhausted(SYSTEM, used, limit, f"stopped at the configured {self._cfg.budget_stop_share:.0%} "
                                      "of the daily API request limit; the rest continues in the next run")

    def _grant(self) -> tuple[str, dict, tuple[str, str] | None]:
        cfg = self._cfg
        if cfg.private_key_file and cfg.username:
            try:
                key = Path(cfg.private_key_file).read_bytes()
            except OSError as exc:
                raise AuthError(SYSTEM, f"cannot read SALESFORCE_PRIVATE_KEY_FILE ({exc.strerror})") from None
            login = cfg.login_url.rstrip("/")
            aud = login if not re.search(r"//(login|test)\.salesforce\.com", login) else login
            claims = {"iss": cfg.client_id, "sub": cfg.username, "aud": aud, "exp": int(time.time()) + 180}
            try:
                assertion = jwt.encode(claims, key, algorithm="RS256")
            except (ValueError, TypeError) as exc:
                raise AuthError(SYSTEM, f"the private key file is not a usable RSA key ({type(exc).__name__})") from None
            return "JWT bearer", {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}, None
        if cfg.username and cfg.password:
            return "username-password", {"grant_type": "password", "client_id": cfg.client_id,
                                         "client_secret": cfg.client_secret or "", "username": cfg.username,
                                         "password": cfg.password}, None
        return "client-credentials", {"grant_type": "client_credentials"}, (cfg.client_id, cfg.client_secret or "")

    def _authenticate(self) -> Salesforce:
        cfg = self._cfg
        grant, data, basic = self._grant()
        url = cfg.login_url.rstrip("/") + "/services/oauth2/token"
        response = None
        for attempt in self._retrying():
            with attempt:
                response = self._session.post(url, data=data, auth=basic)
                if response.status_code >= 500:
                    raise SalesforceGeneralError(url, response.status_code, "token", response.text[:200])
        assert response is not None
        if response.status_code != 200:
            try:
                body = response.json()
                detail = f"{body.get('error', 'error')}: {body.get('error_description', '')}"
            except ValueError:
                detail = f"HTTP {response.status_code}"
            who = f" for user {cfg.username}" if cfg.username and grant != "client-credentials" else ""
            raise AuthError(SYSTEM, redact(f"{grant} grant{who} refused ({detail})", self._secrets()),
                            _GRANT_VARIABLES[grant])
        body = response.json()
        self._token = body["access_token"]
        self._sf = Salesforce(instance_url=body["instance_url"], session_id=self._token, session=self._session,
                              version=cfg.api_version, object_pairs_hook=dict)
        log.info("Salesforce session opened (%s grant) on %s", grant, body["instance_url"])
        return self._sf

    def _retrying(self) -> Retrying:
        return Retrying(
            retry=retry_if_exception(_transient),
            wait=wait_random_exponential(multiplier=self._backoff, max=max(self._backoff * 60, 1)),
            stop=stop_after_attempt(int(self._cfg.max_retries) + 1),
            reraise=True,
            before_sleep=lambda rs: log.warning("Salesforce call failed transiently (%s); retry %d of %d",
                                                type(rs.outcome.exception()).__name__ if rs.outcome else "?",
                                                rs.attempt_number, self._cfg.max_retries),
        )

    def _call(self, fn: Callable[[Salesforce], Any], what: str) -> Any:
        """One API request with budget pacing, transient retries and a single re-authentication."""
        self._check_budget()
        reauthenticated = False
        try:
            while True:
                sf = self._sf or self._authenticate()
                try:
                    for attempt in self._retrying():
                        with attempt:
                            result = fn(sf)
                    return result
                except SalesforceExpiredSession:
                    if reauthenticated:
                        raise AuthError(SYSTEM, "the session was refused again right after re-authenticating") from None
                    reauthenticated = True
                    log.info("Salesforce session expired during %s; re-authenticating", what)
                    self._sf = None
                    self._authenticate()
        except SalesforceRefusedRequest as exc:
            if _error_code(exc) == "REQUEST_LIMIT_EXCEEDED":
                used, limit = self.api_usage or (None, None)
                raise BudgetExhausted(SYSTEM, used, limit, "Salesforce refused the request: REQUEST_LIMIT_EXCEEDED "
                                      "(daily API request limit reached)") from None
            raise self._api_error(exc, what) from None
        except SalesforceError as exc:
            raise self._api_error(exc, what) from None
        except SalesforceOperationError as exc:
            raise ApiError(SYSTEM, what, None, "JOB_FAILED", redact(str(exc)[:300], self._secrets()),
                           transient=False) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            problem = certificate_problem(exc)
            if problem:
                raise untrusted_certificate(getattr(exc.request, "url", None) or self._cfg.login_url, problem) from None
            raise ApiError(SYSTEM, what, None, type(exc).__name__, "no response after retries") from None

    def _api_error(self, exc: SalesforceError, what: str) -> ApiError:
        return ApiError(SYSTEM, what, getattr(exc, "status", None), _error_code(exc) or type(exc).__name__,
                        redact(_error_message(exc), self._secrets()), transient=True if _transient(exc) else None)

    def _bulk(self, sf: Salesforce, sobject: str):
        # `sf.bulk2` snapshots the session id when accessed: take it fresh every call (doc §8.5).
        return getattr(sf.bulk2, sobject)._client

    # -- reads -----------------------------------------------------------------------------------------
    def describe(self, sobject: str) -> dict:
        return self._call(lambda sf: getattr(sf, sobject).describe(), f"describe {sobject}")

    def describe_global(self) -> dict:
        return self._call(lambda sf: sf.describe(), "describeGlobal")

    def limits(self) -> dict:
        return self._call(lambda sf: sf.limits(), "limits")

    def day_calls_left(self, *, probe: bool = True) -> int | None:
        """Calls this client may still make today before `_check_budget` stops it (the daily API
        request allocation, `Sforce-Limit-Info` / `/limits`, up to `budget_stop_share`). Unknown before
        the first answer; `probe` reads `/limits` then (one call). None when still unknown."""
        if self.api_usage is None and probe:
            try:
                daily = (self.limits().get("DailyApiRequests") or {})
            except BudgetExhausted:
                return 0
            if self.api_usage is None and daily.get("Max"):
                self.api_usage = (int(daily["Max"]) - int(daily.get("Remaining", 0)), int(daily["Max"]))
        if not self.api_usage or not self.api_usage[1]:
            return None
        used, limit = self.api_usage
        return max(0, math.ceil(self._cfg.budget_stop_share * limit) - used)

    def count(self, soql: str) -> int:
        return int(self._call(lambda sf: sf.query(soql), "query")["totalSize"])

    def query_pages(self, soql: str, *, include_deleted: bool = False, batch_size: int = 2000) -> Iterator[list[dict]]:
        """REST query/queryAll, one list per page as it arrives (empty pages are not yielded)."""
        headers = {"Sforce-Query-Options": f"batchSize={int(batch_size)}"}
        op = "queryAll" if include_deleted else "query"
        result = self._call(lambda sf: sf.query(soql, include_deleted=include_deleted, headers=headers), op)
        while True:
            records = result.get("records") or []
            if records:
                yield [clean_record(r) for r in records]
            if result.get("done", True) or not result.get("nextRecordsUrl"):
                return
            next_url = result["nextRecordsUrl"]
            result = self._call(lambda sf: sf.query_more(next_url, identifier_is_url=True,
                                                          include_deleted=include_deleted, headers=headers), "queryMore")

    def query_raw_pages(self, soql: str, *, include_deleted: bool = False, batch_size: int = 2000) -> Iterator[bytes]:
        """`query_pages` without the parse: each page's raw response body. Turn a page into records
        with `page_records`.

        Same calls, retries, re-authentication, budget and `api_calls` as `query_pages`; only the
        envelope is read (`split_query_page`) to follow `nextRecordsUrl`. The request for the next
        page goes out (from a helper thread, which then only waits for its headers) before this
        page is handed over, so Salesforce prepares it while the caller loads this one; the body
        is read by the caller's thread. A reader thread would fight the loader for the interpreter
        lock on each of the body's ~130 TLS records, which made the page's transfer four times
        slower than the server. One request is in flight at a time."""
        headers = {"Sforce-Query-Options": f"batchSize={int(batch_size)}"}
        op = "queryAll" if include_deleted else "query"

        def first(sf: Salesforce) -> requests.Response:
            return sf._call_salesforce("GET", sf.base_url + f"{op}/", name="query", params={"q": soql},
                                       headers=headers, stream=True)

        def more(next_url: str) -> Callable[[Salesforce], requests.Response]:
            # As simple-salesforce's query_more(identifier_is_url=True) builds it.
            return lambda sf: sf._call_salesforce("GET", f"https://{sf.sf_instance}{next_url}", name="query_more",
                                                  headers=headers, stream=True)

        ahead = ThreadPoolExecutor(1, thread_name_prefix="sfxero-query")

        def send(request: Callable[[Salesforce], requests.Response], what: str) -> Future:
            # Hand over once the request is on the wire: until then the helper needs the interpreter
            # lock, and the caller's next step (parsing a page, one long C call) would keep it
            # from the helper. Waiting only for the helper to start, two pages in five went out late.
            sent = threading.Event()

            def call() -> requests.Response:
                _request_sent.callback = sent.set
                try:
                    return self._call(request, what)
                finally:
                    _request_sent.callback = None
                    sent.set()  # also when it failed before sending

            pending = ahead.submit(call)
            sent.wait()
            return pending

        try:
            request, what = first, op
            pending = send(request, what)
            while True:
                body = self._read_body(pending.result(), request, what)
                envelope, records = split_query_page(body)
                done = envelope.get("done", True) or not envelope.get("nextRecordsUrl")
                if not done:
                    request, what = more(envelope["nextRecordsUrl"]), "queryMore"
                    pending = send(request, what)
                if records is None or records.strip() != b"[]":  # like query_pages: no empty pages
                    yield body
                if done:
                    return
        finally:
            # A caller that stops early leaves at most one response unread; its connection is dropped.
            ahead.shutdown(wait=False, cancel_futures=True)

    def _read_body(self, response: requests.Response, request: Callable[[Salesforce], requests.Response],
                   what: str) -> bytes:
        """The body of a streamed response; if reading it breaks, the same request again (retried)."""
        try:
            return _body(response)
        except requests.ConnectionError:
            log.info("Salesforce %s: the response body broke off; requesting the page again", what)
            return self._call(lambda sf: _body(request(sf)), what)

    def bulk_query_pages(self, soql: str, *, include_deleted: bool = False,
                         max_records: int = 50_000) -> Iterator[list[dict]]:
        """Bulk API 2.0 query job; each CSV result page parsed as it arrives (values are strings)."""
        m = _FROM.search(soql)
        if not m:
            raise ApiError(SYSTEM, "bulk2/query", None, "MALFORMED_QUERY", "no FROM clause in the query",
                           transient=False)
        sobject = m.group(1)
        op = Operation.query_all if include_deleted else Operation.query
        job = self._call(lambda sf: self._bulk(sf, sobject).create_job(op, soql), "bulk2/query")
        job_id = job["id"]
        self._wait_job(sobject, job_id, is_query=True)
        locator = ""
        while True:
            page = self._call(lambda sf: self._bulk(sf, sobject).get_query_results(job_id, locator, max_records),
                              "bulk2/query results")
            rows = parse_bulk_csv(page["records"])
            if rows:
                yield rows
            locator = page["locator"]
            if not locator:
                return

    def _wait_job(self, sobject: str, job_id: str, *, is_query: bool) -> dict:
        delay = 0.05
        deadline = time.monotonic() + 24 * 3600
        while time.monotonic() < deadline:
            info = self._call(lambda sf: self._bulk(sf, sobject).get_job(job_id, is_query), "bulk2 job")
            state = info.get("state")
            if state == "JobComplete":
                return info
            if state in ("Failed", "Aborted"):
                raise ApiError(SYSTEM, "bulk2 job", None, state.upper(),
                               redact(str(info.get("errorMessage") or state), self._secrets()), transient=False)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        raise ApiError(SYSTEM, "bulk2 job", None, "TIMEOUT", f"job {job_id} did not finish within 24 hours")

    def query_pages_auto(self, sobject: str, soql: str, *, include_deleted: bool = False,
                         expected_rows: int | None = None, raw: bool = False) -> Iterator[list[dict] | bytes]:
        """REST for small reads, Bulk 2.0 when the read is expected to reach `bulk_threshold` rows.

        `raw`: REST pages come as `query_raw_pages` bodies (bytes); Bulk pages stay parsed lists."""
        if expected_rows is None:
            count_soql = re.sub(r"(?is)^\s*select\s+.+?\s+from\s+", "SELECT COUNT() FROM ", soql, count=1)
            count_soql = re.sub(r"(?is)\s+order\s+by\s+.+?(?=\s+limit\s|\s+offset\s|$)", "", count_soql)
            expected_rows = self._call(lambda sf: sf.query(count_soql, include_deleted=include_deleted),
                                       "queryAll" if include_deleted else "query")["totalSize"]
        # Bulk 2.0 rejects OFFSET and aggregates: those always go through REST.
        if expected_rows >= self._cfg.bulk_threshold and not re.search(r"(?i)\boffset\b|\bcount\s*\(", soql):
            return self.bulk_query_pages(soql, include_deleted=include_deleted)
        if raw:
            return RequestingAhead(self.query_raw_pages(soql, include_deleted=include_deleted))
        return self.query_pages(soql, include_deleted=include_deleted)

    def composite_batch(self, subrequests: list[tuple[str, str]], *, halt_on_error: bool = False) -> list[dict]:
        """Up to 25 independent (method, url relative to `/services/data/vNN.N/`) GETs in ONE
        `/composite/batch` call (one API request against the daily limit however many it carries).
        Returns `{"statusCode", "result"}` per subrequest, in order; a failed subrequest fails alone."""
        if not 0 < len(subrequests) <= COMPOSITE_BATCH_LIMIT:
            raise ValueError(f"composite/batch takes 1 to {COMPOSITE_BATCH_LIMIT} subrequests, not {len(subrequests)}")
        body = {"haltOnError": halt_on_error, "batchRequests": [
            {"method": method, "url": f"v{self._cfg.api_version}/{url.lstrip('/')}"} for method, url in subrequests]}
        return self._call(lambda sf: sf.restful("composite/batch", method="POST", json=body),
                          "composite/batch")["results"]

    def updated(self, sobject: str, start: dt.datetime, end: dt.datetime) -> list[str]:
        return self._call(lambda sf: getattr(sf, sobject).updated(_utc(start), _utc(end)), "updated")["ids"]

    def deleted(self, sobject: str, start: dt.datetime, end: dt.datetime) -> list[dict]:
        return self._call(lambda sf: getattr(sf, sobject).deleted(_utc(start), _utc(end)),
                          "deleted")["deletedRecords"]

    # -- writes ----------------------------------------------------------------------------------------
    def create_collection(self, records: list[dict], all_or_none: bool = False, *,
                          sobject: str | None = None) -> list[dict]:
        items = [self._typed(r, sobject) for r in records]
        return self._collection("POST", "composite/sobjects", items, all_or_none, created=True)

    def update_collection(self, records: list[dict], all_or_none: bool = False, *,
                          sobject: str | None = None) -> list[dict]:
        items = [self._typed(r, sobject) for r in records]
        return self._collection("PATCH", "composite/sobjects", items, all_or_none, created=False)

    def upsert_collection(self, sobject: str, external_id_field: str, records: list[dict],
                          all_or_none: bool = False) -> list[dict]:
        items = [self._typed(r, sobject) for r in records]
        return self._collection("PATCH", f"composite/sobjects/{sobject}/{external_id_field}", items, all_or_none,
                                created=None)

    def delete_collection(self, ids: list[str], all_or_none: bool = False) -> list[dict]:
        """DELETE composite/sobjects?ids=… in chunks of 200: one result per id, in order."""
        results: list[dict] = []
        for start in range(0, len(ids), COLLECTION_LIMIT):
            chunk = ids[start:start + COLLECTION_LIMIT]
            params = {"ids": ",".join(chunk), "allOrNone": str(all_or_none).lower()}
            raw = self._call(lambda sf: sf.restful("composite/sobjects", method="DELETE", params=params),
                             "composite/sobjects")
            results.extend({"success": bool(r.get("success")), "id": r.get("id"), "created": False,
                            "errors": r.get("errors") or []} for r in raw)
        return results

    @staticmethod
    def _typed(record: dict, sobject: str | None) -> dict:
        if "attributes" in record:
            return record
        if not sobject:
            raise ValueError("collection records need attributes.type or the sobject argument")
        return {"attributes": {"type": sobject}, **record}

    def _collection(self, method: str, path: str, items: list[dict], all_or_none: bool,
                    created: bool | None) -> list[dict]:
        results: list[dict] = []
        for start in range(0, len(items), COLLECTION_LIMIT):
            chunk = items[start:start + COLLECTION_LIMIT]
            results.extend(self._collection_chunk(method, path, chunk, all_or_none, created))
        return results

    def _collection_chunk(self, method, path, chunk, all_or_none, created) -> list[dict]:
        out: list[dict | None] = [None] * len(chunk)
        pending = list(range(len(chunk)))
        for attempt in range(int(self._cfg.max_retries) + 1):
            sub = [chunk[i] for i in pending]
            raw = self._call(lambda sf: sf.restful(path, method=method,
                                                   json={"allOrNone": all_or_none, "records": sub}), path)
            locked = []
            for i, res in zip(pending, raw):
                errors = res.get("errors") or []
                if not res.get("success") and any(e.get("statusCode") == "UNABLE_TO_LOCK_ROW" for e in errors):
                    locked.append(i)
                out[i] = {"success": bool(res.get("success")), "id": res.get("id"),
                          "created": res.get("created", created if res.get("success") else False) or False,
                          "errors": errors}
            if not locked or attempt == self._cfg.max_retries:
                break
            # Row locks are transient (doc §3.4): resubmit only what was locked (the whole chunk under allOrNone).
            pending = list(range(len(chunk))) if all_or_none else locked
            time.sleep(self._backoff * (2 ** attempt) * random.uniform(0.5, 1.0))
        return [r for r in out if r is not None]

    def bulk_upsert(self, sobject: str, external_id_field: str, records: list[dict]) -> list[dict]:
        """Bulk 2.0 ingest upsert; per-record results (order: successes then failures)."""
        if not records:
            return []
        header: list[str] = []
        for r in records:
            for k in r:
                if k not in header and k != "attributes":
                    header.append(k)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        for r in records:
            writer.writerow([_csv_cell(r.get(h)) if h in r else "" for h in header])
        data = buf.getvalue()
        job = self._call(lambda sf: self._bulk(sf, sobject).create_job(Operation.upsert,
                                                                       external_id_field=external_id_field),
                         "bulk2/ingest")
        job_id = job["id"]
        self._call(lambda sf: self._bulk(sf, sobject).upload_job_data(job_id, data), "bulk2/ingest upload")
        self._call(lambda sf: self._bulk(sf, sobject).close_job(job_id), "bulk2/ingest close")
        self._wait_job(sobject, job_id, is_query=False)
        ok = self._call(lambda sf: self._bulk(sf, sobject).get_ingest_results(job_id, "successfulResults"),
                        "bulk2/ingest results")
        failed = self._call(lambda sf: self._bulk(sf, sobject).get_ingest_results(job_id, "failedResults"),
                            "bulk2/ingest results")
        results = []
        for row in csv.DictReader(io.StringIO(ok)):
            results.append({"success": True, "id": row.pop("sf__Id"), "created": row.pop("sf__Created") == "true",
                            "errors": [], "record": row})
        for row in csv.DictReader(io.StringIO(failed)):
            row.pop("sf__Id", None)
            code, _, rest = (row.pop("sf__Error") or "").partition(":")
            message, _, fields = rest.rpartition(":")
            results.append({"success": False, "id": None, "created": False, "record": row,
                            "errors": [{"statusCode": code, "message": message or rest,
                                        "fields": [f for f in fields.replace("--", "").strip().split(",") if f]}]})
        return results
