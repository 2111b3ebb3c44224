"""Bulk API 2.0: query jobs with their CSV result pages, and ingest (upsert) jobs with per-record results.

Contract:
- `bulk_query_pages` creates a query (or queryAll) job, waits for it (backoff up to 2 s, 24 hours at
  most) and yields each CSV result page parsed by `parse_bulk_csv`: values stay strings, empty -> None,
  `Account.Name` columns nest like REST.
- `bulk_upsert` uploads the records as CSV (`#N/A` sets a field to null, an absent column leaves it),
  closes the job, waits, and returns one result per record (successes then failures) in the shape of
  the sObject Collections results: `success`, `id`, `created`, `errors`, `record`.
- A job that ends Failed/Aborted raises a non-transient `ApiError`, its message redacted.
- Every call goes through the client's `_call`; `sf.bulk2` is taken afresh on each call because it
  snapshots the session id when accessed (a re-authenticated session would otherwise not reach it).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import Operation

from ...errors import ApiError, redact
from .transport import SYSTEM

_FROM = re.compile(r"\bFROM\s+([A-Za-z_][A-Za-z0-9_]*)", re.I)


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



class BulkCalls:
    """Bulk 2.0 jobs of `SalesforceClient` (which provides `_call`, `_cfg` and `_secrets`)."""

    _cfg: Any
    _call: Callable[..., Any]
    _secrets: Callable[[], list[str | None]]

    def _bulk(self, sf: Salesforce, sobject: str):
        # `sf.bulk2` snapshots the session id when accessed: take it fresh every call (doc §8.5).
        return getattr(sf.bulk2, sobject)._client

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
