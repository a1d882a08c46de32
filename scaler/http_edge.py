"""The scaler's HTTP edge: `/metrics` (Prometheus) and `/health`, on Starlette like the other services.

GET (and HEAD) only; anything else is answered with a JSON `{"error": ...}` and its status (404, 405).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scaler.metrics import CONTENT_TYPE, Metrics


def create_http_app(metrics: Metrics, health: Callable[[], dict[str, Any]]) -> Starlette:
    """The app serving `metrics` and the `health()` document."""

    async def metrics_route(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def health_route(request: Request) -> Response:
        return JSONResponse(health())

    return Starlette(
        routes=[Route("/metrics", metrics_route), Route("/health", health_route)],
        exception_handlers={404: _error, 405: _error},
    )


async def _error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        message = "use GET"
    else:
        message = f"no route {request.url.path!r}"
    return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)
