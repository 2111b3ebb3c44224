"""SOQL reads over REST: query / queryAll with paging, raw pages, and the REST-or-Bulk choice.

Contract:
- `query_pages` yields one list of records per page as it arrives (empty pages are not yielded), each
  record without REST `attributes` (`clean_record`, nested relationship records included), following
  `nextRecordsUrl` until `done`; `include_deleted` reads through queryAll.
- `query_raw_pages` yields each page's raw response body (only the envelope is read, by
  `split_query_page`); `page_records` turns one into its records, cleaned as `clean_record` does, and
  their JSON texts. The next page is requested before this one is handed over; one request is in flight.
- `query_pages_auto` reads through REST, or through Bulk 2.0 (`bulk.py`) when the read is expected to
  reach `bulk_threshold` rows (OFFSET and aggregates always through REST).
- Every call goes through the client's `_call`: budget, transient retries, one re-authentication on an
  expired session, so a query cursor survives a new session and no record is lost or repeated.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import requests
from simple_salesforce import Salesforce

from .. import json_records
from ..prefetch import RequestingAhead
from .transport import log, read_body, request_sent

# A query page is `{<scalar members>, "records": [...], <scalar members>}`: the envelope around the
# array is short and flat, so these two patterns split a page without parsing its records.
_SCALAR = r'"[A-Za-z]+"\s*:\s*(?:"[^"\\]*"|true|false|null|-?\d+)'
_PAGE_HEAD = re.compile(rf'\{{\s*((?:{_SCALAR}\s*,\s*)*)"records"\s*:\s*(?=\[)'.encode())
_PAGE_TAIL = re.compile(rf'\]\s*((?:,\s*{_SCALAR}\s*)*)\}}\s*$'.encode())
_MISSING = object()


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



class QueryCalls:
    """SOQL reads of `SalesforceClient` (which provides `_call` and `_cfg`)."""

    _cfg: Any
    _call: Callable[..., Any]

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
                request_sent.callback = sent.set
                try:
                    return self._call(request, what)
                finally:
                    request_sent.callback = None
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
            return read_body(response)
        except requests.ConnectionError:
            log.info("Salesforce %s: the response body broke off; requesting the page again", what)
            return self._call(lambda sf: read_body(request(sf)), what)

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
