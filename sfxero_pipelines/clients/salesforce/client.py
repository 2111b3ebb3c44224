"""`SalesforceClient`: the one way production code talks to Salesforce (wraps simple-salesforce 1.12.10).

The client is assembled from the package's modules, each with its own contract: `auth.py` (grants and
the stored connection), `transport.py` (session, trust store, retries, limit headers), `query.py`
(SOQL reads) and `bulk.py` (Bulk API 2.0). What this module adds (what extract and push rely on):
- The session (access token) is shared by every client, run and process through the cache in the
  staging database (`session_cache.py`): one token call per session timeout, not one per asset.
- The `Salesforce` object is built as a direct session (`session_id` + `instance_url`), so
  simple-salesforce never refreshes on its own (its refresh drops custom headers and SFType's can loop
  forever). On `SalesforceExpiredSession` we authenticate once more, rebuild it and retry the same
  request: a query cursor survives, so no record is lost or repeated.
- Clients of one process with the same settings share one session (`auth.shared_session`): a cycle signs
  in once, not once per asset. A refused one is dropped for all and a new one opened.
- Every request (`_call`) first checks the API budget, is retried while transient, and API errors
  raise `errors.ApiError` (`transient` says which kind); a 403 REQUEST_LIMIT_EXCEEDED raises
  `errors.BudgetExhausted`; a certificate the trust store refuses is a `ConfigError` naming
  SFXERO_CA_BUNDLE, at once.
- sObject Collections writes go 200 records per call; rows refused with UNABLE_TO_LOCK_ROW are
  resubmitted (only those, or the whole chunk under allOrNone) with backoff.
- Secrets (client secret, password, private key, refresh and access tokens) never reach logs,
  exceptions or repr.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceOperationError,
    SalesforceRefusedRequest,
)

from ...errors import ApiError, AuthError, BudgetExhausted, certificate_problem, redact, untrusted_certificate
from . import auth, session_cache
from .bulk import BulkCalls
from .query import QueryCalls
from .transport import SYSTEM, Transport, error_code, error_message, is_transient, log

COLLECTION_LIMIT = 200  # sObject Collections accept at most 200 records per call (doc §3.2)
COMPOSITE_BATCH_LIMIT = 25  # subrequests per /composite/batch (doc §3.3)
#: `Settings.auth` values: "auto" picks the grant from the credentials set; "connection" uses the
#: connection stored by `sfxero connect salesforce` (refresh-token grant).
AUTH_MODES = ("auto", "connection")


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
    auth: str = "auto"  # one of AUTH_MODES (SALESFORCE_AUTH)
    staging_url: str | None = field(default=None, repr=False)  # where the stored connection and session cache live
    session_timeout_s: float = 7200  # the org's session timeout (Salesforce's default 2 h): how long a session is reused


class SalesforceClient(QueryCalls, BulkCalls):
    """A live connection: authenticate lazily, call, retry, pace. Use as a context manager."""

    def __init__(self, config: Settings) -> None:
        self._cfg = config
        self._transport = Transport(timeout_s=float(config.timeout_s), ca_bundle=config.ca_bundle,
                                    max_retries=int(config.max_retries), backoff_s=float(config.retry_backoff_s),
                                    budget_stop_share=config.budget_stop_share)
        self._session = self._transport.session
        self._connection = self._stored_connection(config)
        self._cache = self._session_cache(config)
        self._sf: Salesforce | None = None
        self._token: str | None = None
        self._backoff = float(config.retry_backoff_s)

    @staticmethod
    def _stored_connection(config: Settings) -> auth.StoredConnection | None:
        if config.auth != "connection":
            return None
        from ...settings import staging_url
        from ..secret_key import token_cipher

        return auth.StoredConnection(config.staging_url or staging_url(), token_cipher)

    def _session_cache(self, config: Settings) -> session_cache.SessionCache | None:
        from ...settings import staging_url
        from ..secret_key import token_cipher

        key = session_cache.identity_key(config.login_url, config.client_id, config.username,
                                         auth.grant_name(config, self._connection))
        return session_cache.session_cache(staging_url=config.staging_url or staging_url(),
                                           staging_named=bool(config.staging_url), key=key,
                                           session_timeout_s=config.session_timeout_s, cipher_factory=token_cipher)

    @property
    def api_calls(self):
        """HTTP calls per endpoint name (run metadata)."""
        return self._transport.api_calls

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """(used, max) of the daily API request limit, from the last `Sforce-Limit-Info`."""
        return self._transport.api_usage

    # -- plumbing --------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"SalesforceClient(login_url={self._cfg.login_url!r}, api_usage={self.api_usage})"

    def __enter__(self) -> "SalesforceClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()
        if self._cache is not None:
            self._cache.close()

    def _secrets(self) -> list[str | None]:
        stored = self._connection.refresh_token if self._connection else None
        return [self._cfg.client_secret, self._cfg.password, self._token, stored]

    def _check_budget(self) -> None:
        self._transport.check_budget()

    def _authenticate(self, rejected: str | None = None) -> Salesforce:
        """A session: the shared cached one (not `rejected`), or a new one from the grant (session_cache.py)."""
        def open_session(conn=None) -> dict:
            return auth.open_session(self._transport, self._cfg, self._connection, self._secrets, conn)

        body = self._cache.session(open_session, rejected) if self._cache is not None else open_session()
        self._token = body["access_token"]
        self._sf = Salesforce(instance_url=body["instance_url"], session_id=self._token, session=self._session,
                              version=self._cfg.api_version, object_pairs_hook=dict)
        return self._sf

    def _retrying(self):
        return self._transport.retrying()

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
                    self._authenticate(rejected=self._token)
        except SalesforceRefusedRequest as exc:
            if error_code(exc) == "REQUEST_LIMIT_EXCEEDED":
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
        return ApiError(SYSTEM, what, getattr(exc, "status", None), error_code(exc) or type(exc).__name__,
                        redact(error_message(exc), self._secrets()), transient=True if is_transient(exc) else None)

    # -- reads -----------------------------------------------------------------------------------------
    def describe(self, sobject: str) -> dict:
        return self._call(lambda sf: getattr(sf, sobject).describe(), f"describe {sobject}")

    def describe_global(self) -> dict:
        return self._call(lambda sf: sf.describe(), "describeGlobal")

    def limits(self) -> dict:
        return self._call(lambda sf: sf.limits(), "limits")

    def day_calls_left(self, *, probe: bool = True) -> int | None:
        """Calls this client may still make today before the budget stop (the daily API request
        allocation, `Sforce-Limit-Info` / `/limits`, up to `budget_stop_share`). Unknown before the first
        answer; `probe` reads `/limits` then (one call). None when still unknown."""
        if self.api_usage is None and probe:
            try:
                daily = (self.limits().get("DailyApiRequests") or {})
            except BudgetExhausted:
                return 0
            if self.api_usage is None and daily.get("Max"):
                self._transport.api_usage = (int(daily["Max"]) - int(daily.get("Remaining", 0)), int(daily["Max"]))
        if not self.api_usage or not self.api_usage[1]:
            return None
        used, limit = self.api_usage
        return max(0, math.ceil(self._cfg.budget_stop_share * limit) - used)

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
