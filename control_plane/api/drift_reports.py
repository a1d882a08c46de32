"""Drift reports: start one by hand, list a version's, read one as JSON or as its HTML page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from control_plane import drift_reports
from control_plane.api.common import (
    PREFIX,
    ApiRoute,
    endpoint,
    json_body,
    path_int,
    state,
    stream_object,
)
from control_plane.auth import Access
from control_plane.bounded_numbers import bounded_int
from control_plane.errors import InvalidRequest

DEFAULT_LIMIT = 50
# The page is Sonar's self-contained HTML: inline styles, scripts and data: images, nothing fetched.
# Sandboxed, it runs in an origin of its own and cannot reach the API or the UI's storage.
HTML_POLICY = (
    "sandbox allow-scripts; default-src 'none'; img-src data:; "
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'"
)


@endpoint
async def run(request: Request) -> Response:
    current = state(request)
    body = await json_body(request)
    report = await drift_reports.run(
        current.catalog, request.path_params["model"], path_int(request, "version"), body, current.clock()
    )
    return JSONResponse(report, status_code=202)


@endpoint
async def list_for_version(request: Request) -> Response:
    listed = await drift_reports.list_for(
        state(request).catalog,
        request.path_params["model"],
        path_int(request, "version"),
        limit=_limit(request),
        status=request.query_params.get("status"),
    )
    return JSONResponse(listed)


@endpoint
async def get(request: Request) -> Response:
    return JSONResponse(await drift_reports.get(state(request).catalog, request.path_params["report_id"]))


@endpoint
async def html(request: Request) -> Response:
    current = state(request)
    return await stream_object(
        await drift_reports.html(current.catalog, current.store, request.path_params["report_id"]),
        "text/html; charset=utf-8",
        {"Content-Security-Policy": HTML_POLICY, "X-Content-Type-Options": "nosniff"},
    )


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    value = bounded_int(raw, 1, drift_reports.MAX_LIST)
    if value is None:
        raise InvalidRequest(f"limit must be an integer from 1 to {drift_reports.MAX_LIST}, got {raw!r}")
    return value


def routes() -> list[BaseRoute]:
    version_reports = f"{PREFIX}/models/{{model}}/versions/{{version}}/drift-reports"
    return [
        ApiRoute("POST", version_reports, run, Access.DEPLOYER),
        ApiRoute("GET", version_reports, list_for_version, Access.VIEWER),
        ApiRoute("GET", f"{PREFIX}/drift-reports/{{report_id}}", get, Access.VIEWER),
        ApiRoute("GET", f"{PREFIX}/drift-reports/{{report_id}}/html", html, Access.VIEWER),
    ]
