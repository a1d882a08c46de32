"""Middleware of the API: request count and latency per route template (for /metrics); unnamable paths."""

from __future__ import annotations

import time

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestMetrics:
    """Pure ASGI middleware: labels by the matched route's path template, so URLs don't explode labels."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            state = getattr(scope["app"].state, "hydro", None)
            if state is not None:
                metrics = state.metrics
                metrics.requests.labels(scope["method"], template, str(status)).inc()
                metrics.request_seconds.labels(scope["method"], template).observe(
                    time.perf_counter() - started
                )


class RefuseUnnamablePaths:
    """Pure ASGI middleware: a path holding what no name contains gets 404 before any route or handler.

    - NUL (`%00`): PostgreSQL's text cannot hold it, so looking such a name up would fail (a 500).
    - An encoded slash (`%2F`): the router sees it decoded, so `PUT /applications/x%2Finvoke-keys` would
      reach another route (405) and `DELETE /applications/x%2F` would be redirected to
      `DELETE /applications/x` (Starlette's trailing-slash redirect), another application's address.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = _unnamable(scope) if scope["type"] == "http" else None
        if problem is None:
            await self.app(scope, receive, send)
            return
        response = JSONResponse({"error": f"no such endpoint: the path holds {problem}"}, status_code=404)
        await response(scope, receive, send)


def _unnamable(scope: Scope) -> str | None:
    if "\x00" in scope["path"]:
        return "a NUL character (%00), which no name contains"
    raw: bytes = scope.get("raw_path") or b""
    if b"%2f" in raw.lower():
        return "an encoded slash (%2F), which no name contains"
    return None
