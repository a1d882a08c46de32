"""Applications: PUT (idempotent), GET, DELETE, list."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from control_plane import applications
from control_plane.api.common import PREFIX, ApiRoute, endpoint, json_body, state
from control_plane.auth import Access


@endpoint
async def put(request: Request) -> Response:
    current = state(request)
    application = await applications.put(
        current.catalog, request.path_params["app"], await json_body(request)
    )
    replicas = await current.scaler.replicas()
    return JSONResponse(applications.describe(application, current.urls, replicas))


@endpoint
async def get(request: Request) -> Response:
    current = state(request)
    application, replicas = await asyncio.gather(
        applications.get(current.catalog, request.path_params["app"]), current.scaler.replicas()
    )
    return JSONResponse(applications.describe(application, current.urls, replicas))


@endpoint
async def list_all(request: Request) -> Response:
    current = state(request)
    rows, replicas = await asyncio.gather(applications.list_all(current.catalog), current.scaler.replicas())
    return JSONResponse(
        {"applications": [applications.describe(row, current.urls, replicas) for row in rows]}
    )


@endpoint
async def delete(request: Request) -> Response:
    current = state(request)
    await applications.delete(current.catalog, request.path_params["app"])
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        ApiRoute("GET", f"{PREFIX}/applications", list_all, Access.VIEWER),
        ApiRoute("PUT", f"{PREFIX}/applications/{{app}}", put, Access.DEPLOYER),
        ApiRoute("GET", f"{PREFIX}/applications/{{app}}", get, Access.VIEWER),
        ApiRoute("DELETE", f"{PREFIX}/applications/{{app}}", delete, Access.DEPLOYER),
    ]
