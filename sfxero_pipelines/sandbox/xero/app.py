"""The Xero emulator: identity, tenancy, rate limits, faults, idempotency and the Accounting API routes.

Request pipeline for `/api.xro/2.0/*` (the order Xero applies): bearer token (401 problem JSON,
`TokenExpired` once past its lifetime on the emulator clock) → `xero-tenant-id` (403; optional for
custom-connection tokens, as Xero allows) → rate limits (429 + `X-Rate-Limit-Problem`, `Retry-After`
for minute/day) → injected faults (`429`, `5xx`, `503`) → `Idempotency-Key` replay for writes → the
handler. Every tenant-scoped response carries `X-DayLimit-Remaining`, `X-MinLimit-Remaining` and
`X-AppMinLimit-Remaining`.

Several organisations (`orgs=N`, `sfxero sandbox --xero-orgs N`; `tenancy.py`): the header picks the
tenant, whose data, limits and idempotency keys serve the request (`self.org`, `self.limits` and
`self.idempotency` resolve to the current request's tenant; outside a request, to the first). One
consent grants all N; `/connections` lists each one not disconnected, and a disconnected organisation
answers 403 until the next consent. Webhooks are sent for the first organisation only.

`response_hooks`: callables `(method, path, query, status, headers, body, media_type)` run after every
API response, as the organisation it answered for (`current_tenant_id`); the test suite installs one that
validates against Xero's OpenAPI spec.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import email.utils
import html
import json
import math
import uuid
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..emulator import Emulator, Handler
from . import wire
from . import consent
from .identity import ACCESS_TTL_S, Identity, TokenError
from .tracking import (delete_tracking_category, delete_tracking_option, write_tracking_category,
                       write_tracking_option)
from .ledger import (add_group_contacts, clear_group_contacts, delete_bank_transfer, write_bank_transfer,
                     write_contact_group, write_manual_journal, write_purchase_order, write_quote)
from .idempotency import MAX_KEY_LEN, IdempotencyStore
from .limits import AppWindow, Limits, validated
from .seed import load_fixture_data, new_org, seed_world
from .store import COLLECTIONS, Collection, Org, WriteError
from .tenancy import WORLD_SEED_STEP, Tenant, tenant_id, tenant_name
from .webhooks import WebhookSender
from .where import QueryError, compile_order, compile_where, sort_key

API = "/api.xro/2.0"
LEDGER_WRITES = {"Quotes": write_quote, "PurchaseOrders": write_purchase_order,
                 "ManualJournals": write_manual_journal, "BankTransfers": write_bank_transfer,
                 "ContactGroups": write_contact_group, "TrackingCategories": write_tracking_category}
PAGED = ("Contacts", "Invoices", "CreditNotes", "BankTransactions", "Payments", "Quotes", "PurchaseOrders",
         "Overpayments", "Prepayments", "ManualJournals")
# Quotes page by `page` alone: Xero's GET /Quotes takes no pageSize.
FIXED_PAGE = ("Quotes",)
IMS_SUPPORTED = PAGED + ("Items", "Accounts", "BankTransfers", "Users")
# Collections served read-only (created in Xero through other documents, or by people).
READ_ONLY = ("Overpayments", "Prepayments", "Users")
# (date field, query parameter prefix) filters of Quotes and PurchaseOrders.
_DATE_FILTERS = (("Date", "date"), ("ExpiryDate", "expirydate"))
_DEAD = {"DELETED", "VOIDED", "ARCHIVED"}
_SUMMARY_DROP = {
    "Invoices": ("LineItems", "Payments", "CreditNotes", "Prepayments", "Overpayments", "Attachments"),
    "Contacts": ("Addresses", "Phones", "ContactPersons", "ContactGroups", "Attachments", "PaymentTerms",
                 "BatchPayments", "Balances"),
}
# Fields Xero leaves out of a list answered without `page` (invoices come without their lines).
_UNPAGED_DROP = {"Invoices": ("LineItems",)}
# The tenant the current request addressed (set by the API pipeline); None = the first tenant.
_CURRENT: contextvars.ContextVar[Tenant | None] = contextvars.ContextVar("sandbox_xero_tenant", default=None)



def _unit_dp(params: dict) -> int:
    """Xero keeps UnitAmount to 2 dp unless the request opts in to 4 with `unitdp=4`."""
    return 4 if params.get("unitdp", "").strip() == "4" else 2


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("true", "1", "yes")


def _parse_ims(value: str | None) -> int | None:
    """If-Modified-Since as clients send it: ISO-8601 with or without offset/ms (naive = UTC) or RFC 1123."""
    if not value:
        return None
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return wire.to_ms(parsed)


class XeroEmulator(Emulator):
    """Emulated Xero organisations (one tenant by default) speaking Xero's identity and Accounting API wire format."""

    system = "xero"

    def __init__(self, *, world, credentials, faults=None, clock=None, fixtures: dict | None = None,
                 limits: dict | None = None, webhook_url: str | None = None, webhook_key: str | None = None,
                 orgs: int = 1, **_settings) -> None:
        super().__init__(faults=faults, clock=clock)
        if orgs < 1:
            raise ValueError(f"--xero-orgs must be 1 or more (got {orgs})")
        self.world = world
        self.credentials = credentials
        self.tenant_id = credentials.xero_tenant_id
        self.tenant_name = tenant_name(0)
        cfg = validated(limits)
        self.app_window = AppWindow(cfg)
        self.tenants: dict[str, Tenant] = {}
        for k in range(orgs):
            tid = tenant_id(self.tenant_id, k)
            self.tenants[tid.lower()] = Tenant(index=k, tenant_id=tid, name=tenant_name(k),
                                               limits=Limits(self.clock, cfg, app=self.app_window),
                                               idempotency=IdempotencyStore(self.clock))
        self._world_seed = world.seed
        self._world_size = world.size
        self.identity = Identity(client_id=credentials.xero_client_id, client_secret=credentials.xero_client_secret,
                                 clock=self.clock, ttl_s=self._token_ttl)
        self.webhooks = WebhookSender(tenant_id=self.tenant_id)
        if webhook_url and webhook_key:
            self.webhooks.configure(webhook_url, webhook_key)
        self.response_hooks: list[Callable] = []
        # `sfxero sandbox --auto-consent`: the consent page approves at once (no person to click).
        self.auto_consent = False
        self.disconnected: set[str] = set()
        self._fixtures = fixtures
        self.seed_data()

    # -- tenancy ----------------------------------------------------------------------------------
    @property
    def _tenant(self) -> Tenant:
        return _CURRENT.get() or next(iter(self.tenants.values()))

    @property
    def org(self) -> Org:
        return self._tenant.org

    @property
    def limits(self) -> Limits:
        return self._tenant.limits

    @property
    def idempotency(self) -> IdempotencyStore:
        return self._tenant.idempotency

    @property
    def _query_cache(self) -> dict:
        return self._tenant.query_cache

    @property
    def current_tenant_id(self) -> str:
        """The organisation the request being answered is for (in a response hook too), else the first."""
        return self._tenant.tenant_id

    def tenant(self, tenant_id_: str) -> Tenant | None:
        return self.tenants.get(tenant_id_.strip().lower())

    @contextlib.contextmanager
    def as_tenant(self, tenant_id_: str):
        """Within the block, `org`, `limits`, `records()`… are this tenant's (tests and introspection)."""
        found = self.tenant(tenant_id_)
        if found is None:
            raise KeyError(f"no sandbox Xero organisation {tenant_id_}")
        token = _CURRENT.set(found)
        try:
            yield found
        finally:
            _CURRENT.reset(token)

    # -- contract with the base class ---------------------------------------------------------------
    def _token_ttl(self) -> float:
        return self.faults.token_ttl_s if self.faults.token_ttl_s else ACCESS_TTL_S

    def issue_refresh_token(self) -> str:
        """Test hook: a refresh token as the (unimplemented) consent flow would have produced."""
        return self.identity.issue_refresh_token()

    def configure_webhooks(self, url: str | None, key: str | None, *, verify: bool | str | None = None) -> None:
        self.webhooks.configure(url, key, verify=verify)

    def introspection_routes(self):
        return [*self.webhooks.routes(),
                Route("/__sandbox/tenants", self._get_tenants, methods=["GET"]),
                Route("/__sandbox/tenants/{tenant}/records/{object_name}", self._get_tenant_records, methods=["GET"]),
                Route("/__sandbox/tenants/{tenant}/spend", self._post_spend, methods=["POST"])]

    async def _get_tenants(self, request: Request) -> Response:
        """Every organisation: tenant id, name, connected (not disconnected), calls counted today."""
        return JSONResponse([{"tenant_id": t.tenant_id, "name": t.name, "connected": t.tenant_id not in self.disconnected,
                              "day_used": t.limits.day_used} for t in self.tenants.values()])

    async def _post_spend(self, request: Request) -> Response:
        """`{"calls": N}`: N calls counted against the organisation's day, as if another app had made them."""
        tenant = self.tenant(request.path_params["tenant"])
        if tenant is None:
            return JSONResponse({"error": f"unknown tenant {request.path_params['tenant']}"}, 404)
        tenant.limits.spend(int((await request.json()).get("calls", 0)))
        return JSONResponse({"day_used": tenant.limits.day_used})

    async def _get_tenant_records(self, request: Request) -> Response:
        """`/__sandbox/records/<Object>` of one organisation."""
        if self.tenant(request.path_params["tenant"]) is None:
            return JSONResponse({"error": f"unknown tenant {request.path_params['tenant']}"}, 404)
        with self.as_tenant(request.path_params["tenant"]):
            rows = self.records(request.path_params["object_name"])
        if rows is None:
            return JSONResponse({"error": f"unknown object {request.path_params['object_name']}"}, 404)
        return Response(json.dumps(rows, default=str), media_type="application/json")

    def seed_data(self) -> None:
        for tenant in self.tenants.values():
            tenant.org = self._seed_org(tenant)
            tenant.query_cache = {}
            tenant.idempotency.clear()
            tenant.limits.reset()
        self.app_window.reset()

    def _seed_org(self, tenant: Tenant) -> Org:
        if tenant.index == 0:
            org = new_org(self.clock, self._world_seed)
            if self._fixtures is not None:
                load_fixture_data(org, self._fixtures)
            else:
                seed_world(org, self.world)
            org.listeners.append(lambda cat, ev, rid: self.webhooks.event(cat, ev, rid, self.clock))
            return org
        # Another organisation of the same company: its own customers and documents (a world of its own
        # seed), reference data as every organisation has; with fixtures, reference data only.
        from ..world import World

        seed = self._world_seed + tenant.index * WORLD_SEED_STEP
        org = new_org(self.clock, seed)
        org.organisation.update(Name=tenant.name, LegalName=tenant.name)
        if self._fixtures is not None:
            load_fixture_data(org, {})
        else:
            world = World(seed, self._world_size)
            seed_world(org, world)
            world.forget_companies()
        return org

    def load_fixtures(self, fixtures: dict) -> None:
        self._fixtures = fixtures or {}
        self.seed_data()

    def records(self, object_name: str) -> list[dict] | None:
        if object_name == "Organisation":
            return [dict(self.org.organisation)]
        if object_name == "Journals":
            with self.org.lock:
                journals = [self.org.journals.render(n) for n in range(1, len(self.org.journals) + 1)]
            return [dict(j, _deleted=False) for j in journals if j is not None]
        if object_name not in COLLECTIONS:
            return None
        out = []
        with self.org.lock:
            for rec in self.org.c[object_name].ordered()[0]:
                record = Collection.load(rec)
                if object_name == "Contacts":
                    record["Balances"] = self.org.balances(record["ContactID"])
                status = record.get("Status") or record.get("ContactStatus")
                record["_deleted"] = status in _DEAD
                out.append(record)
        return out

    # -- routing --------------------------------------------------------------------------------
    def _wrap(self, template: str, handler: Handler) -> Handler:
        # Latency is applied inside the API pipeline (while the call counts as in flight), not here.
        async def endpoint(request: Request) -> Response:
            self.count(request.method, template)
            return await handler(request)

        return endpoint

    def api_routes(self):
        routes = [
            ("/connect/token", ["POST"], self._token),
            ("/connect/revocation", ["POST"], self._revocation),
            (consent.PATH, ["GET", "POST"], self._authorize),
            ("/connections", ["GET"], self._connections),
            ("/Connections", ["GET"], self._connections),
            ("/connections/{connection_id}", ["DELETE"], self._disconnect),
            ("/Connections/{connection_id}", ["DELETE"], self._disconnect),
        ]
        for plural in ("Contacts", "Invoices", "CreditNotes", "BankTransactions", "Payments", "Items"):
            idf = COLLECTIONS[plural]
            routes.append((f"{API}/{plural}", ["GET", "PUT", "POST"], self._api(plural, self._collection)))
            # Items alone have a DELETE (deleteItem): the other documents are removed by a status write.
            methods = ["GET", "POST", "DELETE"] if plural == "Items" else ["GET", "POST"]
            routes.append((f"{API}/{plural}/{{{idf}}}", methods, self._api(plural, self._one)))
        for plural in ("Quotes", "PurchaseOrders", "ManualJournals"):
            idf = COLLECTIONS[plural]
            routes.append((f"{API}/{plural}", ["GET", "PUT", "POST"], self._api(plural, self._collection)))
            routes.append((f"{API}/{plural}/{{{idf}}}", ["GET", "POST"], self._api(plural, self._one)))
        for plural in ("BankTransfers", "ContactGroups"):
            idf = COLLECTIONS[plural]
            routes.append((f"{API}/{plural}", ["GET", "PUT"], self._api(plural, self._collection)))
            routes.append((f"{API}/{plural}/{{{idf}}}", ["GET", "POST"], self._api(plural, self._one)))
        routes.append((f"{API}/ContactGroups/{{ContactGroupID}}/Contacts", ["PUT", "DELETE"],
                       self._api("ContactGroups", self._group_contacts)))
        routes.append((f"{API}/ContactGroups/{{ContactGroupID}}/Contacts/{{ContactID}}", ["DELETE"],
                       self._api("ContactGroups", self._group_contacts)))
        routes.append((f"{API}/TrackingCategories", ["GET", "PUT"], self._api("TrackingCategories", self._collection)))
        routes.append((f"{API}/TrackingCategories/{{TrackingCategoryID}}", ["GET", "POST", "DELETE"],
                       self._api("TrackingCategories", self._one)))
        routes.append((f"{API}/TrackingCategories/{{TrackingCategoryID}}/Options", ["PUT"],
                       self._api("TrackingCategories", self._tracking_options)))
        routes.append((f"{API}/TrackingCategories/{{TrackingCategoryID}}/Options/{{TrackingOptionID}}",
                       ["POST", "DELETE"], self._api("TrackingCategories", self._tracking_options)))
        for plural in READ_ONLY:
            routes.append((f"{API}/{plural}", ["GET"], self._api(plural, self._collection)))
            routes.append((f"{API}/{plural}/{{{COLLECTIONS[plural]}}}", ["GET"], self._api(plural, self._one)))
        routes.append((f"{API}/Journals", ["GET"], self._api("Journals", self._journals)))
        routes.append((f"{API}/Journals/{{JournalID}}", ["GET"], self._api("Journals", self._journal)))
        for plural in ("Accounts", "TaxRates", "Currencies"):
            routes.append((f"{API}/{plural}", ["GET"], self._api(plural, self._collection)))
        routes.append((f"{API}/Accounts/{{AccountID}}", ["GET"], self._api("Accounts", self._one)))
        routes.append((f"{API}/Organisation", ["GET"], self._api("Organisation", self._organisation)))
        routes.append((f"{API}/CreditNotes/{{CreditNoteID}}/Allocations", ["PUT"],
                       self._api("CreditNotes", self._allocations)))
        return routes

    # -- identity -------------------------------------------------------------------------------
    async def _token(self, request: Request) -> Response:
        body = await request.body()
        try:
            payload = self.identity.token(request.headers, body)
        except TokenError as exc:
            response = JSONResponse({"error": exc.error}, exc.status)
        else:
            response = JSONResponse(payload, headers={"Cache-Control": "no-store"})
        return response

    async def _authorize(self, request: Request) -> Response:
        if request.method == "POST":
            params = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        else:
            params = dict(request.query_params)
        try:
            auth = consent.parse_request(params, self.identity.client_id)
        except consent.ConsentError as exc:
            return HTMLResponse(f"<!doctype html><html><body><h1>Error</h1><p>{html.escape(str(exc))}</p>"
                                "</body></html>", 400)
        if request.method == "GET" and not self.auto_consent:
            return HTMLResponse(consent.consent_page(auth, ", ".join(t.name for t in self.tenants.values())))
        if request.method == "POST" and params.get("decision") != "allow":
            return RedirectResponse(consent.redirect_to(auth, error="access_denied"), 302)
        code = self.identity.issue_code(auth)
        self.disconnected.clear()  # consenting again reconnects the organisations (all are granted)
        return RedirectResponse(consent.redirect_to(auth, code=code, scope=auth.scope), 302)

    async def _revocation(self, request: Request) -> Response:
        try:
            self.identity.revoke(request.headers, await request.body())
        except TokenError as exc:
            return JSONResponse({"error": exc.error}, exc.status)
        return Response(status_code=200)

    def _connection_id(self) -> str:
        return self._tenant.connection_id

    async def _disconnect(self, request: Request) -> Response:
        token, problem = self.identity.check(request.headers.get("authorization"))
        if token is None:
            return wire.problem(401, problem)
        for tenant in self.tenants.values():
            if request.path_params["connection_id"] == tenant.connection_id:
                self.disconnected.add(tenant.tenant_id)
                return Response(status_code=204)
        return Response(status_code=404)

    async def _connections(self, request: Request) -> Response:
        token, problem = self.identity.check(request.headers.get("authorization"))
        if token is None:
            return wire.problem(401, problem)
        body = []
        for tenant in self.tenants.values():
            if tenant.tenant_id in self.disconnected:
                continue
            created = wire.iso_from_ms(wire.parse_date_ms(tenant.org.organisation["CreatedDateUTC"]), with_z=False)
            # Every organisation of one consent shares its authEventId, as Xero reports it.
            body.append({"id": tenant.connection_id, "authEventId": self._auth_event_id(), "tenantId": tenant.tenant_id,
                         "tenantType": "ORGANISATION", "tenantName": tenant.name,
                         "createdDateUtc": created + ".0000000", "updatedDateUtc": created + ".0000000"})
        return JSONResponse(body, headers={"X-AppMinLimit-Remaining": self.limits.headers()["X-AppMinLimit-Remaining"]})

    def _auth_event_id(self) -> str:
        return next(iter(self.tenants.values())).auth_event_id

    # -- pipeline -------------------------------------------------------------------------------
    def _api(self, plural: str, op: Callable) -> Handler:
        async def handler(request: Request) -> Response:
            response = await self._pipeline(request, plural, op)
            if self.response_hooks:
                body = response.body if hasattr(response, "body") else b""
                answered = getattr(request.state, "xero_tenant", None)
                with self.as_tenant(answered) if answered else contextlib.nullcontext():
                    for hook in self.response_hooks:
                        hook(request.method, request.url.path, request.url.query, response.status_code,
                             dict(response.headers), body, response.headers.get("content-type", ""))
            return response

        return handler

    async def _pipeline(self, request: Request, plural: str, op: Callable) -> Response:
        token, problem = self.identity.check(request.headers.get("authorization"))
        if token is None:
            return wire.problem(401, problem)
        header = request.headers.get("xero-tenant-id", "").strip()
        # A custom connection reaches exactly one organisation (the first); it may leave the header out.
        tenant = self.tenant(header) if header else (self._tenant if token.custom_connection else None)
        if tenant is None or (tenant.tenant_id in self.disconnected and not token.custom_connection):
            return wire.problem(403, "AuthenticationUnsuccessful")
        context = _CURRENT.set(tenant)
        request.state.xero_tenant = tenant.tenant_id  # the response hooks run as this tenant
        try:
            return await self._tenant_pipeline(request, plural, op)
        finally:
            _CURRENT.reset(context)

    async def _tenant_pipeline(self, request: Request, plural: str, op: Callable) -> Response:
        limit_problem, retry_after = self.limits.acquire()
        if limit_problem:
            headers = {**self.limits.headers(), "X-Rate-Limit-Problem": limit_problem}
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            return Response(b"", status_code=429, headers=headers)
        try:
            if self.faults.latency_ms:
                await asyncio.sleep(self.faults.latency_ms / 1000.0)
            body = await request.body() if request.method in ("PUT", "POST") else b""
            response = self._faulted()
            if response is None:
                response = self._idempotent(request, body, plural, op)
        finally:
            self.limits.release()
        response.headers.update(self.limits.headers())
        response.headers["Xero-Correlation-Id"] = str(uuid.uuid4())
        return response

    def _faulted(self) -> Response | None:
        if self.faults.roll("429"):
            return Response(b"", status_code=429, headers={"X-Rate-Limit-Problem": "minute", "Retry-After": "1"})
        if self.faults.roll("503"):
            return wire.server_error(503)
        if self.faults.roll("5xx"):
            return wire.server_error(500)
        return None

    def _idempotent(self, request: Request, body: bytes, plural: str, op: Callable) -> Response:
        key = request.headers.get("idempotency-key")
        if request.method not in ("PUT", "POST") or not key:
            return self._run(request, body, plural, op)
        if len(key) > MAX_KEY_LEN:
            return wire.simple_error(10, "ValidationException", f"Idempotency-Key must be {MAX_KEY_LEN} characters "
                                     "or less")
        fingerprint = IdempotencyStore.fingerprint(request.method, request.url.path, request.url.query, body)
        found = self.idempotency.lookup(key, fingerprint)
        if found and found[0] == "mismatch":
            return wire.simple_error(10, "ValidationException",
                                     f"Idempotency key {key} has already been used with a different request")
        if found:
            _, status, payload, media_type = found
            return Response(payload, status_code=status, media_type=media_type)
        response = self._run(request, body, plural, op)
        if response.status_code < 500:
            self.idempotency.store(key, fingerprint, response.status_code, response.body,
                                   response.headers.get("content-type", "application/json"))
        return response

    def _run(self, request: Request, body: bytes, plural: str, op: Callable) -> Response:
        params = {k.lower(): v for k, v in parse_qsl(request.url.query, keep_blank_values=True)}
        with self.org.lock:
            try:
                return op(request, plural, params, body)
            except QueryError as exc:
                return wire.simple_error(16, "QueryParseException", str(exc))

    # -- reads ----------------------------------------------------------------------------------
    def _serialize(self, plural: str, recs, summary: bool) -> list[bytes]:
        if plural != "Contacts" and not summary:
            return [Collection.raw(r) for r in recs]
        out = []
        for rec in recs:
            record = Collection.load(rec) if not isinstance(rec, dict) else rec
            out.append(wire.dumps(self._present(plural, record, summary)))
        return out

    def _present(self, plural: str, record: dict, summary: bool = False) -> dict:
        if plural == "Contacts" and not summary:
            record = dict(record)
            record["Balances"] = self.org.balances(record["ContactID"])
        if summary:
            record = {k: v for k, v in record.items() if k not in _SUMMARY_DROP.get(plural, ())}
        return record

    def _collection(self, request: Request, plural: str, params: dict, body: bytes) -> Response:
        if request.method == "GET":
            return self._list(request, plural, params)
        return self._write(request, plural, params, body)

    def _list(self, request: Request, plural: str, params: dict) -> Response:
        coll = self.org.c[plural]
        ims = _parse_ims(request.headers.get("if-modified-since")) if plural in IMS_SUPPORTED else None
        where = compile_where(params["where"]) if params.get("where", "").strip() else None
        order = compile_order(params["order"]) if params.get("order", "").strip() else None
        ids = {v.strip().lower() for v in params.get("ids", "").split(",") if v.strip()}
        contact_ids = {v.strip().lower() for v in (params.get("contactids") or params.get("contactid") or "").split(",")
                       if v.strip()}
        statuses = {v.strip().upper() for v in (params.get("statuses") or params.get("status") or "").split(",")
                    if v.strip()}
        numbers = {v.strip() for v in (params.get("invoicenumbers") or params.get("quotenumber") or "").split(",")
                   if v.strip()}
        hidden = self._hidden_statuses(plural, params)
        dates = self._date_bounds(params)
        include_archived = _bool(params.get("includearchived"), False)
        summary = _bool(params.get("summaryonly"), False) and plural in ("Invoices", "Contacts")
        search = params.get("searchterm", "").strip().lower()
        paged = plural in PAGED and "page" in params
        try:
            page = max(1, int(params.get("page") or 1))
            page_size = 100 if plural in FIXED_PAGE else min(1000, max(1, int(params.get("pagesize") or 100)))
        except ValueError:
            return wire.simple_error(16, "QueryParseException", "page and pageSize must be integers")
        recs = coll.since(ims) if ims is not None else coll.ordered()[0]
        hot_filter = ids or contact_ids or statuses or hidden or (plural == "Contacts" and not include_archived)
        if hot_filter:
            recs = [r for r in recs if (not ids or r.id in ids)
                    and (not contact_ids or (r.contact_id or "").lower() in contact_ids)
                    and (not statuses or (r.status or "") in statuses)
                    and (r.status or "") not in hidden
                    and (plural != "Contacts" or include_archived or r.status != "ARCHIVED")]
        recs_before = recs
        filtered = where or order or numbers or search or dates
        if filtered:
            # Filtering and ordering need every record decoded. Done once per query and reused by
            # its later pages (keyed on the collection's write sequence, so any write invalidates):
            # re-decoding a 200k-invoice org for each of its 200 pages made paging quadratic.
            key = (id(coll), coll._seq, plural, ims, params.get("where"), params.get("order"), frozenset(numbers),
                   search, frozenset(ids), frozenset(contact_ids), frozenset(statuses), include_archived,
                   tuple(sorted(dates.items())), frozenset(hidden))
            recs = self._query_cache.get(key)
            if recs is None:
                recs = self._filter_and_order(plural, coll, recs_before, where, order, numbers, search, dates)
                self._query_cache[key] = recs
                while len(self._query_cache) > 8:
                    self._query_cache.pop(next(iter(self._query_cache)))
        rows = recs
        total = len(rows)
        pagination = None
        if paged:
            start = (page - 1) * page_size
            rows = rows[start:start + page_size]
            pagination = {"page": page, "pageSize": page_size, "pageCount": math.ceil(total / page_size),
                          "itemCount": total}
        drop = _UNPAGED_DROP.get(plural, ()) if not paged else ()
        if plural == "ContactGroups":
            drop = ("Contacts",)
        if filtered or drop:
            decoded = [Collection.load(r) for r in rows]
            if plural == "Contacts":
                decoded = [self._present(plural, d) for d in decoded]
            if drop:
                decoded = [{k: v for k, v in d.items() if k not in drop} for d in decoded]
            items = [wire.dumps(self._present(plural, d, summary) if summary else d) for d in decoded]
        else:
            items = self._serialize(plural, rows, summary)
        return wire.json_response(wire.envelope_bytes(plural, items, self.org.now_ms(), pagination))

    @staticmethod
    def _hidden_statuses(plural: str, params: dict) -> frozenset[str]:
        """Statuses a list leaves out unless asked: archived tracking categories (deleted ones always), deleted transfers."""
        if plural == "TrackingCategories":
            # A deleted category is gone for good; an archived one is listed on request.
            return frozenset({"DELETED"} if _bool(params.get("includearchived"), False) else {"ARCHIVED", "DELETED"})
        if plural == "BankTransfers" and not _bool(params.get("includedeleted"), False):
            return frozenset({"DELETED"})
        return frozenset()

    @staticmethod
    def _date_bounds(params: dict) -> dict[str, tuple[int | None, int | None]]:
        """DateFrom/DateTo (and ExpiryDateFrom/To) as inclusive day bounds per date field."""
        bounds = {}
        for field, prefix in _DATE_FILTERS:
            low = wire.parse_date_ms(params.get(prefix + "from"))
            high = wire.parse_date_ms(params.get(prefix + "to"))
            if low is not None or high is not None:
                bounds[field] = (low, high)
        return bounds

    def _filter_and_order(self, plural, coll, recs, where, order, numbers, search, dates=None) -> list:
        pairs = [(r, Collection.load(r)) for r in recs]
        if plural == "Contacts":
            pairs = [(r, self._present(plural, d)) for r, d in pairs]
        if numbers:
            pairs = [(r, d) for r, d in pairs if (d.get("InvoiceNumber") or d.get("QuoteNumber")) in numbers]
        for field, (low, high) in (dates or {}).items():
            pairs = [(r, d) for r, d in pairs if (ms := wire.parse_date_ms(d.get(field))) is not None
                     and (low is None or ms >= low) and (high is None or ms <= high)]
        if search:
            fields = ("Name", "FirstName", "LastName", "EmailAddress", "ContactNumber", "InvoiceNumber", "Reference")
            pairs = [(r, d) for r, d in pairs if any(search in str(d.get(f, "")).lower() for f in fields)]
        if where:
            pairs = [(r, d) for r, d in pairs if where(d)]
        if order:
            for path, desc in reversed(order):
                pairs.sort(key=lambda rd, p=path: sort_key(_resolve_path(rd[1], p)), reverse=desc)
        return [r for r, _ in pairs]

    def _find(self, plural: str, key: str) -> dict | None:
        coll = self.org.c[plural]
        record = coll.get(key.lower()) or coll.get(key)
        if record is None and plural == "Invoices" and key in self.org.invoice_numbers:
            record = coll.get(self.org.invoice_numbers[key])
        if record is None and plural == "Contacts" and key in self.org.contact_numbers:
            record = coll.get(self.org.contact_numbers[key])
        if record is None and plural == "Items" and key in self.org.item_codes:
            record = coll.get(self.org.item_codes[key])
        if record is None and plural == "CreditNotes" and key in self.org.credit_note_numbers:
            record = coll.get(self.org.credit_note_numbers[key])
        return record

    def _one(self, request: Request, plural: str, params: dict, body: bytes) -> Response:
        key = request.path_params[COLLECTIONS[plural]]
        record = self._find(plural, key)
        if record is None:
            return wire.not_found()
        if request.method == "GET":
            return self._envelope(plural, [self._present(plural, record)])
        if plural == "Items" and request.method == "DELETE":
            self.org.delete_item(record["ItemID"])
            return Response(b"", status_code=204)
        if plural == "TrackingCategories" and request.method == "DELETE":
            deleted = delete_tracking_category(self.org, record["TrackingCategoryID"])
            return self._envelope(plural, [deleted]) if deleted else wire.not_found()
        if plural == "BankTransfers":
            elements = self._elements(plural, body)
            if isinstance(elements, Response):
                return elements
            try:
                transfer = delete_bank_transfer(self.org, record["BankTransferID"], elements[0] if elements else {})
            except WriteError as exc:
                return wire.validation_exception([{**(elements[0] if elements else {}), "ValidationErrors":
                                                  [{"Message": m} for m in exc.messages]}])
            return self._envelope(plural, [transfer])
        if plural == "Payments":
            elements = self._elements(plural, body)
            if isinstance(elements, Response):
                return elements
            try:
                payment = self.org.delete_payment(record["PaymentID"], elements[0] if elements else {})
            except WriteError as exc:
                return wire.validation_exception([{**(elements[0] if elements else {}), "ValidationErrors":
                                                  [{"Message": m} for m in exc.messages]}])
            return self._envelope(plural, [payment])
        elements = self._elements(plural, body)
        if isinstance(elements, Response):
            return elements
        if len(elements) != 1:
            return wire.simple_error(14, "PostDataInvalidException", "Exactly one element is expected")
        element = dict(elements[0])
        element[COLLECTIONS[plural]] = record[COLLECTIONS[plural]]
        return self._apply_writes(plural, [element], create_only=False, summarize=True, unit_dp=_unit_dp(params))

    def _journals(self, request: Request, plural: str, params: dict, body: bytes) -> Response:
        try:
            offset = int(params.get("offset") or 0)
        except ValueError:
            return wire.simple_error(16, "QueryParseException", "offset must be an integer")
        since = _parse_ims(request.headers.get("if-modified-since"))
        journals = self.org.journals.page(offset=offset, since_ms=since,
                                          payments_only=_bool(params.get("paymentsonly"), False))
        return self._envelope("Journals", journals)

    def _journal(self, request: Request, plural: str, params: dict, body: bytes) -> Response:
        number = self.org.journals.number_of(request.path_params["JournalID"])
        journal = self.org.journals.render(number) if number else None
        if journal is None:
            return wire.not_found()
        return self._envelope("Journals", [journal])

    def _group_contacts(self, request: Request, plural: str, params: dict, body: bytes) -> Response:
        group_id = request.path_params["ContactGroupID"]
        if request.method == "DELETE":
            if not clear_group_contacts(self.org, group_id, request.path_params.get("ContactID")):
                return wire.not_found()
            return Response(b"", status_code=204)
        if self._find("ContactGroups", group_id) is None:
            return wire.not_found()
        elements = self._elements("Contacts", body)
        if isinstance(elements, Response):
            return elements
        try:
            added = add_group_contacts(self.org, group_id, elements)
        except WriteError as exc:
            return wire.validation_exception([{"ContactGroupID": group_id,
                                               "ValidationErrors": [{"Message": m} for m in exc.messages]}])
        return self._envelope("Contacts", added)

    def _tracking_options(self, request: Request, plural: str, params: dict, body: bytes) -> Response:
        category_id = request.path_params["TrackingCategoryID"]
        option_id = request.path_params.get("TrackingOptionID")
        if request.method == "DELETE":
            deleted = delete_tracking_option(self.org, category_id, option_id)
            return self._envelope("Options", [deleted]) if deleted else wire.not_found()
        elements = self._elements("Options", body)
        if isinstance(elements, Response):
            return elements
        if not elements or (option_id and len(elements) != 1):
            return wire.simple_error(14, "PostDataInvalidException", "Exactly one tracking option is expected"
                                     if option_id else "No tracking options were found in the request body")
        written = []
        for element in elements:
            try:
                written.append(write_tracking_option(self.org, category_id, element, option_id))
            except WriteError as exc:
                return wire.validation_exception([{**element, "ValidationErrors": [{"Message": m} for m in exc.messages]}])
        return self._envelope("Options", written)

    def _organisation(self, request: Request, plural: str, params: dict, body: bytes) -> Response:
        return self._envelope("Organisations", [self.org.organisation])

    def _envelope(self, plural: str, records: list[dict], pagination: dict | None = None) -> Response:
        return wire.json_response(wire.envelope_bytes(plural, [wire.dumps(r) for r in records], self.org.now_ms(),
                                                      pagination))

    # -- writes ---------------------------------------------------------------------------------
    def _elements(self, plural: str, body: bytes) -> list[dict] | Response:
        try:
            payload = json.loads(body or b"{}")
        except ValueError as exc:
            return wire.simple_error(14, "PostDataInvalidException", f"The request body is not valid JSON: {exc}")
        if isinstance(payload, dict) and isinstance(payload.get(plural), list):
            elements = payload[plural]
        elif isinstance(payload, dict) and plural in payload and isinstance(payload[plural], dict):
            elements = [payload[plural]]
        elif isinstance(payload, dict) and payload and plural not in payload:
            elements = [payload]
        elif isinstance(payload, list):
            elements = payload
        else:
            elements = []
        if not all(isinstance(e, dict) for e in elements):
            return wire.simple_error(14, "PostDataInvalidException", f"Every element of {plural} must be an object")
        return elements

    def _write(self, request: Request, plural: str, params: dict, body: bytes) -> Response:
        elements = self._elements(plural, body)
        if isinstance(elements, Response):
            return elements
        if not elements:
            return wire.simple_error(14, "PostDataInvalidException", f"No {plural} were found in the request body")
        summarize = _bool(params.get("summarizeerrors"), True)
        create_only = request.method == "PUT"
        if plural == "Payments" and request.method == "POST" and len(elements) > 1:
            return wire.simple_error(14, "PostDataInvalidException", "POST /Payments creates one payment; use PUT "
                                     "for several")
        return self._apply_writes(plural, elements, create_only=create_only, summarize=summarize,
                                  unit_dp=_unit_dp(params))

    def _write_one(self, plural: str, element: dict, create_only: bool, unit_dp: int) -> dict:
        org = self.org
        if plural == "Contacts":
            return org.write_contact(element, create_only=create_only)
        if plural in ("Invoices", "CreditNotes"):
            return org.write_document(element, kind=plural, create_only=create_only, unit_dp=unit_dp)
        if plural == "BankTransactions":
            return org.write_bank_transaction(element, create_only=create_only, unit_dp=unit_dp)
        if plural == "Payments":
            return org.write_payment(element)
        if plural == "Items":
            return org.write_item(element, create_only=create_only)
        if plural in LEDGER_WRITES:
            return LEDGER_WRITES[plural](org, element, create_only=create_only)
        raise WriteError([f"{plural} cannot be written"])

    def _apply_writes(self, plural: str, elements: list[dict], *, create_only: bool, summarize: bool,
                      unit_dp: int = 2) -> Response:
        idf = COLLECTIONS[plural]
        results, failed = [], []
        for element in elements:
            try:
                record = self._write_one(plural, dict(element), create_only, unit_dp)
                result = self._present(plural, record) if plural != "Contacts" else dict(record)
                if not summarize:
                    result["StatusAttributeString"] = "OK"
                results.append(result)
            except WriteError as exc:
                echo = dict(element)
                echo.setdefault(idf, wire.ZERO_GUID) if plural != "TaxRates" else None
                echo["ValidationErrors"] = [{"Message": m} for m in exc.messages]
                echo["StatusAttributeString"] = "ERROR"
                if plural in ("Invoices", "CreditNotes"):
                    echo["HasErrors"] = True
                elif plural in ("Contacts", "Payments"):
                    echo["HasValidationErrors"] = True
                results.append(echo)
                failed.append(echo)
        if failed and summarize:
            # Xero's summarized mode: the valid elements were still written; only the failures are reported.
            return wire.validation_exception(failed)
        return self._envelope(plural, results)

    def _allocations(self, request: Request, plural: str, params: dict, body: bytes) -> Response:
        cn_id = request.path_params["CreditNoteID"]
        record = self._find("CreditNotes", cn_id)
        if record is None:
            return wire.not_found()
        elements = self._elements("Allocations", body)
        if isinstance(elements, Response):
            return elements
        summarize = _bool(params.get("summarizeerrors"), True)
        results, failed = [], []
        for element in elements:
            try:
                results.append(self.org.allocate(record["CreditNoteID"], element))
            except WriteError as exc:
                echo = {**element, "ValidationErrors": [{"Message": m} for m in exc.messages],
                        "StatusAttributeString": "ERROR"}
                results.append(echo)
                failed.append(echo)
        if failed and summarize:
            return wire.validation_exception([{"CreditNoteID": record["CreditNoteID"],
                                               "ValidationErrors": f["ValidationErrors"]} for f in failed])
        return self._envelope("Allocations", results)


def _resolve_path(record: dict, path: list[str]):
    value = record
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part) if part in value else next(
            (v for k, v in value.items() if k.lower() == part.lower()), None)
    return value
