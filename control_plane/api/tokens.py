"""API tokens (admins only): create (the secret is answered once), list, revoke."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from control_plane import tokens
from control_plane.api.common import PREFIX, ApiRoute, endpoint, json_body, state
from control_plane.auth import Access


@endpoint
async def create(request: Request) -> Response:
    created = await tokens.create(state(request).catalog.sessions, await json_body(request))
    return JSONResponse(created, status_code=201)


@endpoint
async def list_all(request: Request) -> Response:
    return JSONResponse({"tokens": await tokens.list_all(state(request).catalog.sessions)})


@endpoint
async def revoke(request: Request) -> Response:
    current = state(request)
    await tokens.revoke(
        current.catalog.sessions,
        request.path_params["name"],
        admin_from_environment=current.tokens.admin_from_environment,
    )
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        ApiRoute("POST", f"{PREFIX}/tokens", create, Access.ADMIN),
        ApiRoute("GET", f"{PREFIX}/tokens", list_all, Access.ADMIN),
        ApiRoute("DELETE", f"{PREFIX}/tokens/{{name}}", revoke, Access.ADMIN),
    ]
