"""The operations endpoints of a service with no HTTP API of its own (the scaler, Sonar): Prometheus
`/metrics` and a JSON `/health` document, on Starlette.

GET (and HEAD) only; an unknown path or another method is answered with a JSON `{"error": ...}` and its
status (404, 405), like every other Hydro error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def create_ops_app(
    exposition: Callable[[], bytes], content_type: str, health: Callable[[], dict[str, Any]]
) -> Starlette:
    """`/metrics` answering `exposition()` as `content_type`, `/health` answering `health()`."""

    async def metrics(request: Request) -> Response:
        return Response(exposition(), media_type=content_type)

    async def health_document(request: Request) -> Response:
        return JSONResponse(health())

    return Starlette(
        routes=[Route("/metrics", metrics), Route("/health", health_document)],
        exception_handlers={404: _error, 405: _error},
    )


async def _error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = "use GET" if exc.status_code == 405 else f"no route {request.url.path!r}"
    return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)
