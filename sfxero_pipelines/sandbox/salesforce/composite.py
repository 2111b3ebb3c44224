"""The Composite resources: `/composite`, `/composite/batch`, `/composite/tree` and Collections retrieve.

Contract (as the real API documents it):
- Each resource is ONE API call (`Sforce-Limit-Info`, `/limits` DailyApiRequests), however many
  subrequests it carries; subrequests run in-process through the same handlers as direct calls,
  so they answer exactly what the direct call would.
- `POST /composite`: up to 25 subrequests (at most 5 of them query, queryAll or Collections), each `{method, url, referenceId, body?, httpHeaders?}`.
  `@{ref.field}` (also `@{ref.records[0].Id}`) in a later subrequest's url or body is replaced
  by the value from an earlier subrequest's response body. `allOrNone: true`: the first
  subrequest that fails (status >= 400) rolls back every write of the request, earlier ones
  report 400 PROCESSING_HALTED and later ones are not run (400 PROCESSING_HALTED); without it,
  only subrequests referring to a failed one fail. The answer is always 200
  `{"compositeResponse": [{"body", "httpHeaders", "httpStatusCode", "referenceId"}]}`.
- `POST /composite/batch`: up to 25 independent subrequests `{method, url: "vNN.N/...", richInput?}`;
  `haltOnError: true` answers 412 BATCH_PROCESSING_HALTED for every subrequest after the first
  failure. Answer: 200 `{"hasErrors", "results": [{"statusCode", "result"}]}`.
- `POST /composite/tree/{sobject}`: up to 200 records in trees up to 5 levels deep (children under
  their relationship name, `{"Contacts": {"records": [...]}}`, linked to the parent by its lookup),
  all or nothing: 201 `{"hasErrors": false, "results": [{"referenceId", "id"}]}` or 400 with the
  failing records' `errors`.
- `GET /composite/sobjects/{sobject}?ids=&fields=` (and the POST form with a JSON `{ids, fields}`):
  up to 2,000 records in `ids` order, `null` for an id that holds no live record.
A malformed envelope (too many subrequests, missing method/url/referenceId, duplicate referenceId)
is a 400 for the whole request and nothing runs.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path

from .soql import Plan, parse
from .store import SfError, normalize_id

MAX_SUBREQUESTS = 25
MAX_RETRIEVE_IDS = 2000
MAX_TREE_RECORDS, MAX_TREE_DEPTH = 200, 5
MAX_QUERY_OR_COLLECTION = 5  # of a /composite's 25 subrequests, at most 5 may be query/queryAll/Collections
_HEAVY = re.compile(r"^/services/data/v[\d.]+/(query|queryAll|composite/sobjects)(/|$)")
_REF = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])+)\}")
_REFERENCE_ID = re.compile(r"[A-Za-z0-9_]+")
_DATA_PATH = re.compile(r"^/services/data/v(\d+\.\d)(/.*)?$")
_METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"}
_ROLLED_BACK = [{"errorCode": "PROCESSING_HALTED",
                 "message": "The transaction was rolled back since another operation in the same transaction failed."}]
_HALTED = [{"errorCode": "BATCH_PROCESSING_HALTED", "message": "Batch processing halted per request"}]


def _json(obj, status: int = 200) -> Response:
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json;charset=UTF-8")


class Subrequests:
    """Runs a data-API request in-process, through the handler a direct call would reach."""

    def __init__(self, routes: list[tuple[str, list[str], Any]], version_ok) -> None:
        self.version_ok = version_ok
        self._declared = routes  # filled in as the emulator declares its routes: compiled on first use
        self._routes: list | None = None

    @property
    def routes(self) -> list:
        if self._routes is None:
            self._routes = [(compile_path(path)[0], set(methods), handler, compile_path(path)[2])
                            for path, methods, handler in self._declared]
        return self._routes

    async def call(self, method: str, url: str, body: Any = None,
                   headers: dict | None = None) -> tuple[int, dict, Any]:
        """(status, response headers, parsed body) for one subrequest."""
        parts = urlsplit(url)
        path = unquote(parts.path)
        m = _DATA_PATH.match(path)
        if not m or not self.version_ok(m.group(1)):
            return 404, {}, SfError("NOT_FOUND", "The requested resource does not exist", status=404).body()
        allowed = False
        for regex, methods, handler, convertors in self.routes:
            match = regex.match(path)
            if not match:
                continue
            if method not in methods:
                allowed = True
                continue
            params = {k: convertors[k].convert(v) for k, v in match.groupdict().items()}
            return await self._run(handler, method, path, parts.query, params, body, headers or {})
        if allowed:
            return 405, {}, [{"errorCode": "METHOD_NOT_ALLOWED",
                              "message": f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH,POST,DELETE"}]
        return 404, {}, SfError("NOT_FOUND", "The requested resource does not exist", status=404).body()

    @staticmethod
    async def _run(handler, method, path, query, params, body, headers) -> tuple[int, dict, Any]:
        raw = b"" if body is None else json.dumps(body).encode("utf-8")
        hdrs = [(b"content-type", b"application/json")]
        hdrs += [(k.lower().encode(), str(v).encode()) for k, v in headers.items()]
        scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "root_path": "",
                 "query_string": query.encode(), "headers": hdrs, "path_params": params, "scheme": "https",
                 "server": ("sandbox", 443), "http_version": "1.1"}
        sent = False

        async def receive():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        try:
            response = await handler(Request(scope, receive), params["version"])
        except SfError as exc:
            return exc.status, {}, exc.body()
        location = response.headers.get("location")
        out_headers = {"Location": location} if location else {}
        payload = None
        if response.body:
            try:
                payload = json.loads(response.body)
            except ValueError:
                payload = response.body.decode("utf-8", "replace")
        return response.status_code, out_headers, payload


def _count_tree(records: list, depth: int) -> int:
    if depth > MAX_TREE_DEPTH:
        raise SfError("INVALID_INPUT", f"A tree request nests records at most {MAX_TREE_DEPTH} levels deep")
    total = 0
    for rec in records:
        if not isinstance(rec, dict):
            raise SfError("JSON_PARSER_ERROR", "every record must be a JSON object")
        total += 1
        for v in rec.values():
            if isinstance(v, dict) and isinstance(v.get("records"), list):
                total += _count_tree(v["records"], depth + 1)
    return total


def _lookup(value: Any, path: str) -> Any:
    """`.id`, `.records[0].Id`... into a response body; KeyError when there is nothing there."""
    for name, index in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        if index:
            if not isinstance(value, list) or int(index) >= len(value):
                raise KeyError(path)
            value = value[int(index)]
        else:
            if not isinstance(value, dict):
                raise KeyError(path)
            hit = [k for k in value if k.lower() == name.lower()]
            if not hit:
                raise KeyError(path)
            value = value[hit[0]]
    if value is None:
        raise KeyError(path)
    return value


class _Unresolved(Exception):
    def __init__(self, expr: str, ref: str) -> None:
        super().__init__(expr)
        self.expr, self.ref = expr, ref


def _substitute(value: Any, done: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, done) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, done) for v in value]
    if not isinstance(value, str) or "@{" not in value:
        return value

    def one(m: re.Match) -> Any:
        ref, path = m.group(1), m.group(2)
        if ref not in done:
            raise _Unresolved(m.group(0)[2:-1], ref)
        try:
            return _lookup(done[ref], path)
        except KeyError:
            raise _Unresolved(m.group(0)[2:-1], ref) from None

    whole = _REF.fullmatch(value)
    if whole:  # a lone reference keeps the referenced value's JSON type
        return one(whole)
    return _REF.sub(lambda m: str(one(m)), value)


class Composite:
    def __init__(self, emulator, subrequests: Subrequests) -> None:
        self.emu = emulator
        self.sub = subrequests

    @staticmethod
    def _envelope(items: Any, key: str) -> list[dict]:
        if not isinstance(items, list) or not items:
            raise SfError("JSON_PARSER_ERROR", f"{key} is required and must be a non-empty array")
        if len(items) > MAX_SUBREQUESTS:
            raise SfError("LIMIT_EXCEEDED", f"Limit Exceeded: the number of subrequests ({len(items)}) exceeds "
                          f"the limit of {MAX_SUBREQUESTS}")
        for item in items:
            if not isinstance(item, dict) or not item.get("url") or str(item.get("method", "")).upper() not in _METHODS:
                raise SfError("INVALID_FIELD", "Every subrequest needs a url and a valid method")
        return items

    # -- /composite ------------------------------------------------------------------------------
    async def composite(self, request: Request, version: str) -> Response:
        body = await self.emu.json_body(request)
        items = self._envelope(body.get("compositeRequest") if isinstance(body, dict) else None, "compositeRequest")
        seen: set[str] = set()
        for item in items:
            ref = item.get("referenceId")
            if not isinstance(ref, str) or not _REFERENCE_ID.fullmatch(ref):
                raise SfError("INVALID_FIELD", f"Invalid referenceId: {ref!r}: use letters, digits and underscores")
            if ref in seen:
                raise SfError("DUPLICATE_VALUE", f"Duplicate referenceId provided in the request: {ref}")
            seen.add(ref)
        heavy = sum(1 for item in items if _HEAVY.match(urlsplit(str(item["url"])).path))
        if heavy > MAX_QUERY_OR_COLLECTION:
            raise SfError("LIMIT_EXCEEDED", f"Limit Exceeded: a composite request takes up to "
                          f"{MAX_QUERY_OR_COLLECTION} query or sObject Collections subrequests, this one has {heavy}")
        all_or_none = bool(body.get("allOrNone"))
        # The transaction stays ours alone: subrequest handlers never suspend (no I/O, no sleeps), so no
        # other request runs on the event loop between `begin` and `commit`/`rollback`.
        done: dict[str, Any] = {}  # referenceId -> body of a successful subrequest
        out: list[dict] = []
        if all_or_none:
            self.emu.org.begin()
        failed = False
        try:
            for item in items:
                ref = item["referenceId"]
                if failed and all_or_none:
                    out.append({"body": _ROLLED_BACK, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref})
                    continue
                try:
                    url = _substitute(item["url"], done)
                    payload = _substitute(item.get("body"), done)
                except _Unresolved as exc:
                    status, headers, result = 400, {}, [{
                        "errorCode": "PROCESSING_HALTED",
                        "message": f"Invalid reference specified. No value for {exc.expr} found in {exc.ref}. "
                                   f"Provided referenceId ('{exc.ref}') must be the referenceId of a previous "
                                   "successful subrequest."}]
                else:
                    status, headers, result = await self.sub.call(item["method"].upper(), str(url), payload,
                                                                  item.get("httpHeaders"))
                if status < 400:
                    done[ref] = result
                else:
                    failed = True
                out.append({"body": result, "httpHeaders": headers, "httpStatusCode": status, "referenceId": ref})
        except BaseException:
            if all_or_none:
                self.emu.org.rollback()
            raise
        if all_or_none and failed:
            self.emu.org.rollback()
            for entry in out:
                if entry["httpStatusCode"] < 400:
                    entry.update(body=_ROLLED_BACK, httpHeaders={}, httpStatusCode=400)
        elif all_or_none:
            self.emu.org.commit()
        return _json({"compositeResponse": out})

    async def resources(self, request: Request, version: str) -> Response:
        base = f"/services/data/v{version}/composite"
        return _json({"tree": base + "/tree", "batch": base + "/batch", "sobjects": base + "/sobjects"})

    # -- /composite/batch ------------------------------------------------------------------------
    async def batch(self, request: Request, version: str) -> Response:
        body = await self.emu.json_body(request)
        items = self._envelope(body.get("batchRequests") if isinstance(body, dict) else None, "batchRequests")
        halt = bool(body.get("haltOnError"))
        results, has_errors = [], False
        for item in items:
            if halt and has_errors:
                results.append({"statusCode": 412, "result": _HALTED})
                continue
            url = item["url"].lstrip("/")
            # Batch urls are relative to /services/data ("v59.0/sobjects/..."); the full path works too.
            url = "/" + url if url.startswith("services/data/") else "/services/data/" + url
            status, _, result = await self.sub.call(item["method"].upper(), url, item.get("richInput"))
            has_errors = has_errors or status >= 400
            results.append({"statusCode": status, "result": result})
        return _json({"hasErrors": has_errors, "results": results})

    # -- /composite/tree/{sobject} --------------------------------------------------------------------
    async def tree(self, request: Request, version: str) -> Response:
        obj = self.emu.org.table(request.path_params["sobject"])
        if obj is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        body = await self.emu.json_body(request)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not records:
            raise SfError("JSON_PARSER_ERROR", "records is required and must be a non-empty array")
        total = _count_tree(records, 1)
        if total > MAX_TREE_RECORDS:
            raise SfError("LIMIT_EXCEEDED", f"Limit Exceeded: a tree request takes up to {MAX_TREE_RECORDS} "
                          f"records, this one has {total}")
        org = self.emu.org
        created: list[dict] = []
        failed: list[dict] = []

        def insert(rec: dict, obj_name: str, fk: str | None, parent_id: str | None) -> None:
            attrs = rec.get("attributes") if isinstance(rec.get("attributes"), dict) else {}
            ref = attrs.get("referenceId")
            try:
                if attrs.get("type", "").lower() != obj_name.lower():
                    raise SfError("INVALID_TYPE", f"The record type must be {obj_name}, not {attrs.get('type')}")
                children = {k: v for k, v in rec.items() if isinstance(v, dict) and "records" in v}
                data = {k: v for k, v in rec.items() if k != "attributes" and k not in children}
                if fk:
                    data[fk] = parent_id
                rid = org.create(obj_name, data)
            except SfError as exc:
                failed.append({"referenceId": ref, "errors": [exc.item()]})
                return
            created.append({"referenceId": ref, "id": rid})
            relationships = {c["relationshipName"].lower(): c for c in org.schema.child_relationships(obj_name)}
            for name, nested in children.items():
                rel = relationships.get(name.lower())
                if rel is None:
                    failed.append({"referenceId": ref, "errors": [SfError(
                        "INVALID_FIELD", f"No such child relationship '{name}' on {obj_name}").item()]})
                    continue
                for child in nested.get("records") or []:
                    insert(child, rel["childSObject"], rel["field"], rid)

        # All or nothing, as the real resource is; handlers never suspend, so the transaction is ours alone.
        org.begin()
        try:
            for rec in records:
                insert(rec, obj.obj.name, None, None)
        except BaseException:
            org.rollback()
            raise
        if failed:
            org.rollback()
            return _json({"hasErrors": True, "results": failed}, 400)
        org.commit()
        return _json({"hasErrors": False, "results": created}, 201)

    # -- /composite/sobjects/{sobject} retrieve ------------------------------------------------------
    async def retrieve_get(self, request: Request, version: str) -> Response:
        ids = [i for i in (request.query_params.get("ids") or "").split(",") if i]
        fields = [f for f in (request.query_params.get("fields") or "").split(",") if f]
        return self._retrieve(request.path_params["sobject"], ids, fields, version)

    async def retrieve_post(self, request: Request, version: str) -> Response:
        body = await self.emu.json_body(request)
        ids, fields = body.get("ids"), body.get("fields")
        if not isinstance(ids, list) or not isinstance(fields, list):
            raise SfError("JSON_PARSER_ERROR", "ids and fields must be arrays")
        return self._retrieve(request.path_params["sobject"], [str(i) for i in ids], [str(f) for f in fields],
                              version)

    def _retrieve(self, sobject: str, ids: list[str], fields: list[str], version: str) -> Response:
        table = self.emu.org.table(sobject)
        if table is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        if not ids:
            raise SfError("MISSING_ARGUMENT", "ids is required", ["ids"])
        if not fields:
            raise SfError("MISSING_ARGUMENT", "fields is required", ["fields"])
        if len(ids) > MAX_RETRIEVE_IDS:
            raise SfError("EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {MAX_RETRIEVE_IDS} "
                          "records into this call")
        # Binding a SELECT gives the same INVALID_FIELD answer for a bad field name as a query would.
        plan = Plan(self.emu.org, parse(f"SELECT {', '.join(f.strip() for f in fields)} FROM {table.obj.name}"),
                    self.emu.clock.now())
        out = []
        for rid in ids:
            nid = normalize_id(rid.strip())
            if nid is None:
                raise SfError("MALFORMED_ID", f"malformed id {rid}", ["Id"])
            row = table.live(nid)
            out.append(plan.render(row, version) if row is not None else None)
        return _json(out)
