"""The Salesforce emulator: REST, sObject Collections, Composite, replication, Bulk API 1.0 and 2.0, limits.

Wire behaviour follows the real API's documentation (not our client). Every `/services/data/vXX.X/...`
call needs `Authorization: Bearer <token>` (401 INVALID_SESSION_ID as a JSON array otherwise),
counts against a rolling daily budget (`daily_limit`, default 100,000; 403 REQUEST_LIMIT_EXCEEDED
once spent) and answers with `Sforce-Limit-Info: api-usage=N/M`. Faults: `5xx`/`503` -> 500/503
with a Salesforce-shaped body; `lock` -> UNABLE_TO_LOCK_ROW on writes; `token_ttl_s` -> sessions
expire. Query cursors: `nextRecordsUrl` = `/services/data/vXX.X/query/<cursor>-<offset>`, page size
from `Sforce-Query-Options: batchSize=N` clamped to [200, 2000]; at most `max_cursors` (10) open
per user, oldest dropped; idle cursors expire after 15 minutes (INVALID_QUERY_LOCATOR).
Request stats use path templates without a trailing slash (simple-salesforce adds one to some).
Bulk API 1.0 (`/services/async/NN.0/...`, bulk_v1.py) authenticates by `X-SFDC-Session` and counts
against the same budget; `/composite`, `/composite/batch` and Collections retrieve (composite.py)
are one call each, their subrequests running in-process through the handlers below.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections import OrderedDict
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from ..emulator import Emulator, Handler
from ..world import World
from .schema import DEFAULT as DEFAULT_SCHEMA
from .auth import Sessions
from .bulk import BulkJobs
from .bulk_v1 import BulkV1
from .bulk_v1 import error_response as bulk_v1_error
from .bulk_v1 import wants_json as bulk_v1_wants_json
from .composite import Composite, Subrequests
from .limits import org_limits
from .seed import Seeder, load_fixtures
from .soql import Plan, parse
from .store import Org, SfError, Table, fmt_dt, normalize_id, parse_dt

_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.I)
_DATA = "/services/data/v{version}"
_CURSOR_IDLE_S = 15 * 60
# Bulk API 1.0 names for the envelope's refusals, with the status the real service answers them with.
_BULK_V1_CODES = {"INVALID_SESSION_ID": ("InvalidSessionId", 400), "REQUEST_LIMIT_EXCEEDED": ("ExceededQuota", 400),
                  "NOT_FOUND": ("InvalidUrl", 404), "SERVER_UNAVAILABLE": ("ServerUnavailable", 503),
                  "UNKNOWN_EXCEPTION": ("Unknown", 500)}
_ASYNC = "/services/async/{version}"
# A /composite or /composite/batch subrequest may not itself be one of these (nor a Bulk job).
_NOT_SUBREQUESTS = {_DATA + "/composite", _DATA + "/composite/batch"}
_MIN_VERSION, _MAX_VERSION = 20.0, 66.0


def _version_ok(version: str) -> bool:
    return bool(re.fullmatch(r"\d+\.\d", version)) and _MIN_VERSION <= float(version) <= _MAX_VERSION


def _json(obj, status: int = 200, headers: dict | None = None) -> Response:
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json;charset=UTF-8", headers=headers)


class Cursor:
    __slots__ = ("ids", "plan", "batch", "version", "touched")

    def __init__(self, ids, plan, batch, version, touched) -> None:
        self.ids, self.plan, self.batch, self.version, self.touched = ids, plan, batch, version, touched


class SalesforceEmulator(Emulator):
    system = "sf"

    def __init__(self, *, world: World, credentials, faults=None, clock=None, fixtures: dict | None = None,
                 schema: dict | None = None, **_settings) -> None:
        super().__init__(faults=faults, clock=clock)
        # `sfxero sandbox --schema FILE`: custom objects and fields beyond the shipped ones (ValueError names the key).
        self.base_schema = DEFAULT_SCHEMA.extended(schema, "--schema") if schema else DEFAULT_SCHEMA
        self.world = world
        self.credentials = credentials
        self.daily_limit = 100_000
        self.max_cursors = 10
        self.api_used = 0
        self._window_start = self.clock.time()
        self._fixtures = fixtures
        self._lock = threading.RLock()
        self._describe_cache: dict[tuple[str, str, str], bytes] = {}
        self.org = Org(self.clock.time, self.base_schema)
        self.sessions = Sessions(self)
        self.bulk = BulkJobs(self)
        self.bulk_v1 = BulkV1(self)
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self.seed_data()

    # -- Emulator contract ---------------------------------------------------------------------
    def seed_data(self) -> None:
        with self._lock:
            org_schema = self.base_schema
            if self._fixtures and self._fixtures.get("schema"):
                # A fixture file may carry its own custom objects (the --schema format) under salesforce.schema.
                org_schema = org_schema.extended(self._fixtures["schema"], "fixtures: salesforce.schema")
            self.org = Org(self.clock.time, org_schema)
            self._describe_cache.clear()
            self.cursors.clear()
            self.bulk = BulkJobs(self)
            self.bulk_v1 = BulkV1(self)
            self.api_used = 0
            self._window_start = self.clock.time()
            if self._fixtures is not None:
                load_fixtures(self.org, self._fixtures, self.credentials.sf_username)
            else:
                Seeder(self.org, self.world, self.credentials.sf_username, self.clock.time()).run()

    def load_fixtures(self, fixtures: dict) -> None:
        self._fixtures = fixtures or {}
        self.seed_data()

    def records(self, object_name: str) -> list[dict] | None:
        table = self.org.table(object_name)
        if table is None:
            return None
        return [table.to_dict(r) for r in list(table.rows.values())]

    def _wrap(self, template: str, handler: Handler) -> Handler:
        # simple-salesforce calls `query/`, `limits/`, `sobjects/Account/`...: count both spellings as one.
        return super()._wrap(template.rstrip("/") or "/", handler)

    def api_routes(self):
        routes = []
        data_routes = []  # what a /composite subrequest may reach: the plain data API, unwrapped

        def add(path: str, methods: list[str], handler, *, api: bool = True, slash: bool = True) -> None:
            wrapped = self._api(handler) if api else handler
            routes.append((path, methods, wrapped))
            if slash:
                routes.append((path + "/", methods, wrapped))
            if api and path.startswith(_DATA + "/") and path not in _NOT_SUBREQUESTS and "/jobs/" not in path:
                data_routes.extend([(path, methods, handler), (path + "/", methods, handler)])

        add("/services/oauth2/token", ["POST"], self.sessions.token, api=False)
        add("/services/oauth2/authorize", ["GET", "POST"], self.sessions.authorize, api=False)
        add("/services/oauth2/revoke", ["POST"], self.sessions.revoke, api=False)
        add("/services/data", ["GET"], self.h_versions, api=False)
        add(_DATA, ["GET"], self.h_resources)
        add(_DATA + "/limits", ["GET"], self.h_limits)
        add(_DATA + "/query", ["GET"], self.h_query)
        add(_DATA + "/queryAll", ["GET"], self.h_query_all)
        add(_DATA + "/query/{locator}", ["GET"], self.h_query_more)
        add(_DATA + "/queryAll/{locator}", ["GET"], self.h_query_more)
        add(_DATA + "/sobjects", ["GET"], self.h_describe_global)
        add(_DATA + "/sobjects/{sobject}/describe", ["GET"], self.h_describe)
        add(_DATA + "/sobjects/{sobject}/updated", ["GET"], self.h_updated)
        add(_DATA + "/sobjects/{sobject}/deleted", ["GET"], self.h_deleted)
        add(_DATA + "/sobjects/{sobject}", ["GET"], self.h_sobject_info)
        add(_DATA + "/sobjects/{sobject}", ["POST"], self.h_create)
        add(_DATA + "/sobjects/{sobject}/{record_id}", ["GET"], self.h_get)
        add(_DATA + "/sobjects/{sobject}/{record_id}", ["PATCH"], self.h_update)
        add(_DATA + "/sobjects/{sobject}/{record_id}", ["DELETE"], self.h_delete)
        add(_DATA + "/sobjects/{sobject}/{field}/{value}", ["GET"], self.h_get_by_external)
        add(_DATA + "/sobjects/{sobject}/{field}/{value}", ["PATCH"], self.h_upsert)
        add(_DATA + "/composite/sobjects", ["POST"], self.h_coll_create)
        add(_DATA + "/composite/sobjects", ["PATCH"], self.h_coll_update)
        add(_DATA + "/composite/sobjects", ["DELETE"], self.h_coll_delete)
        add(_DATA + "/composite/sobjects/{sobject}/{field}", ["PATCH"], self.h_coll_upsert)
        composite = Composite(self, Subrequests(data_routes, _version_ok))
        add(_DATA + "/composite", ["POST"], composite.composite)
        add(_DATA + "/composite", ["GET"], composite.resources)
        add(_DATA + "/composite/batch", ["POST"], composite.batch)
        add(_DATA + "/composite/tree/{sobject}", ["POST"], composite.tree)
        add(_DATA + "/composite/sobjects/{sobject}", ["GET"], composite.retrieve_get)
        add(_DATA + "/composite/sobjects/{sobject}", ["POST"], composite.retrieve_post)
        v1 = self._bulk_v1_handler

        def add_v1(path: str, methods: list[str], name: str) -> None:
            routes.append((_ASYNC + path, methods, self._api(v1(name), bulk_v1=True)))

        add_v1("/job", ["POST"], "create_job")
        add_v1("/job/{job_id}", ["GET"], "get_job")
        add_v1("/job/{job_id}", ["POST"], "update_job")
        add_v1("/job/{job_id}/batch", ["POST"], "add_batch")
        add_v1("/job/{job_id}/batch", ["GET"], "list_batches")
        add_v1("/job/{job_id}/batch/{batch_id}", ["GET"], "get_batch")
        add_v1("/job/{job_id}/batch/{batch_id}/request", ["GET"], "batch_request")
        add_v1("/job/{job_id}/batch/{batch_id}/result", ["GET"], "result_list")
        add_v1("/job/{job_id}/batch/{batch_id}/result/{result_id}", ["GET"], "result")
        add(_DATA + "/jobs/query", ["POST"], self._bulk_handler("create_query"))
        add(_DATA + "/jobs/query/{job_id}", ["GET"], self._bulk_handler("get_query"))
        add(_DATA + "/jobs/query/{job_id}", ["PATCH"], self._bulk_handler("abort_query"))
        add(_DATA + "/jobs/query/{job_id}", ["DELETE"], self._bulk_handler("delete_job"))
        add(_DATA + "/jobs/query/{job_id}/results", ["GET"], self._bulk_handler("query_results"))
        add(_DATA + "/jobs/ingest", ["POST"], self._bulk_handler("create_ingest"))
        add(_DATA + "/jobs/ingest/{job_id}", ["GET"], self._bulk_handler("get_ingest"))
        add(_DATA + "/jobs/ingest/{job_id}", ["PATCH"], self._bulk_handler("set_ingest_state"))
        add(_DATA + "/jobs/ingest/{job_id}", ["DELETE"], self._bulk_handler("delete_job"))
        add(_DATA + "/jobs/ingest/{job_id}/batches", ["PUT"], self._bulk_handler("upload"))
        add(_DATA + "/jobs/ingest/{job_id}/{kind}", ["GET"], self._bulk_handler("ingest_results"))
        return routes

    # Bulk handlers are looked up per call: a sandbox reset replaces self.bulk / self.bulk_v1 (and their jobs).
    def _bulk_handler(self, name: str):
        async def handler(request: Request, version: str) -> Response:
            return await getattr(self.bulk, name)(request, version)
        return handler

    def _bulk_v1_handler(self, name: str):
        async def handler(request: Request, version: str) -> Response:
            return await self.bulk_v1.dispatch(getattr(self.bulk_v1, name))(request, version)
        return handler

    # -- the API envelope ------------------------------------------------------------------------
    def _limit_header(self) -> dict:
        return {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.daily_limit}"}

    def _api(self, handler, *, bulk_v1: bool = False):
        """The envelope of every data call: session check, daily budget, version, injected faults.

        Bulk API 1.0 (`bulk_v1`) authenticates by `X-SFDC-Session` and answers errors in its own
        `exceptionCode` shape; it counts against the same daily budget.
        """
        def fail(request: Request, code: str, message: str, status: int, headers: dict | None = None) -> Response:
            if not bulk_v1:
                return _json([{"message": message, "errorCode": code}], status, headers)
            code, status = _BULK_V1_CODES.get(code, (code, status))
            out = bulk_v1_error(code, message, status, bulk_v1_wants_json(request))
            out.headers.update(headers or {})
            return out

        async def endpoint(request: Request) -> Response:
            auth = request.headers.get("authorization", "")
            token = auth.split(" ", 1)[1].strip() if " " in auth else ""
            bearer = auth.lower().startswith(("bearer ", "oauth "))
            if bulk_v1 and request.headers.get("x-sfdc-session"):
                token, bearer = request.headers["x-sfdc-session"].strip(), True
            if not bearer or not self.sessions.valid(token):
                message = "Invalid session id" if bulk_v1 else "Session expired or invalid"
                return fail(request, "INVALID_SESSION_ID", message, 401)
            if self.clock.time() - self._window_start >= 86_400:
                self._window_start, self.api_used = self.clock.time(), 0
            if self.api_used >= self.daily_limit:
                return fail(request, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", 403,
                            self._limit_header())
            self.api_used += 1
            headers = self._limit_header()
            version = request.path_params.get("version")
            if version is not None:
                if not _version_ok(version):
                    return fail(request, "NOT_FOUND", "The requested resource does not exist", 404, headers)
            if self.faults.roll("5xx"):
                if secrets.randbelow(2):
                    return fail(request, "SERVER_UNAVAILABLE", "Service temporarily unavailable", 503, headers)
                return fail(request, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId "
                            "if you contact support: 1797426141-62117 (-1150911468)", 500, headers)
            if self.faults.roll("503"):
                return fail(request, "SERVER_UNAVAILABLE", "Service temporarily unavailable", 503, headers)
            try:
                response = await handler(request, version or "59.0")
            except SfError as exc:
                return _json(exc.body(), exc.status, headers)
            response.headers.update(headers)
            return response
        return endpoint

    async def json_body(self, request: Request):
        raw = await request.body()
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise SfError("JSON_PARSER_ERROR", "Unexpected character: was expecting a JSON value") from None

    def _table(self, request: Request) -> Table:
        t = self.org.table(request.path_params["sobject"])
        if t is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        return t

    def _write_fault(self, rid: str = "") -> None:
        if self.faults.roll("lock"):
            raise SfError("UNABLE_TO_LOCK_ROW", f"unable to obtain exclusive access to this record or 1 records: {rid}")

    # -- misc ------------------------------------------------------------------------------------------
    async def h_versions(self, request: Request) -> Response:
        return _json([{"label": f"v{v}", "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                      for v in range(int(_MIN_VERSION), int(_MAX_VERSION) + 1)])

    async def h_resources(self, request: Request, version: str) -> Response:
        base = f"/services/data/v{version}"
        return _json({k: f"{base}/{k}" for k in ("sobjects", "query", "queryAll", "limits", "composite", "jobs")})

    async def h_limits(self, request: Request, version: str) -> Response:
        queries = sum(1 for j in self.bulk.jobs.values() if j["_kind"] == "query")
        return _json(org_limits(api_max=self.daily_limit, api_used=self.api_used,
                                bulk_batches_used=self.bulk_v1.batches_created, bulk_v2_query_jobs=queries))

    # -- query -----------------------------------------------------------------------------------------
    @staticmethod
    def _batch(request: Request, default: int = 2000) -> int:
        m = _BATCH.search(request.headers.get("sforce-query-options", ""))
        if not m:
            return default
        return max(200, min(2000, int(m.group(1))))

    def _page(self, cursor_id: str | None, rows: list[tuple], plan: Plan, version: str, total: int,
              next_offset: int | None) -> Response:
        records = [plan.render(r, version) for r in rows]
        if cursor_id and next_offset is not None and next_offset < total:
            return _json({"totalSize": total, "done": False,
                          "nextRecordsUrl": f"/services/data/v{version}/query/{cursor_id}-{next_offset}",
                          "records": records})
        return _json({"totalSize": total, "done": True, "records": records})

    def _run_query(self, request: Request, version: str, include_deleted: bool) -> Response:
        soql = request.query_params.get("q")
        if not soql:
            raise SfError("MALFORMED_QUERY", "A query string has to be specified")
        q = parse(soql)
        plan = Plan(self.org, q, self.clock.now())
        rows = plan.run(include_deleted)
        if q.count:
            return _json({"totalSize": len(rows), "done": True, "records": []})
        if q.count_field:
            get = plan.count_path.accessor()
            n = sum(1 for r in rows if get(r) is not None)
            return _json({"totalSize": 1, "done": True, "records": [
                {"attributes": {"type": "AggregateResult"}, "expr0": n}]})
        batch = self._batch(request)
        cursor_id = None
        if len(rows) > batch:
            cursor_id = "01g5Hs" + secrets.token_hex(5)[:9].upper() + "AA2"
            self.cursors[cursor_id] = Cursor([r[0] for r in rows], plan, batch, version, self.clock.time())
            while len(self.cursors) > self.max_cursors:
                self.cursors.popitem(last=False)
        return self._page(cursor_id, rows[:batch], plan, version, len(rows), batch)

    async def h_query(self, request: Request, version: str) -> Response:
        return self._run_query(request, version, False)

    async def h_query_all(self, request: Request, version: str) -> Response:
        return self._run_query(request, version, True)

    async def h_query_more(self, request: Request, version: str) -> Response:
        locator = request.path_params["locator"]
        cursor_id, _, offset_s = locator.rpartition("-")
        cursor = self.cursors.get(cursor_id)
        now = self.clock.time()
        if cursor is not None and now - cursor.touched > _CURSOR_IDLE_S:
            del self.cursors[cursor_id]
            cursor = None
        if cursor is None or not offset_s.isdigit() or int(offset_s) > len(cursor.ids):
            raise SfError("INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor.touched = now
        self.cursors.move_to_end(cursor_id)
        offset = int(offset_s)
        batch = self._batch(request, cursor.batch)
        rows_by_id = cursor.plan.table.rows
        page = [rows_by_id[i] for i in cursor.ids[offset:offset + batch] if i in rows_by_id]
        total = len(cursor.ids)
        if offset + batch >= total:
            self.cursors.pop(cursor_id, None)
        return self._page(cursor_id, page, cursor.plan, version, total, offset + batch)

    # -- describe --------------------------------------------------------------------------------------
    async def h_describe_global(self, request: Request, version: str) -> Response:
        return _json({"encoding": "UTF-8", "maxBatchSize": 200,
                      "sobjects": [o.describe_global_entry(version) for o in self.org.schema.objects.values()]})

    async def h_describe(self, request: Request, version: str) -> Response:
        t = self._table(request)
        instance_url = "https://" + (request.headers.get("host") or request.url.netloc)
        key = (t.obj.name, version, instance_url)
        if key not in self._describe_cache:
            self._describe_cache[key] = json.dumps(
                t.obj.describe(version, self.org.schema.child_relationships(t.obj.name), instance_url)).encode()
        return Response(self._describe_cache[key], media_type="application/json;charset=UTF-8")

    async def h_sobject_info(self, request: Request, version: str) -> Response:
        t = self._table(request)
        return _json({"objectDescribe": t.obj.describe_global_entry(version), "recentItems": []})

    # -- replication -----------------------------------------------------------------------------------
    def _window(self, request: Request, max_days: int) -> tuple[str, str, str]:
        start = parse_dt(unquote(request.query_params.get("start", "")).replace(" ", "+"))
        end = parse_dt(unquote(request.query_params.get("end", "")).replace(" ", "+"))
        if not start or not end:
            raise SfError("MALFORMED_QUERY", "start and end must be ISO 8601 dateTimes")
        # Seconds are truncated to the minute (doc §2.6).
        start, end = start[:16] + ":00.000+0000", end[:16] + ":00.000+0000"
        now = fmt_dt(self.clock.time())
        earliest = fmt_dt(self.clock.time() - max_days * 86_400)
        if start >= end:
            raise SfError("INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate by more than one minute")
        if start < earliest[:16] + ":00.000+0000":
            raise SfError("INVALID_REPLICATION_DATE", f"startDate cannot be more than {max_days} days ago")
        latest = min(end, now[:16] + ":00.000+0000")
        return start, end, latest

    async def h_updated(self, request: Request, version: str) -> Response:
        t = self._table(request)
        start, end, latest = self._window(request, 30)
        sm = t.pos["systemmodstamp"]
        ids = [rid for rid, r in t.rows.items() if not r[1] and start <= r[sm] < end]
        if len(ids) > 600_000:
            raise SfError("EXCEEDED_ID_LIMIT", "too many ids: use a smaller window")
        return _json({"ids": ids, "latestDateCovered": latest})

    async def h_deleted(self, request: Request, version: str) -> Response:
        t = self._table(request)
        start, end, latest = self._window(request, 15)
        rows = [{"id": rid, "deletedDate": when} for rid, when in self.org.deleted_log[t.obj.name]
                if start <= when < end]
        earliest = fmt_dt(self.clock.time() - 15 * 86_400)
        return _json({"deletedRecords": rows, "earliestDateAvailable": earliest, "latestDateCovered": latest})

    # -- single records --------------------------------------------------------------------------------
    def _full_record(self, t: Table, row: tuple, version: str, fields: str | None = None) -> dict:
        names = [f.name for f in t.obj.fields]
        if fields:
            wanted = {f.strip().lower() for f in fields.split(",")}
            names = [n for n in names if n.lower() in wanted]
        soql = f"SELECT {', '.join(names)} FROM {t.obj.name}"
        plan = Plan(self.org, parse(soql), self.clock.now())
        return plan.render(row, version)

    async def h_get(self, request: Request, version: str) -> Response:
        t = self._table(request)
        rid = normalize_id(request.path_params["record_id"])
        row = t.live(rid) if rid else None
        if row is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        return _json(self._full_record(t, row, version, request.query_params.get("fields")))

    async def h_create(self, request: Request, version: str) -> Response:
        t = self._table(request)
        body = await self.json_body(request)
        self._write_fault()
        rid = self.org.create(t.obj.name, body)
        return _json({"id": rid, "success": True, "errors": []}, 201,
                     {"Location": f"/services/data/v{version}/sobjects/{t.obj.name}/{rid}"})

    async def h_update(self, request: Request, version: str) -> Response:
        t = self._table(request)
        body = await self.json_body(request)
        rid = request.path_params["record_id"]
        self._write_fault(rid)
        self.org.update(t.obj.name, rid, body)
        return Response(status_code=204)

    async def h_delete(self, request: Request, version: str) -> Response:
        t = self._table(request)
        rid = request.path_params["record_id"]
        self._write_fault(rid)
        self.org.delete(t.obj.name, rid)
        return Response(status_code=204)

    def _ext_field(self, t: Table, name: str) -> str:
        f = t.obj.field(name)
        if f is None or not (f.external_id or f.name == "Id"):
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        return f.name

    async def h_get_by_external(self, request: Request, version: str) -> Response:
        t = self._table(request)
        fname = self._ext_field(t, request.path_params["field"])
        matches = self.org.find_external(t.obj.name, fname, request.path_params["value"])
        if not matches:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        if len(matches) > 1:
            return _json([f"/services/data/v{version}/sobjects/{t.obj.name}/{m}" for m in matches], 300)
        return _json(self._full_record(t, t.rows[matches[0]], version))

    async def h_upsert(self, request: Request, version: str) -> Response:
        t = self._table(request)
        fname = self._ext_field(t, request.path_params["field"])
        value = request.path_params["value"]
        body = await self.json_body(request)
        if "Id" in body or "id" in body:
            raise SfError("INVALID_FIELD", "Unable to create/update fields: Id. Please check the security settings "
                          "of this field and verify that it is read/write for your profile or permission set.", ["Id"])
        matches = self.org.find_external(t.obj.name, fname, value)
        if len(matches) > 1:
            # The 300 body lists the matching records' URLs (SS raises SalesforceMoreThanOneRecord).
            return _json([f"/services/data/v{version}/sobjects/{t.obj.name}/{m}" for m in matches], 300)
        modern = float(version) >= 46.0
        self._write_fault(matches[0] if matches else "")
        if matches:
            self.org.update(t.obj.name, matches[0], {k: v for k, v in body.items() if k.lower() != fname.lower()})
            if not modern:
                return Response(status_code=204)
            return _json({"id": matches[0], "success": True, "errors": [], "created": False}, 200)
        if request.query_params.get("updateOnly", "").lower() == "true":
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        data = dict(body)
        if fname != "Id":
            data[fname] = value
        rid = self.org.create(t.obj.name, data)
        out = {"id": rid, "success": True, "errors": []}
        if modern:
            out["created"] = True
        return _json(out, 201, {"Location": f"/services/data/v{version}/sobjects/{t.obj.name}/{rid}"})

    # -- sObject Collections ---------------------------------------------------------------------------
    def _collection(self, items: list, all_or_none: bool, apply) -> Response:
        if len(items) > 200:
            raise SfError("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
        results: list[dict] = []
        failed = False
        if all_or_none:
            self.org.begin()
        try:
            for item in items:
                try:
                    if self.faults.roll("lock"):
                        raise SfError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records")
                    results.append({"success": True, "errors": [], **apply(item)})
                except SfError as exc:
                    failed = True
                    rid = item.get("Id") if isinstance(item, dict) else item
                    results.append({"id": rid if isinstance(rid, str) else None, "success": False,
                                    "errors": [exc.item()]})
                    if all_or_none:
                        break
        except BaseException:
            if all_or_none:
                self.org.rollback()
            raise
        if all_or_none and failed:
            self.org.rollback()
            rolled = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because "
                      "not all records were valid and the request was using AllOrNone header", "fields": []}
            out = []
            for i, item in enumerate(items):
                if i < len(results) and not results[i]["success"]:
                    out.append(results[i])
                else:
                    rid = item.get("Id") if isinstance(item, dict) else item
                    out.append({"id": rid if isinstance(rid, str) else None, "success": False, "errors": [rolled]})
            results = out
        elif all_or_none:
            self.org.commit()
        return _json(results)

    def _type_of(self, item: dict, default: str | None = None) -> str:
        attrs = item.get("attributes") if isinstance(item, dict) else None
        name = (attrs or {}).get("type") or default
        if not name or self.org.schema.sobject(name) is None:
            raise SfError("INVALID_TYPE", "Must send a concrete entity type.")
        return name

    async def h_coll_create(self, request: Request, version: str) -> Response:
        body = await self.json_body(request)
        items = body.get("records") or []

        def apply(item):
            if item.get("Id"):
                raise SfError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            return {"id": self.org.create(self._type_of(item), item)}
        return self._collection(items, bool(body.get("allOrNone")), apply)

    async def h_coll_update(self, request: Request, version: str) -> Response:
        body = await self.json_body(request)
        items = body.get("records") or []

        def apply(item):
            rid = item.get("Id")
            if not rid:
                raise SfError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            name = self._type_of(item)
            nid = normalize_id(rid)
            if nid is None:
                raise SfError("MALFORMED_ID", f"Id: id value of incorrect type: {rid}", ["Id"])
            try:
                self.org.update(name, nid, {k: v for k, v in item.items() if k != "Id"})
            except SfError as exc:
                if exc.code == "NOT_FOUND":
                    raise SfError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []) from None
                raise
            return {"id": nid}
        return self._collection(items, bool(body.get("allOrNone")), apply)

    async def h_coll_delete(self, request: Request, version: str) -> Response:
        ids = [i for i in (request.query_params.get("ids") or "").split(",") if i]
        all_or_none = request.query_params.get("allOrNone", "false").lower() == "true"

        def apply(rid):
            nid = normalize_id(rid)
            name = self.org.object_of_id(nid) if nid else None
            if not name:
                raise SfError("MALFORMED_ID", f"malformed id {rid}", [])
            try:
                self.org.delete(name, nid)
            except SfError as exc:
                if exc.code == "NOT_FOUND":
                    raise SfError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []) from None
                raise
            return {"id": nid}
        return self._collection(ids, all_or_none, apply)

    async def h_coll_upsert(self, request: Request, version: str) -> Response:
        t = self._table(request)
        fname = self._ext_field(t, request.path_params["field"])
        body = await self.json_body(request)
        items = body.get("records") or []

        def apply(item):
            self._type_of(item, t.obj.name)
            value = item.get(fname)
            if value in (None, ""):
                raise SfError("MISSING_ARGUMENT", f"{fname} not specified", [fname])
            matches = self.org.find_external(t.obj.name, fname, str(value))
            if len(matches) > 1:
                raise SfError("DUPLICATE_EXTERNAL_ID", f"{fname}: more than one record found for external id field: "
                              f"{matches}", [fname])
            data = {k: v for k, v in item.items() if k not in ("Id",)}
            if matches:
                self.org.update(t.obj.name, matches[0], {k: v for k, v in data.items() if k != fname})
                return {"id": matches[0], "created": False}
            return {"id": self.org.create(t.obj.name, data), "created": True}
        return self._collection(items, bool(body.get("allOrNone")), apply)
