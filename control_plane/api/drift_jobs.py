"""Internal endpoints for Sonar workers: claim a drift job, then complete, fail or extend it.

Only the service credential opens them (Sonar's workers present it). The contract is described in
`drift_jobs`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from control_plane import drift_jobs
from control_plane.api.common import PREFIX, ApiRoute, endpoint, json_body, state
from control_plane.auth import Access

MAX_RESULT_BYTES = 32 * 1024 * 1024
"""A worker's result (summary, per-feature results and the HTML page) may be larger than other bodies."""


@endpoint
async def claim(request: Request) -> Response:
    current = state(request)
    job = await drift_jobs.claim(current.catalog, await json_body(request), current.clock(), current.metrics)
    if job is None:
        return Response(status_code=204)
    return JSONResponse(job)


@endpoint
async def complete(request: Request) -> Response:
    current = state(request)
    body = await json_body(request, max_bytes=MAX_RESULT_BYTES)
    report = await drift_jobs.complete(
        current.catalog, current.store, request.path_params["report_id"], body, current.clock()
    )
    return JSONResponse(report)


@endpoint
async def fail(request: Request) -> Response:
    current = state(request)
    body = await json_body(request)
    report = await drift_jobs.fail(current.catalog, request.path_params["report_id"], body, current.clock())
    return JSONResponse(report)


@endpoint
async def heartbeat(request: Request) -> Response:
    current = state(request)
    body = await json_body(request)
    report = await drift_jobs.heartbeat(
        current.catalog, request.path_params["report_id"], body, current.clock()
    )
    return JSONResponse(report)


def routes() -> list[BaseRoute]:
    base = f"{PREFIX}/internal/drift-jobs"
    return [
        ApiRoute("POST", f"{base}/claim", claim, Access.SERVICE),
        ApiRoute("POST", f"{base}/{{report_id}}/complete", complete, Access.SERVICE),
        ApiRoute("POST", f"{base}/{{report_id}}/fail", fail, Access.SERVICE),
        ApiRoute("POST", f"{base}/{{report_id}}/heartbeat", heartbeat, Access.SERVICE),
    ]
