"""Xero's wire format: MS-JSON dates, the response envelope and the error shapes.

- Dates go out as `/Date(<epoch-ms>+0000)/` (date-only fields at midnight UTC); the envelope's
  `DateTimeUTC` has no offset, as Xero sends it.
- Success envelope: `Id`, `Status`, `ProviderName`, `DateTimeUTC`, optional `pagination`, then the plural key.
- Errors: 400 ValidationException (`ErrorNumber` 10, `Elements[].ValidationErrors`), 400 QueryParseException
  (16) / PostDataInvalidException (14), 401/403 problem JSON, 404 text, 429 empty with headers, 500/503 text.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

from starlette.responses import Response

PROVIDER_NAME = "sfxero sandbox"
ZERO_GUID = "00000000-0000-0000-0000-000000000000"
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def ms_date(ms: int, offset: bool = True) -> str:
    return f"/Date({int(ms)}+0000)/" if offset else f"/Date({int(ms)})/"


def to_ms(value: dt.datetime | dt.date) -> int:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return int(round((value - _EPOCH).total_seconds() * 1000))
    return int((dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc) - _EPOCH).total_seconds()
               * 1000)


def iso_from_ms(ms: int, with_z: bool = True) -> str:
    d = _EPOCH + dt.timedelta(milliseconds=ms)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ("Z" if with_z else "")


def parse_date_ms(value) -> int | None:
    """A date as clients send it: MS-JSON (with or without offset), ISO date or datetime. None if unparseable."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    m = _MS_DATE.match(text)
    if m:
        ms = int(m.group(1))
        if m.group(2):
            sign = 1 if m.group(2)[0] == "+" else -1
            # Xero's MS dates carry local-time offsets; the ms value is still UTC.
            _ = sign
        return ms
    try:
        if len(text) == 10:
            return to_ms(dt.date.fromisoformat(text))
        return to_ms(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def day_ms(ms: int) -> int:
    """Truncate to midnight UTC: date-only fields carry no time of day."""
    return ms - (ms % 86_400_000)


def dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def envelope_bytes(plural: str, items: list[bytes], now_ms: int, pagination: dict | None = None,
                   warnings: list | None = None) -> bytes:
    """Assemble an envelope from already-serialized records (so a 1000-row page is one join)."""
    head = {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": PROVIDER_NAME,
            "DateTimeUTC": ms_date(now_ms, offset=False)}
    if pagination is not None:
        head["pagination"] = pagination
    if warnings:
        head["Warnings"] = warnings
    prefix = dumps(head)[:-1] + b',"' + plural.encode() + b'":['
    return prefix + b",".join(items) + b"]}"


def json_response(body: bytes, status: int = 200, headers: dict | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json; charset=utf-8", headers=headers)


def validation_exception(elements: list[dict], headers: dict | None = None) -> Response:
    body = {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
            "Elements": elements}
    return json_response(dumps(body), 400, headers)


def simple_error(number: int, type_: str, message: str, headers: dict | None = None) -> Response:
    return json_response(dumps({"ErrorNumber": number, "Type": type_, "Message": message}), 400, headers)


def problem(status: int, detail: str) -> Response:
    title = {401: "Unauthorized", 403: "Forbidden"}.get(status, "Error")
    body = {"Type": None, "Title": title, "Status": status, "Detail": detail, "Instance": str(uuid.uuid4()),
            "Extensions": {}}
    return json_response(dumps(body), status)


def not_found(headers: dict | None = None) -> Response:
    return Response("The resource you're looking for cannot be found", status_code=404, media_type="text/plain",
                    headers=headers)


def server_error(status: int = 500, headers: dict | None = None) -> Response:
    if status == 503:
        return Response("The Xero API is currently offline for maintenance", status_code=503,
                        media_type="text/plain", headers=headers)
    body = {"ErrorNumber": 500, "Type": "UnknownErrorException", "Message": "An error occurred in Xero. Check the "
            "API Status page http://status.developer.xero.com for current service status."}
    return json_response(dumps(body), 500, headers)
