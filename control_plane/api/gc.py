"""Registry garbage collection: `POST /api/v1/gc?dry_run=true` (admin)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from control_plane import registry_gc
from control_plane.api.common import PREFIX, ApiRoute, endpoint, query_flag, state
from control_plane.auth import Access


@endpoint
async def collect(request: Request) -> Response:
    """Delete the registry's images no version references (`?dry_run=true`: only list them)."""
    current = state(request)
    result = await registry_gc.collect(
        current.catalog, current.registry, dry_run=query_flag(request, "dry_run")
    )
    return JSONResponse(result)


def routes() -> list[BaseRoute]:
    return [ApiRoute("POST", f"{PREFIX}/gc", collect, Access.ADMIN)]
