"""Bulk API 1.0 query jobs under `/services/async/NN.0/` (simple-salesforce's `sf.bulk.<Object>`).

Contract (docs/sandbox.md):
- Auth by the `X-SFDC-Session` header (a Bearer `Authorization` works too); every request is one
  API call, as on a real org. Errors are `{"exceptionCode", "exceptionMessage"}` (JSON) or
  `<error><exceptionCode/><exceptionMessage/></error>` (XML), HTTP 400.
- `POST job` with a JSON or XML `jobInfo` (`operation` query|queryAll, `object`, `contentType`
  JSON|CSV|XML, XML being the default as on the real API) -> 201 jobInfo, state `Open`. The answer is
  JSON for a JSON request or job, XML otherwise. `POST job/{id}` with `state` Closed|Aborted.
- `POST job/{id}/batch` with the SOQL as body -> 201 batchInfo `Queued`; the query runs then (a
  snapshot) and the first poll reports `Completed` (or `Failed` with `InvalidBatch : ...` for a query
  Salesforce would refuse). `GET job/{id}/batch[/{bid}]` batchInfoList / batchInfo;
  `.../request` the SOQL; `.../result` the result list (JSON array or XML `result-list`);
  `.../result/{rid}` the records: JSON (datetimes and dates as epoch milliseconds, as the real Bulk
  1.0 JSON does), CSV (every value quoted, Z datetimes) or XML (`queryResult`, `xsi:nil` nulls).
- `Sforce-Enable-PKChunking: true|chunkSize=N` on job creation: each added batch becomes
  `NotProcessed` and one batch per `chunkSize` Ids of the object (default 100,000, max 250,000)
  carries the results, as the real API does.
- Each batch (chunks included) counts against DailyBulkApiBatches in `/limits`.
Only query jobs: ingest operations are refused with one line pointing at Bulk API 2.0.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from .bulk import bulk_query_plan, csv_value
from .soql import Plan
from .store import SfError, id18

NS = "http://www.force.com/2009/06/asyncapi/dataload"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_DEFAULT_CHUNK, _MAX_CHUNK = 100_000, 250_000
_RESULT_ROWS = 100_000  # records per result file; real files split at 1 GB, this keeps files small
_CHUNK = re.compile(r"chunkSize\s*=\s*(\d+)", re.I)


class BulkV1Error(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def error_response(code: str, message: str, status: int, as_json: bool) -> Response:
    if as_json:
        return Response(json.dumps({"exceptionCode": code, "exceptionMessage": message}), status,
                        media_type="application/json")
    body = (f'<?xml version="1.0" encoding="UTF-8"?><error xmlns="{NS}"><exceptionCode>{escape(code)}'
            f"</exceptionCode><exceptionMessage>{escape(message)}</exceptionMessage></error>")
    return Response(body, status, media_type="application/xml")


def wants_json(request: Request) -> bool:
    return "json" in request.headers.get("content-type", "").lower()


def _stamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _xml(root: str, fields: list[tuple[str, object]]) -> str:
    inner = "".join(f"<{k}>{escape(_text(v))}</{k}>" for k, v in fields if v is not None)
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{NS}">{inner}</{root}>'


def _text(v) -> str:
    if v is True or v is False:
        return "true" if v else "false"
    return str(v)


def _epoch_ms(value: str, ftype: str):
    if value is None:
        return None
    if ftype == "date":
        d = dt.date.fromisoformat(value)
        return int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).timestamp() * 1000)
    d = dt.datetime.strptime(value[:23], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=dt.timezone.utc)
    return int(d.timestamp()) * 1000 + d.microsecond // 1000


class BulkV1:
    def __init__(self, emulator) -> None:
        self.emu = emulator
        self.jobs: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.results: dict[str, tuple[str, list[str]]] = {}  # result id -> (batch id, record ids)
        self.counter = 0
        self.batches_created = 0

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return id18(f"{prefix}5Hs{self.counter:09d}")

    def dispatch(self, handler):
        """Turn BulkV1Error / SfError into the Bulk 1.0 error envelope of the request's format."""
        async def run(request: Request, version: str) -> Response:
            try:
                return await handler(request, version)
            except BulkV1Error as exc:
                return error_response(exc.code, exc.message, exc.status, self._json_for(request))
            except SfError as exc:
                return error_response("InvalidJob" if exc.status == 400 else "InvalidUrl", exc.message,
                                      400, self._json_for(request))
        return run

    def _json_for(self, request: Request) -> bool:
        job = self.jobs.get(request.path_params.get("job_id", ""))
        return job["contentType"] == "JSON" if job else wants_json(request)

    # -- jobs --------------------------------------------------------------------------------------
    async def create_job(self, request: Request, version: str) -> Response:
        raw = await request.body()
        as_json = wants_json(request)
        info = self._parse_job_info(raw, as_json)
        op = info.get("operation")
        if op not in ("query", "queryAll"):
            if op in ("insert", "update", "upsert", "delete", "hardDelete"):
                raise BulkV1Error("FeatureNotEnabled", f"Bulk API 1.0 '{op}' jobs are not served by the sandbox: "
                                  "use Bulk API 2.0 ingest (/services/data/vNN.N/jobs/ingest)")
            raise BulkV1Error("InvalidJob", f"Invalid operation: {op}")
        obj = self.emu.org.schema.sobject(str(info.get("object") or ""))
        if obj is None:
            raise BulkV1Error("InvalidJob", f"Unable to find object: {info.get('object')}")
        content_type = str(info.get("contentType") or ("JSON" if as_json else "XML")).upper()
        if content_type not in ("JSON", "CSV", "XML"):
            raise BulkV1Error("InvalidJob", f"Invalid content type for a query job: {content_type}")
        mode = info.get("concurrencyMode", "Parallel")
        # simple-salesforce sends 0/1 for Parallel/Serial; the real API accepts it.
        mode = {"0": "Parallel", "1": "Serial"}.get(str(mode), str(mode))
        chunk = self._chunk_size(request)
        now = _stamp(self.emu.clock.time())
        job = {
            "id": self._id("750"), "operation": op, "object": obj.name, "createdById": self.emu.org.user_id,
            "createdDate": now, "systemModstamp": now, "state": "Open", "concurrencyMode": mode,
            "contentType": content_type, "apiVersion": float(version), "_batches": [], "_chunk": chunk,
        }
        self.jobs[job["id"]] = job
        return self._job_response(job, 201, content_type == "JSON" or as_json)

    @staticmethod
    def _parse_job_info(raw: bytes, as_json: bool) -> dict:
        if as_json:
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                raise BulkV1Error("InvalidJob", "Unable to parse the jobInfo JSON") from None
            if not isinstance(body, dict):
                raise BulkV1Error("InvalidJob", "jobInfo must be a JSON object")
            return body
        try:
            root = ET.fromstring(raw)
        except ET.ParseError:
            raise BulkV1Error("InvalidXML", "Unable to parse the jobInfo XML") from None
        return {child.tag.split("}")[-1]: (child.text or "").strip() for child in root}

    @staticmethod
    def _chunk_size(request: Request) -> int | None:
        header = request.headers.get("sforce-enable-pkchunking")
        if header is None or header.strip().lower() == "false":
            return None
        m = _CHUNK.search(header)
        if header.strip().lower() != "true" and not m:
            raise BulkV1Error("InvalidJob", f"Invalid Sforce-Enable-PKChunking header: {header}")
        size = int(m.group(1)) if m else _DEFAULT_CHUNK
        if not 1 <= size <= _MAX_CHUNK:
            raise BulkV1Error("InvalidJob", f"chunkSize must be between 1 and {_MAX_CHUNK}")
        return size

    def _job(self, request: Request) -> dict:
        job = self.jobs.get(request.path_params["job_id"])
        if job is None:
            raise BulkV1Error("InvalidJob", f"Invalid job id: {request.path_params['job_id']}")
        return job

    def _job_info(self, job: dict) -> dict:
        batches = [self.batches[b] for b in job["_batches"]]
        for b in batches:
            self._advance(b)
        count = {s: sum(1 for b in batches if b["state"] == s) for s in ("Queued", "InProgress", "Completed", "Failed")}
        info = {k: v for k, v in job.items() if not k.startswith("_")}
        info.update({
            "numberBatchesQueued": count["Queued"], "numberBatchesInProgress": count["InProgress"],
            "numberBatchesCompleted": count["Completed"], "numberBatchesFailed": count["Failed"],
            "numberBatchesTotal": len(batches),
            "numberRecordsProcessed": sum(b["numberRecordsProcessed"] for b in batches), "numberRetries": 0,
            "numberRecordsFailed": 0, "totalProcessingTime": 0, "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
        })
        return info

    def _job_response(self, job: dict, status: int, as_json: bool) -> Response:
        info = self._job_info(job)
        if as_json:
            return Response(json.dumps(info), status, media_type="application/json")
        return Response(_xml("jobInfo", list(info.items())), status, media_type="application/xml")

    async def get_job(self, request: Request, version: str) -> Response:
        job = self._job(request)
        return self._job_response(job, 200, job["contentType"] == "JSON")

    async def update_job(self, request: Request, version: str) -> Response:
        job = self._job(request)
        info = self._parse_job_info(await request.body(), wants_json(request))
        state = info.get("state")
        if state not in ("Closed", "Aborted"):
            raise BulkV1Error("InvalidJobState", f"Invalid state: {state}: use Closed or Aborted")
        if job["state"] == "Open" or (state == "Aborted" and job["state"] == "Closed"):
            job["state"] = state
        elif job["state"] != state:
            raise BulkV1Error("InvalidJobState", f"Job {job['id']} is {job['state']}")
        job["systemModstamp"] = _stamp(self.emu.clock.time())
        return self._job_response(job, 200, job["contentType"] == "JSON")

    # -- batches -------------------------------------------------------------------------------------
    async def add_batch(self, request: Request, version: str) -> Response:
        job = self._job(request)
        if job["state"] != "Open":
            raise BulkV1Error("InvalidJobState", f"Job {job['id']} is not open: it is {job['state']}")
        soql = (await request.body()).decode("utf-8-sig").strip()
        batch = self._new_batch(job, soql)
        try:
            ids, plan = self._run(job, soql)
        except SfError as exc:
            batch.update(_failed=f"InvalidBatch : Failed to process query: {exc.code}: {exc.message.strip()}")
        else:
            if job["_chunk"]:
                batch.update(_not_processed=True)
                self._chunk(job, plan, ids, soql)
            else:
                batch.update(_ids=ids, _plan=plan)
        return self._batch_response(job, batch, 201)

    def _new_batch(self, job: dict, soql: str) -> dict:
        now = _stamp(self.emu.clock.time())
        batch = {"id": self._id("751"), "jobId": job["id"], "state": "Queued", "createdDate": now,
                 "systemModstamp": now, "numberRecordsProcessed": 0, "numberRecordsFailed": 0,
                 "totalProcessingTime": 0, "apiActiveProcessingTime": 0, "apexProcessingTime": 0,
                 "_soql": soql, "_ids": [], "_plan": None, "_results": []}
        self.batches[batch["id"]] = batch
        job["_batches"].append(batch["id"])
        self.batches_created += 1
        return batch

    def _run(self, job: dict, soql: str) -> tuple[list[str], Plan]:
        plan = bulk_query_plan(self.emu.org, soql, self.emu.clock.now())
        if plan.obj.name != job["object"]:
            raise SfError("INVALID_TYPE", f"The query object {plan.obj.name} does not match the job's object "
                          f"{job['object']}")
        rows = plan.run(job["operation"] == "queryAll")
        return [r[0] for r in rows], plan

    def _chunk(self, job: dict, plan: Plan, matched: list[str], soql: str) -> None:
        # Real PK chunking splits the object's whole Id range, then filters each chunk: some chunks are empty.
        every = sorted(plan.table.rows)
        hits = set(matched)
        size = job["_chunk"]
        for start in range(0, max(len(every), 1), size):
            bounds = every[start:start + size]
            chunk = self._new_batch(job, soql)
            chunk.update(_ids=[i for i in bounds if i in hits], _plan=plan)

    def _advance(self, batch: dict) -> None:
        """A batch is Queued in the answer that adds it and finished at the next look (it ran on add)."""
        if batch["state"] != "Queued":
            return
        if batch.get("_failed"):
            batch.update(state="Failed", stateMessage=batch["_failed"])
        elif batch.get("_not_processed"):
            batch.update(state="NotProcessed",
                         stateMessage="The original batch is not processed: its PK chunks carry the results")
        else:
            ids = batch["_ids"]
            batch["_results"] = []
            for i in range(0, max(len(ids), 1), _RESULT_ROWS):
                rid = self._id("752")
                self.results[rid] = (batch["id"], ids[i:i + _RESULT_ROWS])
                batch["_results"].append(rid)
            batch.update(state="Completed", numberRecordsProcessed=len(ids), totalProcessingTime=1)
        batch["systemModstamp"] = _stamp(self.emu.clock.time())

    def _batch_info(self, batch: dict) -> dict:
        return {k: v for k, v in batch.items() if not k.startswith("_")}

    def _batch_response(self, job: dict, batch: dict, status: int = 200) -> Response:
        info = self._batch_info(batch)
        if job["contentType"] == "JSON":
            return Response(json.dumps(info), status, media_type="application/json")
        return Response(_xml("batchInfo", list(info.items())), status, media_type="application/xml")

    def _batch(self, request: Request) -> tuple[dict, dict]:
        job = self._job(request)
        batch = self.batches.get(request.path_params["batch_id"])
        if batch is None or batch["jobId"] != job["id"]:
            raise BulkV1Error("InvalidBatch", f"Invalid batch id: {request.path_params['batch_id']}")
        return job, batch

    async def get_batch(self, request: Request, version: str) -> Response:
        job, batch = self._batch(request)
        self._advance(batch)
        return self._batch_response(job, batch)

    async def list_batches(self, request: Request, version: str) -> Response:
        job = self._job(request)
        batches = [self.batches[b] for b in job["_batches"]]
        for b in batches:
            self._advance(b)
        infos = [self._batch_info(b) for b in batches]
        if job["contentType"] == "JSON":
            return Response(json.dumps({"batchInfo": infos}), media_type="application/json")
        inner = "".join(_xml("batchInfo", list(i.items())).split("?>", 1)[1].replace(f' xmlns="{NS}"', "")
                        for i in infos)
        return Response(f'<?xml version="1.0" encoding="UTF-8"?><batchInfoList xmlns="{NS}">{inner}</batchInfoList>',
                        media_type="application/xml")

    async def batch_request(self, request: Request, version: str) -> Response:
        _, batch = self._batch(request)
        return Response(batch["_soql"], media_type="text/plain")

    async def result_list(self, request: Request, version: str) -> Response:
        job, batch = self._batch(request)
        self._advance(batch)
        if batch["state"] != "Completed":
            raise BulkV1Error("InvalidBatch", f"Batch not completed: it is {batch['state']}")
        if job["contentType"] == "JSON":
            return Response(json.dumps(batch["_results"]), media_type="application/json")
        inner = "".join(f"<result>{r}</result>" for r in batch["_results"])
        return Response(f'<?xml version="1.0" encoding="UTF-8"?><result-list xmlns="{NS}">{inner}</result-list>',
                        media_type="application/xml")

    async def result(self, request: Request, version: str) -> Response:
        job, batch = self._batch(request)
        entry = self.results.get(request.path_params["result_id"])
        if entry is None or entry[0] != batch["id"]:
            raise BulkV1Error("InvalidBatch", f"Invalid result id: {request.path_params['result_id']}")
        plan: Plan = batch["_plan"]
        rows = [plan.table.rows[i] for i in entry[1] if i in plan.table.rows]
        if job["contentType"] == "JSON":
            return Response(json.dumps([self._json_record(plan, r, version) for r in rows]),
                            media_type="application/json")
        if job["contentType"] == "CSV":
            buf = io.StringIO()
            w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
            w.writerow(plan.csv_columns())
            w.writerows([[csv_value(v) for v in plan.csv_row(r)] for r in rows])
            return Response(buf.getvalue(), media_type="text/csv")
        records = "".join(_xml_record(plan.render(r, version), "records") for r in rows)
        return Response(f'<?xml version="1.0" encoding="UTF-8"?><queryResult xmlns="{NS}" xmlns:xsi="{_XSI}">'
                        f"{records}</queryResult>", media_type="application/xml")

    @staticmethod
    def _json_record(plan: Plan, row: tuple, version: str) -> dict:
        rec = plan.render(row, version)
        types = {tuple(h[2] for h in p.hops) + (p.fname,): p.ftype for p in plan.paths}

        def convert(node: dict, prefix: tuple) -> None:
            for k, v in node.items():
                if k == "attributes":
                    continue
                if isinstance(v, dict):
                    convert(v, prefix + (k,))
                elif types.get(prefix + (k,)) in ("date", "datetime"):
                    node[k] = _epoch_ms(v, types[prefix + (k,)])
        convert(rec, ())
        return rec


def _xml_record(rec: dict, tag: str) -> str:
    parts = [f'<{tag} xsi:type="sObject"><type>{escape(rec["attributes"]["type"])}</type>']
    for k, v in rec.items():
        if k == "attributes":
            continue
        if isinstance(v, dict):
            parts.append(_xml_record(v, k))
        elif v is None:
            parts.append(f'<{k} xsi:nil="true"/>')
        else:
            parts.append(f"<{k}>{escape(_text(v))}</{k}>")
    parts.append(f"</{tag}>")
    return "".join(parts)
