"""A model version's monitoring schedule: PUT (replaces it), GET and DELETE (its reports stay)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from control_plane import monitoring
from control_plane.api.common import PREFIX, ApiRoute, endpoint, json_body, path_int, state
from control_plane.auth import Access


@endpoint
async def put(request: Request) -> Response:
    current = state(request)
    body = await json_body(request)
    schedule = await monitoring.put(
        current.catalog,
        request.path_params["model"],
        path_int(request, "version"),
        body,
        current.clock(),
    )
    return JSONResponse(schedule)


@endpoint
async def get(request: Request) -> Response:
    schedule = await monitoring.get(
        state(request).catalog, request.path_params["model"], path_int(request, "version")
    )
    return JSONResponse(schedule)


@endpoint
async def delete(request: Request) -> Response:
    await monitoring.delete(
        state(request).catalog, request.path_params["model"], path_int(request, "version")
    )
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    path = f"{PREFIX}/models/{{model}}/versions/{{version}}/monitoring"
    return [
        ApiRoute("PUT", path, put, Access.DEPLOYER),
        ApiRoute("GET", path, get, Access.VIEWER),
        ApiRoute("DELETE", path, delete, Access.DEPLOYER),
    ]
