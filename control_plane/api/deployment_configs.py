"""Deployment configs: PUT (idempotent), GET, DELETE, list."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from control_plane import deletion, deployment_configs
from control_plane.api.common import PREFIX, ApiRoute, endpoint, json_body, state
from control_plane.auth import Access


@endpoint
async def put(request: Request) -> Response:
    current = state(request)
    body = await json_body(request)
    return JSONResponse(await deployment_configs.put(current.catalog, request.path_params["name"], body))


@endpoint
async def get(request: Request) -> Response:
    return JSONResponse(await deployment_configs.get(state(request).catalog, request.path_params["name"]))


@endpoint
async def list_all(request: Request) -> Response:
    return JSONResponse({"deployment_configs": await deployment_configs.list_all(state(request).catalog)})


@endpoint
async def delete(request: Request) -> Response:
    """Delete a config unless it is `default` or a variant uses it (409)."""
    await deletion.delete_config(state(request).catalog, request.path_params["name"])
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        ApiRoute("GET", f"{PREFIX}/deployment-configs", list_all, Access.VIEWER),
        ApiRoute("PUT", f"{PREFIX}/deployment-configs/{{name}}", put, Access.DEPLOYER),
        ApiRoute("GET", f"{PREFIX}/deployment-configs/{{name}}", get, Access.VIEWER),
        ApiRoute("DELETE", f"{PREFIX}/deployment-configs/{{name}}", delete, Access.DEPLOYER),
    ]
