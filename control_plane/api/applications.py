"""Applications: PUT (idempotent, optionally waiting until routable), GET, DELETE, list."""

from __future__ import annotations

import asyncio
import math

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from control_plane import applications
from control_plane.api.common import PREFIX, ApiRoute, endpoint, json_body, state
from control_plane.auth import Access
from control_plane.errors import InvalidRequest
from control_plane.kafka_binding import lag_sources
from servicekit.kafka_client import kafka_enabled

DEFAULT_WAIT_S = 10.0
MAX_WAIT_S = 60.0


@endpoint
async def put(request: Request) -> Response:
    """With `?wait=true`, answer once every connected router serves the new revision, or after
    `timeout_s` (then still 200, with `routable: false` and the reason: the declaration itself is stored)."""
    current = state(request)
    wait_s = _wait_s(request)
    declared = await applications.put(
        current.catalog,
        request.path_params["app"],
        await json_body(request),
        kafka_brokers=kafka_enabled(current.settings),
    )
    routers = current.catalog.routers
    if wait_s is None:
        routing = routers.routing(declared.revision)
    else:
        routing = await routers.wait_routable(declared.revision, wait_s)
    replicas, lags = await asyncio.gather(
        current.scaler.replicas(), current.lag.read(lag_sources([declared.application]))
    )
    return JSONResponse(applications.describe(declared.application, current.urls, replicas, routing, lags))


@endpoint
async def get(request: Request) -> Response:
    current = state(request)
    application, replicas = await asyncio.gather(
        applications.get(current.catalog, request.path_params["app"]), current.scaler.replicas()
    )
    lags = await current.lag.read(lag_sources([application]))
    routing = current.catalog.routers.routing(current.catalog.notifier.revision)
    return JSONResponse(applications.describe(application, current.urls, replicas, routing, lags))


@endpoint
async def list_all(request: Request) -> Response:
    current = state(request)
    rows, replicas = await asyncio.gather(applications.list_all(current.catalog), current.scaler.replicas())
    lags = await current.lag.read(lag_sources(rows))
    routing = current.catalog.routers.routing(current.catalog.notifier.revision)
    return JSONResponse(
        {"applications": [applications.describe(row, current.urls, replicas, routing, lags) for row in rows]}
    )


@endpoint
async def delete(request: Request) -> Response:
    current = state(request)
    await applications.delete(current.catalog, request.path_params["app"])
    return Response(status_code=204)


def _wait_s(request: Request) -> float | None:
    """How long PUT waits for the routers (`wait`, `timeout_s`): None for not at all."""
    wait = request.query_params.get("wait", "false")
    if wait not in ("true", "false"):
        raise InvalidRequest(f"query parameter wait must be true or false, not {wait!r}")
    raw = request.query_params.get("timeout_s")
    if raw is None:
        timeout = DEFAULT_WAIT_S
    else:
        try:
            timeout = float(raw)
        except ValueError:
            timeout = math.nan
        if not 0 <= timeout <= MAX_WAIT_S:  # also refuses nan
            raise InvalidRequest(
                f"query parameter timeout_s must be a number of seconds from 0 to {MAX_WAIT_S:g}, not {raw!r}"
            )
    return timeout if wait == "true" else None


def routes() -> list[BaseRoute]:
    return [
        ApiRoute("GET", f"{PREFIX}/applications", list_all, Access.VIEWER),
        ApiRoute("PUT", f"{PREFIX}/applications/{{app}}", put, Access.DEPLOYER),
        ApiRoute("GET", f"{PREFIX}/applications/{{app}}", get, Access.VIEWER),
        ApiRoute("DELETE", f"{PREFIX}/applications/{{app}}", delete, Access.DEPLOYER),
    ]
