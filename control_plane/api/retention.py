"""A model's retention of sampled traffic: PUT (sets or clears it) and GET."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from control_plane import retention
from control_plane.api.common import PREFIX, ApiRoute, endpoint, json_body, state
from control_plane.auth import Access


@endpoint
async def put(request: Request) -> Response:
    body = await json_body(request)
    return JSONResponse(await retention.put(state(request).catalog, request.path_params["model"], body))


@endpoint
async def get(request: Request) -> Response:
    return JSONResponse(await retention.get(state(request).catalog, request.path_params["model"]))


def routes() -> list[BaseRoute]:
    path = f"{PREFIX}/models/{{model}}/retention"
    return [ApiRoute("PUT", path, put, Access.DEPLOYER), ApiRoute("GET", path, get, Access.VIEWER)]
