"""Request count and latency per route template, for /metrics."""

from __future__ import annotations

import time

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
