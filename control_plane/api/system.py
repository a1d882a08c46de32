"""Health and metrics."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from control_plane.api.common import PREFIX, ApiRoute, endpoint, state
from control_plane.auth import Access
from control_plane.metrics import CONTENT_TYPE


@endpoint
async def health(request: Request) -> Response:
    """200 when the database answers, 503 naming the problem otherwise."""
    try:
        async with state(request).engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        return JSONResponse(
            {"status": "unavailable", "error": f"database not reachable: {type(exc).__name__}: {exc}"},
            status_code=503,
        )
    return JSONResponse({"status": "ok"})


@endpoint
async def metrics(request: Request) -> Response:
    return Response(state(request).metrics.render(), media_type=CONTENT_TYPE)


def routes() -> list[BaseRoute]:
    return [
        ApiRoute("GET", f"{PREFIX}/health", health, Access.PUBLIC),
        ApiRoute("GET", f"{PREFIX}/metrics", metrics, Access.VIEWER),
        # the ops routes, outside /api/v1, for load balancers and Prometheus scrapers: public
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
