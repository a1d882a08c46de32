"""A model version's monitoring schedule: PUT (replaces it) and GET."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from control_plane import monitoring
from control_plane.api.common import PREFIX, authorize, endpoint, json_body, path_int, state


@endpoint
async def put(request: Request) -> Response:
    current = authorize(request)
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


def routes() -> list[BaseRoute]:
    path = f"{PREFIX}/models/{{model}}/versions/{{version}}/monitoring"
    return [Route(path, put, methods=["PUT"]), Route(path, get, methods=["GET"])]
