"""Sonar's HTTP edge: Prometheus `/metrics` and `/health`, on Starlette (served by uvicorn in
`sonar.server`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sonar.metrics import CONTENT_TYPE, Metrics


async def metrics_route(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.exposition(), media_type=CONTENT_TYPE)


async def health_route(request: Request) -> Response:
    health: Callable[[], dict[str, Any]] = request.app.state.health
    return JSONResponse(health())


def create_http_app(metrics: Metrics, health: Callable[[], dict[str, Any]]) -> Starlette:
    """The app answering `/metrics` from `metrics` and `/health` with `health()`."""
    app = Starlette(routes=[Route("/metrics", metrics_route), Route("/health", health_route)])
    app.state.metrics = metrics
    app.state.health = health
    return app
