"""`XeroClient`: xero-python 15.2.0 made safe for a sync job.

What it fixes in the SDK, and why:
- One `ApiClient` + one `OAuth2Token` per client: `Configuration` shares state across instances
  (metaclass default), so the token is assigned explicitly and never shared.
- Client-credentials tokens are fetched here (CA-verified POST to `{identity_url}/connect/token`) and
  renewed before expiry: the SDK stores them without `expires_at` and would use an expired one.
  A refresh-token (auth-code) grant is supported too, keeping the rotated refresh token; a stored
  connection (`token_provider`, see `xero_tokens.py`) shares one token across clients and processes.
- urllib3's hidden `Retry.DEFAULT` is switched off: it sleeps on any `Retry-After`, which on a
  daily-limit 429 means hours.
- Pacing instead of discovering limits by 429 (`pacing.py`): a sliding window keeps us under the
  per-minute limit (with headroom), an in-flight count under the concurrent limit, and the
  `X-*-Remaining` headers slow us down when someone else shares the budget; in this process's memory,
  or in Redis (`pacing_url`) so that every worker calling the tenant shares one budget; the daily budget stops at `day_budget_stop_share`
  with `BudgetExhausted`.
- A 429 that still happens (minute/concurrent) waits `Retry-After` and retries; `day` raises
  `BudgetExhausted` (never sleeps for hours). 5xx, 503 and connection errors retry with exponential
  backoff (tenacity); an untrusted certificate or an unreadable CA file is a `ConfigError` at once.
  Writes carry an `Idempotency-Key`, so a retried write is replayed, not repeated.
- Reads use `_preload_content=False` and parse JSON here, so an enum value the SDK does not know
  (a new status) cannot make the SDK drop a page.

Secrets never appear in `repr`, logs or exception messages (`errors.redact`).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import math
import threading
import time
from collections.abc import Iterator

import requests
import tenacity
import urllib3
from xero_python.accounting import AccountingApi
from xero_python.api_client import ApiClient
from xero_python.api_client.configuration import Configuration
from xero_python.api_client.oauth2 import OAuth2Token
from xero_python.exceptions import ApiException

from .. import errors
from .pacing import Pacer, PaceStore, pace_store
from .xero_tokens import StoredTokenProvider, TokenEndpointUnavailable

SYSTEM = "xero"
PAGED = ("Contacts", "Invoices", "CreditNotes", "BankTransactions", "Payments", "Quotes", "PurchaseOrders",
         "Overpayments", "Prepayments", "ManualJournals")
UNPAGED = ("Items", "Accounts", "TaxRates", "Currencies", "Organisation", "BankTransfers", "ContactGroups",
           "TrackingCategories", "Users")
#: GET /Quotes pages by `page` alone, 100 a page; GET /Quotes and /PurchaseOrders take no `where`.
FIXED_PAGE_SIZE = {"Quotes": 100}
NO_WHERE = ("Quotes", "PurchaseOrders")
#: GET /Journals: 100 journals after `offset` (a JournalNumber) per call, no page or pageSize.
JOURNAL_PAGE = 100
_LIST = {"Contacts": "get_contacts", "Invoices": "get_invoices", "CreditNotes": "get_credit_notes",
         "BankTransactions": "get_bank_transactions", "Payments": "get_payments", "Items": "get_items",
         "Accounts": "get_accounts", "TaxRates": "get_tax_rates", "Currencies": "get_currencies",
         "Organisation": "get_organisations", "Quotes": "get_quotes", "PurchaseOrders": "get_purchase_orders",
         "Overpayments": "get_overpayments", "Prepayments": "get_prepayments",
         "ManualJournals": "get_manual_journals", "BankTransfers": "get_bank_transfers",
         "ContactGroups": "get_contact_groups", "TrackingCategories": "get_tracking_categories",
         "Users": "get_users"}
_ONE = {"Contacts": ("get_contact", "contact_id"), "Invoices": ("get_invoice", "invoice_id"),
        "CreditNotes": ("get_credit_note", "credit_note_id"),
        "BankTransactions": ("get_bank_transaction", "bank_transaction_id"),
        "Payments": ("get_payment", "payment_id"), "Items": ("get_item", "item_id"),
        "Accounts": ("get_account", "account_id"), "Quotes": ("get_quote", "quote_id"),
        "PurchaseOrders": ("get_purchase_order", "purchase_order_id"),
        "Overpayments": ("get_overpayment", "overpayment_id"), "Prepayments": ("get_prepayment", "prepayment_id"),
        "ManualJournals": ("get_manual_journal", "manual_journal_id"), "Journals": ("get_journal", "journal_id"),
        "BankTransfers": ("get_bank_transfer", "bank_transfer_id"),
        "ContactGroups": ("get_contact_group", "contact_group_id"),
        "TrackingCategories": ("get_tracking_category", "tracking_category_id"), "Users": ("get_user", "user_id")}
#: Unpaged lists that leave records out unless asked (deleted transfers, archived tracking categories).
_INCLUDE_ALL = {"BankTransfers": {"include_deleted": True}, "TrackingCategories": {"include_archived": True}}
# (PUT method, POST method, SDK body argument name)
_WRITE = {"Contacts": ("create_contacts", "update_or_create_contacts", "contacts"),
          "Invoices": ("create_invoices", "update_or_create_invoices", "invoices"),
          "CreditNotes": ("create_credit_notes", "update_or_create_credit_notes", "credit_notes"),
          "BankTransactions": ("create_bank_transactions", "update_or_create_bank_transactions",
                               "bank_transactions"),
          "Items": ("create_items", "update_or_create_items", "items"),
          "Quotes": ("create_quotes", "update_or_create_quotes", "quotes"),
          "Payments": ("create_payments", "create_payment", None)}
_IMS = ("Contacts", "Invoices", "CreditNotes", "BankTransactions", "Payments", "Items", "Accounts", "Quotes",
        "PurchaseOrders", "Overpayments", "Prepayments", "ManualJournals", "BankTransfers", "Users")
_PLURAL_KEY = {"Organisation": "Organisations"}
_MAX_LIMIT_WAITS = 20
_MAX_RETRY_AFTER_S = 120


class _Transient(Exception):
    """A failure worth retrying (5xx, 503, connection reset, timeout)."""

    def __init__(self, endpoint: str, status: int | None, detail: str) -> None:
        self.endpoint, self.status, self.detail = endpoint, status, detail
        super().__init__(f"{endpoint}: {status} {detail}")


#: Xero's per-app minute across every tenant it reaches, and the calls in flight it allows the app (no limit
#: of its own: each tenant's 5 bound it).
APP_PER_MINUTE = 10_000
_APP_CONCURRENT = 10_000
_pacers: dict[tuple, Pacer] = {}
_pacers_lock = threading.Lock()


def tenant_pacer_key(api_url: str, tenant_id: str) -> str:
    """What one tenant's budget is paced under: each organisation has its own 60/minute and 5 in flight."""
    return f"xero:{api_url}:tenant:{tenant_id}"


