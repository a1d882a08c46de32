"""The audit trail of write calls (admins only), newest first, paged by event id."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from control_plane import audit
from control_plane.api.common import PREFIX, ApiRoute, endpoint, state
from control_plane.auth import Access


@endpoint
async def list_events(request: Request) -> Response:
    """`?limit=N` (1..500, default 50) and `?before=<id>`: the page's `next` is the `before` of the next."""
    limit, before = audit.page_arguments(
        request.query_params.get("limit"), request.query_params.get("before")
    )
    return JSONResponse(await audit.page(state(request).catalog.sessions, limit, before))


def routes() -> list[BaseRoute]:
    return [ApiRoute("GET", f"{PREFIX}/audit", list_events, Access.ADMIN)]
