"""Bulk API 2.0 query and ingest jobs (as the real API documents it).

Query: POST jobs/query -> `UploadComplete`; the query runs at creation and the first poll reports
`JobComplete`; results are CSV pages (`?maxRecords=&locator=`) with `Sforce-NumberOfRecords` and
`Sforce-Locator` (the literal `null` on the last page); columns in SELECT order; empty cell = null.
Unsupported in Bulk: COUNT/aggregates, OFFSET, compound fields (FUNCTIONALITY_NOT_ENABLED).
Ingest: POST jobs/ingest -> `Open`; PUT .../batches (CSV) -> 201; PATCH state UploadComplete
processes every row (an empty cell leaves a field unchanged, `#N/A` nulls it); successfulResults
(`sf__Id,sf__Created,...`), failedResults (`sf__Id,sf__Error,...`), unprocessedrecords.
"""

from __future__ import annotations

import base64
import csv
import io
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .soql import Plan, parse
from .store import SfError, fmt_dt, normalize_id

_DEFAULT_PAGE = 50_000


def csv_value(v) -> str:
    """A value as a Bulk CSV cell: empty for null, true/false, Z-suffixed datetimes."""
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        return repr(v) if v != int(v) else f"{v:.1f}"
    if isinstance(v, str) and len(v) == 28 and v.endswith("+0000") and v[10] == "T":
        return v[:23] + "Z"  # Bulk CSV datetimes are Z-suffixed
    if isinstance(v, dict):
        return ""
    return str(v)


def bulk_query_plan(org, soql: str, now) -> Plan:
    """A bound query that Bulk (1.0 and 2.0) accepts: no aggregates, OFFSET or compound fields."""
    q = parse(soql)
    plan = Plan(org, q, now)
    if q.count or q.count_field:
        raise SfError("API_ERROR", "Aggregate queries are not supported by Bulk API")
    if q.offset is not None:
        raise SfError("API_ERROR", "OFFSET is not supported by Bulk API")
    if any(p.parts is not None for p in plan.paths):
        raise SfError("FUNCTIONALITY_NOT_ENABLED", "Selecting compound data not supported in Bulk Query")
    return plan