def app_pacer_key(api_url: str) -> str:
    """What the app-wide budget is paced under: 10,000/minute shared by all the app's tenants."""
    return f"xero:{api_url}:app"


def shared_pacer(key: str, per_window: int, window_s: float, concurrent: int, *, store: PaceStore,
                 lease_s: float) -> Pacer:
    """This process's one Pacer for `key` (and these settings) in `store`: every client of a tenant, in
    every asset and thread, spends that tenant's budget, and every client of any tenant the app's; with a
    Redis store (`SFXERO_PACING_URL`) so does every process and machine using it (clients/pacing.py)."""
    with _pacers_lock:
        ident = (key, per_window, window_s, concurrent, id(store))
        found = _pacers.get(ident)
        if found is None:
            found = _pacers[ident] = Pacer(per_window, window_s, concurrent, key=key, store=store, lease_s=lease_s)
        return found


def _header(headers, name: str) -> str | None:
    if headers is None:
        return None
    for key, value in (headers.items() if hasattr(headers, "items") else headers):
        if key.lower() == name.lower():
            return value
    return None


class XeroClient:
    """One connection to one Xero organisation. Use as a context manager (closes the HTTP pool)."""

    def __init__(self, *, api_url: str, identity_url: str, client_id: str, client_secret: str,
                 tenant_id: str | None, ca_bundle: str | None, timeout_s: float, max_retries: int,
                 per_minute_limit: int, concurrent_limit: int, day_budget_stop_share: float, day_limit: int,
                 limit_window_s: float, refresh_token: str | None = None, backoff_initial_s: float = 0.5,
                 token_provider: "StoredTokenProvider | None" = None, app_per_minute_limit: int = APP_PER_MINUTE,
                 pacing_url: str | None = None, pacing_namespace: str | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self.identity_url = identity_url.rstrip("/")
        self.tenant_id = tenant_id or ""
        self._client_id, self._client_secret = client_id, client_secret
        self._refresh_token = refresh_token
        self._token_provider = token_provider
        self._verify: bool | str = ca_bundle or True
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.day_limit = day_limit
        self.day_budget_stop_share = day_budget_stop_share
        self.backoff_initial_s = backoff_initial_s
        self.api_calls: collections.Counter[str] = collections.Counter()
        self.limits: dict[str, int | None] = {"min_remaining": None, "day_remaining": None,
                                              "app_min_remaining": None}
        # One pacer per tenant on its own budget, plus the app's shared by all tenants (architecture.md §4.4);
        # in this process's memory unless `pacing_url` names a shared store (clients/pacing.py).
        store = pace_store(pacing_url, pacing_namespace)
        self.pacer = shared_pacer(tenant_pacer_key(self.api_url, self.tenant_id), per_minute_limit, limit_window_s,
                                  concurrent_limit, store=store, lease_s=timeout_s + 30)
        self.app_pacer = shared_pacer(app_pacer_key(self.api_url), app_per_minute_limit, limit_window_s,
                                      _APP_CONCURRENT, store=store, lease_s=timeout_s + 30)
        self._token: dict | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()
        self._http = requests.Session()

        cfg = Configuration()
        # The Configuration metaclass hands out copies of the first instance: set everything explicitly.
        cfg.oauth2_token = OAuth2Token(client_id=client_id, client_secret=client_secret)
        cfg.ssl_ca_cert = ca_bundle
        cfg.verify_ssl = True
        cfg.debug = False
        cfg.connection_pool_maxsize = max(4, concurrent_limit)
        self._api_client = ApiClient(cfg, oauth2_token_getter=self._token_for_sdk,
                                     oauth2_token_saver=lambda token: None)
        pool = self._api_client.rest_client.pool_manager
        pool.clear()
        # urllib3's default Retry sleeps on Retry-After (hours for a daily 429); retries are ours alone.
        pool.connection_pool_kw["retries"] = False
        self._api = AccountingApi(self._api_client, base_url=self.api_url)

    def __repr__(self) -> str:
        return f"XeroClient(api_url={self.api_url!r}, tenant_id={self.tenant_id!r})"

    def __enter__(self) -> "XeroClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._api_client.rest_client.pool_manager.clear()
        self._http.close()
        if self._token_provider is not None:
            self._token_provider.close()

    # -- tokens -----------------------------------------------------------------------------------
    def _secrets(self) -> list[str | None]:
        return [self._client_secret, self._client_id, self._refresh_token, (self._token or {}).get("access_token")]

    def _token_for_sdk(self) -> dict:
        token = self._token or {}
        # Only keys OAuth2Token.update_token accepts; no expires_at, so the SDK never tries to refresh itself.
        return {"access_token": token.get("access_token"), "scope": token.get("scope", ""),
                "expires_in": token.get("expires_in"), "token_type": token.get("token_type", "Bearer")}

    def _ensure_token(self, force: bool = False) -> None:
        with self._token_lock:
            if not force and self._token and time.monotonic() < self._token_expires:
                return
            if self._token_provider is not None:
                self._token_from_provider(force)
                return
            if self._refresh_token:
                form = {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
            else:
                form = {"grant_type": "client_credentials"}
            self.api_calls["token"] += 1
            try:
                resp = self._http.post(f"{self.identity_url}/connect/token", data=form,
                                       auth=(self._client_id, self._client_secret), verify=self._verify,
                                       timeout=self.timeout_s)
            except requests.RequestException as exc:
                problem = errors.certificate_problem(exc)
                if problem:
                    raise errors.untrusted_certificate(self.identity_url, problem) from None
                if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                                    requests.exceptions.InvalidSchema)):
                    raise errors.ConfigError("XERO_IDENTITY_URL", f"'{self.identity_url}' is not a usable URL") \
                        from None
                raise _Transient("token", None, errors.redact(type(exc).__name__ + ": " + str(exc),
                                                              self._secrets())) from None
            if resp.status_code >= 500:
                raise _Transient("token", resp.status_code, "identity server error")
            if resp.status_code != 200:
                try:
                    code = resp.json().get("error", "")
                except ValueError:
                    code = ""
                raise errors.AuthError(SYSTEM, f"token endpoint answered {resp.status_code} {code}".strip()
                                       + (" (refresh token stale or revoked: reconnect the organisation)"
                                          if code == "invalid_grant" else ""),
                                       () if code == "invalid_grant" else ("XERO_CLIENT_ID", "XERO_CLIENT_SECRET"))
            token = resp.json()
            if token.get("refresh_token"):
                self._refresh_token = token["refresh_token"]
            expires_in = float(token.get("expires_in") or 1800)
            # Renew ahead of expiry: a request in flight must not cross the token's end.
            self._token_expires = time.monotonic() + expires_in - min(60.0, expires_in / 4)
            self._token = token

    def _token_from_provider(self, force: bool) -> None:
        rejected = (self._token or {}).get("access_token") if force else None
        calls_before = self._token_provider.token_calls
        try:
            access, usable_s, scope = self._token_provider.access_token(rejected=rejected)
        except TokenEndpointUnavailable as exc:
            raise _Transient("token", exc.status, exc.detail) from None
        finally:
            self.api_calls["token"] += self._token_provider.token_calls - calls_before
        self._token = {"access_token": access, "scope": scope, "token_type": "Bearer", "expires_in": int(usable_s)}
        self._token_expires = time.monotonic() + usable_s

    @property
    def refresh_token(self) -> str | None:
        """The latest (rotated) refresh token, for callers that persist it between runs."""
        return self._refresh_token

    # -- the request loop -------------------------------------------------------------------------
    def _note_limits(self, headers) -> None:
        for key, name in (("min_remaining", "X-MinLimit-Remaining"), ("day_remaining", "X-DayLimit-Remaining"),
                          ("app_min_remaining", "X-AppMinLimit-Remaining")):
            value = _header(headers, name)
            if value is not None and value.strip().lstrip("-").isdigit():
                self.limits[key] = int(value)
        if self.limits["min_remaining"] is not None and self.limits["min_remaining"] <= 0:
            # Someone else spent this tenant's minute: wait out a window rather than collect 429s.
            self.pacer.hold(self.pacer.window_s)
        if self.limits["app_min_remaining"] is not None and self.limits["app_min_remaining"] <= 0:
            # The app's minute is spent for every tenant: all of them wait, not only this one.
            self.app_pacer.hold(self.app_pacer.window_s)

    def _check_budget(self) -> None:
        remaining = self.limits["day_remaining"]
        if remaining is None:
            return
        used = self.day_limit - remaining
        if used >= self.day_budget_stop_share * self.day_limit:
            raise errors.BudgetExhausted(SYSTEM, used, self.day_limit,
                                         f"stopping at {self.day_budget_stop_share:.0%} of the daily limit")

    def day_calls_left(self, *, probe: bool = True) -> int | None:
        """Calls this client may still make today before `_check_budget` stops it: Xero's
        `X-DayLimit-Remaining`, less the share of `day_limit` kept back. Unknown before the first
        answer; `probe` asks for it then with one call (GET Organisation). None when still unknown."""
        if self.limits["day_remaining"] is None and probe:
            try:
                self.get_all("Organisation")
            except errors.BudgetExhausted:
                return 0
        remaining = self.limits["day_remaining"]
        if remaining is None:
            return None
        used = self.day_limit - remaining
        return max(0, min(remaining, math.ceil(self.day_budget_stop_share * self.day_limit) - used))

    def _once(self, label: str, method_name: str, *args, **kwargs) -> tuple[int, bytes, object]:
        """One logical call: waits out minute 429s and renews an expired token, raises _Transient."""
        limit_waits = 0
        reauthed = False
        while True:
            self._check_budget()
            self._ensure_token()
            self.pacer.acquire()
            self.app_pacer.acquire()
            try:
                self.api_calls[label] += 1
                try:
                    resp, status, headers = getattr(self._api, method_name)(
                        self.tenant_id, *args, _preload_content=False, _return_http_data_only=False,
                        _request_timeout=self.timeout_s, **kwargs)
                    body = resp.data
                    resp.release_conn()
                except ApiException as exc:
                    status, headers, body = exc.status, getattr(exc, "headers", None), exc.body or b""
                except (urllib3.exceptions.HTTPError, OSError) as exc:
                    raise _not_transient(exc, self.api_url) or _Transient(label, None, type(exc).__name__) from None
            finally:
                self.app_pacer.release()
                self.pacer.release()
            self._note_limits(headers)
            if 200 <= status < 300:
                return status, body, headers
            if status == 429:
                problem = (_header(headers, "X-Rate-Limit-Problem") or "").lower()
                retry_after = _header(headers, "Retry-After")
                if problem == "day":
                    raise errors.BudgetExhausted(SYSTEM, None, None, "Xero refused the call: daily limit reached"
                                                 + (f", resets in {retry_after}s" if retry_after else ""))
                limit_waits += 1
                wait = float(retry_after) if retry_after and retry_after.replace(".", "").isdigit() else 1.0
                if limit_waits > _MAX_LIMIT_WAITS or wait > _MAX_RETRY_AFTER_S:
                    raise errors.ApiError(SYSTEM, label, 429, problem or "rate-limit",
                                          f"still rate limited after {limit_waits} waits (Retry-After {wait}s)")
                # The app's minute spent holds every tenant; a tenant's own limits only that tenant.
                (self.app_pacer if problem == "appminute" else self.pacer).hold(wait)
                continue
            if status == 401 and not reauthed:
                reauthed = True
                self._ensure_token(force=True)
                continue
            if status >= 500 or status in (0, 408):
                raise _Transient(label, status, _short(body))
            if status == 404:
                return status, body, headers
            raise self._api_error(label, status, body)

    def _api_error(self, label: str, status: int, body: bytes) -> errors.SfxeroError:
        if status == 403 and self._token_provider is not None:
            # A stored (consented) connection refused for one organisation: disconnected from the app in
            # Xero (or its access removed). The other organisations of the same consent keep working.
            return errors.AuthError(SYSTEM, errors.redact(
                f"organisation {self.tenant_id} refused the connection ({label} answered 403): it was "
                "disconnected from the app in Xero; run `sfxero connect xero` to connect it again",
                self._secrets()))
        if status in (401, 403):
            return errors.AuthError(SYSTEM, errors.redact(f"{label} answered {status}: {_short(body)}",
                                                          self._secrets()))
        code, message = "error", _short(body)
        try:
            data = json.loads(body)
            code = data.get("Type") or code
            messages = [ve.get("Message") for el in data.get("Elements") or [] for ve in
                        el.get("ValidationErrors") or []]
            message = "; ".join(m for m in messages if m) or data.get("Message") or message
        except (ValueError, AttributeError):
            pass
        return errors.ApiError(SYSTEM, label, status, code, errors.redact(message, self._secrets()))

    def _call(self, label: str, method_name: str, *args, **kwargs) -> tuple[int, bytes, object]:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=tenacity.wait_exponential_jitter(multiplier=self.backoff_initial_s, max=30, jitter=self.backoff_initial_s),
            retry=tenacity.retry_if_exception_type(_Transient), reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(label, method_name, *args, **kwargs)
        except _Transient as exc:
            raise errors.ApiError(SYSTEM, label, exc.status, "transient",
                                  f"gave up after {self.max_retries + 1} attempts: {exc.detail}", transient=True) from None
        raise AssertionError("unreachable")

    # -- reading ----------------------------------------------------------------------------------
    @staticmethod
    def _ims(value: dt.datetime | None):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        # Xero documents a UTC `yyyy-mm-ddThh:mm:ss`; the SDK sends isoformat() of what it gets.
        return value.replace(microsecond=0)

    def get_page(self, collection: str, page: int, *, page_size: int = 1000, if_modified_since: dt.datetime | None = None,
                 where: str | None = None, order: str | None = None, statuses: list[str] | None = None,
                 include_archived: bool = True, params: dict | None = None) -> bytes:
        """One page of a paged collection as the raw response body (paced, retried and counted like
        every call), for readers that parse it themselves; `iter_pages` is the parsed loop."""
        if collection not in PAGED:
            raise ValueError(f"{collection} is not a paged collection (use get_all); paged: {', '.join(PAGED)}")
        kwargs = dict(params or {})
        if if_modified_since is not None:
            kwargs["if_modified_since"] = self._ims(if_modified_since)
        if where:
            if collection in NO_WHERE:
                raise ValueError(f"GET {collection} takes no where filter")
            kwargs["where"] = where
        if order:
            kwargs["order"] = order
        if collection not in FIXED_PAGE_SIZE:
            kwargs["page_size"] = page_size
        if statuses:
            if collection != "Invoices":
                raise ValueError("statuses is only supported for Invoices")
            kwargs["statuses"] = list(statuses)
        if collection in ("Contacts", "Invoices"):
            kwargs["include_archived"] = include_archived
        _status, body, _headers = self._call(f"GET {collection}", _LIST[collection], page=page, **kwargs)
        return body

    def iter_pages(self, collection: str, *, if_modified_since: dt.datetime | None = None, where: str | None = None,
                   order: str | None = None, statuses: list[str] | None = None, include_archived: bool = True,
                   page_size: int = 1000, params: dict | None = None) -> Iterator[list[dict]]:
        """Yield each page of a paged collection (raw wire dicts) as it arrives."""
        page_size = FIXED_PAGE_SIZE.get(collection, page_size)
        page = 1
        while True:
            data = json.loads(self.get_page(collection, page, page_size=page_size, if_modified_since=if_modified_since,
                                            where=where, order=order, statuses=statuses,
                                            include_archived=include_archived, params=params))
            rows = data.get(collection) or []
            yield rows
            if last_page(data.get("pagination") or {}, page, len(rows), page_size):
                return
            page += 1

    def get_all(self, collection: str, *, if_modified_since: dt.datetime | None = None, where: str | None = None,
                order: str | None = None) -> list[dict]:
        """An unpaged collection in one call (Items, Accounts, TaxRates, Currencies, Organisation)."""
        if collection not in UNPAGED:
            raise ValueError(f"{collection} is paged (use iter_pages); unpaged: {', '.join(UNPAGED)}")
        kwargs: dict = dict(_INCLUDE_ALL.get(collection, {}))
        if where and collection != "Organisation":
            kwargs["where"] = where
        if order and collection != "Organisation":
            kwargs["order"] = order
        if if_modified_since is not None and collection in _IMS:
            kwargs["if_modified_since"] = self._ims(if_modified_since)
        _status, body, _headers = self._call(f"GET {collection}", _LIST[collection], **kwargs)
        return json.loads(body).get(_PLURAL_KEY.get(collection, collection)) or []

    def journals_after(self, offset: int) -> list[dict]:
        """Up to `JOURNAL_PAGE` journals with JournalNumber > `offset`, in number order (one call)."""
        _status, body, _headers = self._call("GET Journals", "get_journals", offset=offset)
        return json.loads(body).get("Journals") or []

    def get_by_id(self, collection: str, id: str) -> dict | None:  # noqa: A002 - the API's own word
        if collection not in _ONE:
            raise ValueError(f"{collection} cannot be fetched by id")
        method, arg = _ONE[collection]
        status, body, _headers = self._call(f"GET {collection}/{{id}}", method, **{arg: id})
        if status == 404:
            return None
        rows = json.loads(body).get(collection) or []
        return rows[0] if rows else None

    def connections(self) -> list[dict]:
        """The tenants this token can reach (GET {identity_url}/connections)."""
        self._ensure_token()
        for attempt in range(2):
            self.api_calls["GET connections"] += 1
            resp = self._http.get(f"{self.identity_url}/connections", verify=self._verify, timeout=self.timeout_s,
                                  headers={"Authorization": f"Bearer {self._token['access_token']}",
                                           "Accept": "application/json"})
            # As every other call: a token that expired between its check and its use is renewed once.
            if resp.status_code != 401 or attempt:
                break
            self._ensure_token(force=True)
        if resp.status_code != 200:
            raise self._api_error("GET connections", resp.status_code, resp.content)
        return resp.json()

    # -- writing ----------------------------------------------------------------------------------
    def write(self, collection: str, records: list[dict], *, method: str = "POST", idempotency_key: str,
              summarize_errors: bool = False, unitdp: int | None = None) -> list[dict]:
        """One write request (the caller batches ≤50). Returns the per-element results with
        `StatusAttributeString`, `ValidationErrors` and the IDs Xero assigned. `unitdp=4`: unit
        amounts kept to 4 dp instead of 2 (documents with lines and Items only)."""
        if collection not in _WRITE:
            raise ValueError(f"{collection} cannot be written")
        if not idempotency_key:
            raise ValueError("idempotency_key is required: every write must be safe to retry")
        method = method.upper()
        put_name, post_name, arg = _WRITE[collection]
        label = f"{method} {collection}"
        if collection == "Payments" and method == "POST":
            if len(records) != 1:
                raise ValueError("POST /Payments creates exactly one payment; use method='PUT' for several")
            _status, body, _headers = self._call(label, post_name, payment=records[0],
                                                 idempotency_key=idempotency_key)
        else:
            name = put_name if method == "PUT" else post_name
            body_arg = arg or "payments"
            extra = {"unitdp": unitdp} if unitdp is not None else {}
            _status, body, _headers = self._call(label, name, **{body_arg: {collection: list(records)}},
                                                 summarize_errors=summarize_errors, idempotency_key=idempotency_key,
                                                 **extra)
        return json.loads(body).get(collection) or []

    def delete_item(self, item_id: str) -> bool:
        """`DELETE /Items/{ItemID}`: True when Xero deleted it, False when it was already gone (404), so a
        delete retried after a lost answer is safe without an idempotency key (the SDK sends none)."""
        status, _body, _headers = self._call("DELETE Items", "delete_item", item_id)
        return status != 404

    def add_to_contact_group(self, group_id: str, contact_ids: list[str], *, idempotency_key: str) -> list[dict]:
        """`PUT /ContactGroups/{id}/Contacts`: adding a member twice leaves one, so a retry is safe."""
        label = "PUT ContactGroups/{id}/Contacts"
        status, body, _headers = self._call(label, "create_contact_group_contacts", contact_group_id=group_id,
                                            contacts={"Contacts": [{"ContactID": c} for c in contact_ids]},
                                            idempotency_key=idempotency_key)
        if status == 404:
            raise errors.ApiError(SYSTEM, label, 404, "not_found", "Xero has no such contact group (deleted since "
                                                                   "the plan?)")
        return json.loads(body).get("Contacts") or []

    def remove_from_contact_group(self, group_id: str, contact_id: str) -> bool:
        """`DELETE /ContactGroups/{id}/Contacts/{ContactID}`: False when it was not a member (404), the
        outcome wanted, so a retried removal is safe."""
        status, _body, _headers = self._call("DELETE ContactGroups/{id}/Contacts/{id}", "delete_contact_group_contact",
                                             contact_group_id=group_id, contact_id=contact_id)
        return status != 404

    def allocate_credit_note(self, credit_note_id: str, allocations: list[dict], *, idempotency_key: str) -> list[dict]:
        _status, body, _headers = self._call("PUT CreditNotes/{id}/Allocations", "create_credit_note_allocation",
                                             credit_note_id=credit_note_id,
                                             allocations={"Allocations": list(allocations)},
                                             summarize_errors=False, idempotency_key=idempotency_key)
        return json.loads(body).get("Allocations") or []


def _not_transient(exc: BaseException, url: str) -> errors.ConfigError | None:
    """The configuration error behind a failed request, when it is one: no retry can fix a
    certificate the trust store refuses or a CA file that cannot be read."""
    problem = errors.certificate_problem(exc)
    if problem:
        return errors.untrusted_certificate(url, problem)
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
        return errors.ConfigError("SFXERO_CA_BUNDLE", f"cannot be read ({exc.strerror})")
    return None


def last_page(pagination: dict, page: int, rows: int, page_size: int) -> bool:
    """Xero's paging stop rule: a short page, or the envelope's last page."""
    return rows < page_size or (pagination.get("pageCount") is not None and page >= pagination["pageCount"])


def _short(body) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else str(body or "")
    return text[:300]
