"""Internal endpoints for Sonar workers: claim a drift job, then complete, fail or extend it.

Only the service credential opens them (Sonar's workers present it). The contract is described in
`drift_jobs`.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from control_plane import drift_jobs
from control_plane.api.common import PREFIX, ApiRoute, endpoint, json_body, state
from control_plane.auth import Access
from control_plane.errors import InvalidRequest, PackageTooLarge

MAX_RESULT_BYTES = 32 * 1024 * 1024


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
    body = await _bounded_json(request)
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


async def _bounded_json(request: Request) -> Any:
    """The JSON body, refused with 413 as soon as it grows past MAX_RESULT_BYTES."""
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > MAX_RESULT_BYTES:
            raise PackageTooLarge(f"the result is larger than the limit of {MAX_RESULT_BYTES} bytes")
    if not received:
        raise InvalidRequest("the request body is empty; send a JSON object")
    try:
        return json.loads(received, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON, and PostgreSQL's JSON columns refuse them: say so, with a 400."""
    raise InvalidRequest(f"the result holds {name}, which JSON has no place for; send null instead")


def routes() -> list[BaseRoute]:
    base = f"{PREFIX}/internal/drift-jobs"
    return [
        ApiRoute("POST", f"{base}/claim", claim, Access.SERVICE),
        ApiRoute("POST", f"{base}/{{report_id}}/complete", complete, Access.SERVICE),
        ApiRoute("POST", f"{base}/{{report_id}}/fail", fail, Access.SERVICE),
        ApiRoute("POST", f"{base}/{{report_id}}/heartbeat", heartbeat, Access.SERVICE),
    ]
