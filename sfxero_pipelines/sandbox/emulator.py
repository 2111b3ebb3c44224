"""The base every emulator builds on: routing, request accounting, latency and the docs/sandbox.md
introspection routes.

Contract (docs/sandbox.md), on each emulator:
- `GET /__sandbox/stats` → `{"total": N, "requests": {"<METHOD> <path template>": n}, "faults": {"<kind>": n}}`
  (introspection calls are not counted);
- `GET /__sandbox/records/<Object>` → every record of that object as the emulator holds it,
  deleted ones flagged;
- `POST /__sandbox/reset` → back to the seeded (or fixture-loaded) state, counters zeroed.
Test and benchmark conveniences: `DELETE /__sandbox/stats` zeroes counters only;
`POST /__sandbox/faults {"spec": "..."}` replaces the fault settings; `POST /__sandbox/clock
{"advance_s": N, "freeze": true|false}` moves or stops the emulator's clock; `POST /__sandbox/fixtures` loads the sandbox's (docs/sandbox.md) fixture
format (this system's half) in place of the current data. An emulator adds routes of its own through
`introspection_routes` (the Xero emulator's `/__sandbox/webhooks`).
"""

from __future__ import annotations

import asyncio
import json
import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .clock import Clock
from .faults import Faults, FaultSpecError, parse_faults

Handler = Callable[[Request], Awaitable[Response]]


class Emulator(ABC):
    """One emulated system. Subclasses provide `api_routes`, `records`, `seed_data` and `load_fixtures`."""

    #: "sf" or "xero": which part of a --faults string applies here.
    system: str = ""

    def __init__(self, *, faults: Faults | None = None, clock: Clock | None = None) -> None:
        self.faults = faults or Faults()
        self.clock = clock or Clock()
        self._stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()

    # -- to implement ---------------------------------------------------------------------------
    @abstractmethod
    def api_routes(self) -> list[tuple[str, list[str], Handler]]:
        """(path template, methods, async handler) for every real API path."""

    @abstractmethod
    def records(self, object_name: str) -> list[dict] | None:
        """Every record of an object, deleted ones flagged; None for an unknown object."""

    @abstractmethod
    def seed_data(self) -> None:
        """(Re)create the data the emulator starts with (seeded or from fixtures)."""

    @abstractmethod
    def load_fixtures(self, fixtures: dict) -> None:
        """Replace the data with this system's half of a docs/sandbox.md fixture file and remember it for reset."""

    def introspection_routes(self) -> list[Route]:
        """`/__sandbox/...` routes only this emulator has (not counted as API calls)."""
        return []

    # -- accounting -----------------------------------------------------------------------------
    def count(self, method: str, template: str) -> None:
        with self._stats_lock:
            self._stats[f"{method} {template}"] += 1

    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            return {"total": sum(self._stats.values()), "requests": dict(self._stats),
                    "faults": dict(self.faults.injected)}

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._stats.clear()

    # -- app ------------------------------------------------------------------------------------
    def _wrap(self, template: str, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            self.count(request.method, template)
            if self.faults.latency_ms:
                await asyncio.sleep(self.faults.latency_ms / 1000.0)
            return await handler(request)

        return endpoint

    def app(self) -> Starlette:
        routes = [
            Route("/__sandbox/stats", self._get_stats, methods=["GET"]),
            Route("/__sandbox/stats", self._delete_stats, methods=["DELETE"]),
            Route("/__sandbox/records/{object_name}", self._get_records, methods=["GET"]),
            Route("/__sandbox/reset", self._post_reset, methods=["POST"]),
            Route("/__sandbox/faults", self._post_faults, methods=["POST"]),
            Route("/__sandbox/clock", self._post_clock, methods=["POST"]),
            Route("/__sandbox/fixtures", self._post_fixtures, methods=["POST"]),
            *self.introspection_routes(),
        ]
        for template, methods, handler in self.api_routes():
            routes.append(Route(template, self._wrap(template, handler), methods=methods))
        return Starlette(routes=routes)

    async def _get_stats(self, request: Request) -> Response:
        return JSONResponse(self.stats())

    async def _delete_stats(self, request: Request) -> Response:
        self.reset_stats()
        return Response(status_code=204)

    async def _get_records(self, request: Request) -> Response:
        rows = self.records(request.path_params["object_name"])
        if rows is None:
            return JSONResponse({"error": f"unknown object {request.path_params['object_name']}"}, 404)
        return Response(json.dumps(rows, default=str), media_type="application/json")

    async def _post_reset(self, request: Request) -> Response:
        self.seed_data()
        self.reset_stats()
        return Response(status_code=204)

    async def _post_faults(self, request: Request) -> Response:
        body = await request.json()
        try:
            self.faults = parse_faults(body.get("spec", ""), seed=int(body.get("seed", 0)))[self.system]
        except FaultSpecError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(self.faults.describe())

    async def _post_clock(self, request: Request) -> Response:
        body = await request.json()
        if "freeze" in body:
            self.clock.freeze(bool(body["freeze"]))
        self.clock.advance(float(body.get("advance_s", 0)))
        return JSONResponse({"now": self.clock.now().isoformat()})

    async def _post_fixtures(self, request: Request) -> Response:
        self.load_fixtures(await request.json())
        self.reset_stats()
        return Response(status_code=204)