def _csv(rows: list[list], header: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


class BulkJobs:
    def __init__(self, emulator) -> None:
        self.emu = emulator
        self.jobs: dict[str, dict] = {}
        self.counter = 0

    def _new_id(self) -> str:
        from .store import id18
        self.counter += 1
        return id18(f"7505Hs{self.counter:09d}")

    def _info(self, job: dict) -> dict:
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def _job(self, request: Request, kind: str) -> dict:
        job = self.jobs.get(request.path_params["job_id"])
        if job is None or job["_kind"] != kind:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        return job

    # -- query -------------------------------------------------------------------------------------
    async def create_query(self, request: Request, version: str) -> Response:
        body = await self.emu.json_body(request)
        op = body.get("operation", "query")
        if op not in ("query", "queryAll"):
            raise SfError("INVALIDJOB", f"Invalid operation '{op}' for a query job")
        plan = bulk_query_plan(self.emu.org, body.get("query") or "", self.emu.clock.now())
        rows = plan.run(op == "queryAll")
        now = fmt_dt(self.emu.clock.time())
        job = {
            "id": self._new_id(), "operation": op, "object": plan.obj.name, "createdById": self.emu.org.user_id,
            "createdDate": now, "systemModstamp": now, "state": "UploadComplete", "concurrencyMode": "Parallel",
            "contentType": "CSV", "apiVersion": float(version), "lineEnding": body.get("lineEnding", "LF"),
            "columnDelimiter": body.get("columnDelimiter", "COMMA"),
            "_kind": "query", "_ids": [r[0] for r in rows], "_plan": plan,
        }
        self.jobs[job["id"]] = job
        return JSONResponse(self._info(job))

    async def get_query(self, request: Request, version: str) -> Response:
        job = self._job(request, "query")
        if job["state"] in ("UploadComplete", "InProgress"):
            job["state"] = "JobComplete"
            job["numberRecordsProcessed"] = len(job["_ids"])
            job["retries"] = 0
            job["totalProcessingTime"] = 1
        return JSONResponse(self._info(job))

    async def abort_query(self, request: Request, version: str) -> Response:
        job = self._job(request, "query")
        body = await self.emu.json_body(request)
        if body.get("state") != "Aborted":
            raise SfError("INVALIDJOBSTATE", "Only Aborted can be set on a query job")
        if job["state"] not in ("JobComplete", "Failed"):
            job["state"] = "Aborted"
        return JSONResponse(self._info(job))

    async def delete_job(self, request: Request, version: str) -> Response:
        job = self.jobs.get(request.path_params["job_id"])
        if job is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        del self.jobs[job["id"]]
        return Response(status_code=204)

    async def query_results(self, request: Request, version: str) -> Response:
        job = self._job(request, "query")
        if job["state"] != "JobComplete":
            raise SfError("JOB_NOT_COMPLETE", "The job is not complete yet", status=412 if job["state"] != "Aborted" else 400)
        try:
            max_records = int(request.query_params.get("maxRecords") or _DEFAULT_PAGE)
        except ValueError:
            raise SfError("INVALIDREQUEST", "maxRecords must be a positive integer") from None
        if max_records <= 0:
            raise SfError("INVALIDREQUEST", "maxRecords must be a positive integer")
        locator = request.query_params.get("locator") or ""
        start = 0
        if locator and locator != "null":
            try:
                start = int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
            except (ValueError, UnicodeDecodeError):
                raise SfError("INVALIDLOCATOR", f"Invalid locator: {locator}") from None
        ids = job["_ids"][start:start + max_records]
        plan: Plan = job["_plan"]
        rows_by_id = plan.table.rows
        out = []
        for rid in ids:
            row = rows_by_id.get(rid)
            if row is not None:
                out.append([csv_value(v) for v in plan.csv_row(row)])
        end = start + len(ids)
        next_loc = base64.b64encode(str(end).encode()).decode().rstrip("=") if end < len(job["_ids"]) else "null"
        return Response(_csv(out, plan.csv_columns()), media_type="text/csv",
                         headers={"Sforce-NumberOfRecords": str(len(out)), "Sforce-Locator": next_loc})

    # -- ingest ------------------------------------------------------------------------------------
    async def create_ingest(self, request: Request, version: str) -> Response:
        body = await self.emu.json_body(request)
        obj = self.emu.org.schema.sobject(body.get("object") or "")
        if obj is None:
            raise SfError("INVALIDENTITY", f"Entity '{body.get('object')}' is not supported by the Bulk API.")
        op = body.get("operation")
        if op not in ("insert", "update", "upsert", "delete", "hardDelete"):
            raise SfError("INVALIDJOB", f"Invalid operation '{op}'")
        ext = body.get("externalIdFieldName")
        if op == "upsert":
            f = obj.field(ext or "")
            if f is None or not (f.external_id or f.name == "Id"):
                raise SfError("INVALIDJOB", f"External ID was blank or not a valid external id field for {obj.name}: {ext}")
            ext = f.name
        now = fmt_dt(self.emu.clock.time())
        job = {
            "id": self._new_id(), "operation": op, "object": obj.name, "createdById": self.emu.org.user_id,
            "createdDate": now, "systemModstamp": now, "state": "Open", "externalIdFieldName": ext,
            "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(version),
            "contentUrl": f"services/data/v{version}/jobs/ingest/JOBID/batches", "lineEnding": body.get("lineEnding", "LF"),
            "columnDelimiter": body.get("columnDelimiter", "COMMA"),
            "_kind": "ingest", "_data": [], "_ok": [], "_failed": [], "_header": None,
        }
        job["contentUrl"] = job["contentUrl"].replace("JOBID", job["id"])
        self.jobs[job["id"]] = job
        return JSONResponse(self._info(job))

    async def upload(self, request: Request, version: str) -> Response:
        job = self._job(request, "ingest")
        if job["state"] != "Open":
            raise SfError("INVALIDJOBSTATE", "Job is not open for uploads", status=409)
        text = (await request.body()).decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text))
        try:
            header = next(reader)
        except StopIteration:
            raise SfError("INVALIDREQUEST", "Empty CSV upload") from None
        if job["_header"] is not None and header != job["_header"]:
            raise SfError("INVALIDREQUEST", "All uploads of a job must have the same header")
        job["_header"] = header
        job["_data"].extend(reader)
        return Response(status_code=201)

    async def set_ingest_state(self, request: Request, version: str) -> Response:
        job = self._job(request, "ingest")
        body = await self.emu.json_body(request)
        state = body.get("state")
        if state == "Aborted":
            if job["state"] in ("Open", "UploadComplete", "InProgress"):
                job["state"] = "Aborted"
            return JSONResponse(self._info(job))
        if state != "UploadComplete" or job["state"] != "Open":
            raise SfError("INVALIDJOBSTATE", f"Cannot set state {state} on a job in state {job['state']}", status=409)
        self._process(job)
        return JSONResponse(self._info(job))

    def _process(self, job: dict) -> None:
        org, obj_name, op, ext = self.emu.org, job["object"], job["operation"], job["externalIdFieldName"]
        header = job["_header"] or []
        for row in job["_data"]:
            rec = dict(zip(header, row))
            try:
                if self.emu.faults.roll("lock"):
                    raise SfError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
                created = False
                if op == "insert":
                    rid, created = org.create(obj_name, {k: v for k, v in rec.items() if v != ""}, bulk=True), True
                elif op in ("update", "delete", "hardDelete"):
                    rid = normalize_id(rec.get("Id", ""))
                    if rid is None:
                        raise SfError("MALFORMED_ID", f"Id: invalid id: {rec.get('Id', '')}", ["Id"])
                    if op == "update":
                        org.update(obj_name, rid, {k: v for k, v in rec.items() if k != "Id"}, bulk=True)
                    else:
                        org.delete(obj_name, rid)
                else:
                    value = rec.get(ext, "")
                    if not value:
                        raise SfError("MISSING_ARGUMENT", f"{ext} not specified", [ext])
                    matches = org.find_external(obj_name, ext, value)
                    if len(matches) > 1:
                        raise SfError("DUPLICATE_EXTERNAL_ID",
                                      f"{ext}: more than one record found for external id field: {matches}", [ext])
                    body = {k: v for k, v in rec.items() if k != "Id"}
                    if matches:
                        rid = matches[0]
                        org.update(obj_name, rid, {k: v for k, v in body.items() if k != ext}, bulk=True)
                    else:
                        rid, created = org.create(obj_name, {k: v for k, v in body.items() if v != ""}, bulk=True), True
                job["_ok"].append([rid, "true" if created else "false", *row])
            except SfError as exc:
                fields = ",".join(exc.fields)
                job["_failed"].append(["", f"{exc.code}:{exc.message}:{fields} --", *row])
        job["_data"] = []
        job["state"] = "JobComplete"
        job["numberRecordsProcessed"] = len(job["_ok"]) + len(job["_failed"])
        job["numberRecordsFailed"] = len(job["_failed"])
        job["retries"] = 0
        job["totalProcessingTime"] = 1
        job["systemModstamp"] = fmt_dt(self.emu.clock.time())

    async def get_ingest(self, request: Request, version: str) -> Response:
        job = self._job(request, "ingest")
        info = self._info(job)
        info.setdefault("numberRecordsProcessed", 0)
        info.setdefault("numberRecordsFailed", 0)
        return JSONResponse(info)

    async def ingest_results(self, request: Request, version: str) -> Response:
        job = self._job(request, "ingest")
        kind = request.path_params["kind"]
        header = job["_header"] or []
        if kind == "successfulResults":
            body = _csv(job["_ok"], ["sf__Id", "sf__Created", *header])
        elif kind == "failedResults":
            body = _csv(job["_failed"], ["sf__Id", "sf__Error", *header])
        elif kind == "unprocessedrecords":
            body = _csv(job["_data"], header)
        else:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        return Response(body, media_type="text/csv")


__all__ = ["BulkJobs", "json"]
