"""Middleware of the API: request count and latency per route template (for /metrics), and NUL in paths."""

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


class RefuseNulInPath:
    """Pure ASGI middleware: a path holding a NUL character (`%00`) names nothing, so it gets 404 before any
    handler looks it up (PostgreSQL's text cannot hold NUL: the lookup itself would fail)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "\x00" not in scope["path"]:
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"error": "no such endpoint: the path holds a NUL character (%00), which no name contains"},
            status_code=404,
        )
        await response(scope, receive, send)
