"""Invoke keys of an application: create (the key is answered once), list, revoke."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from control_plane import invoke_keys
from control_plane.api.common import PREFIX, ApiRoute, endpoint, state
from control_plane.auth import Access


@endpoint
async def create(request: Request) -> Response:
    current = state(request)
    created = await invoke_keys.create(current.catalog, request.path_params["app"])
    return JSONResponse(created, status_code=201)


@endpoint
async def list_all(request: Request) -> Response:
    keys = await invoke_keys.list_all(state(request).catalog, request.path_params["app"])
    return JSONResponse({"invoke_keys": keys})


@endpoint
async def revoke(request: Request) -> Response:
    current = state(request)
    await invoke_keys.revoke(current.catalog, request.path_params["app"], request.path_params["key_id"])
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    base = f"{PREFIX}/applications/{{app}}/invoke-keys"
    return [
        ApiRoute("POST", base, create, Access.DEPLOYER),
        ApiRoute("GET", base, list_all, Access.VIEWER),
        ApiRoute("DELETE", f"{base}/{{key_id}}", revoke, Access.DEPLOYER),
    ]
