"""The UI's pages and the fragments they poll: each is one or two in-process API reads and a template.

Every list comes from the API's own list endpoint, one call each (the API reads a list in a fixed number of
queries), so a page costs the same with 2 applications or 200. Live parts (replica counts, a build log)
are fragments that htmx re-fetches every 2 s; a build log stops polling once its build has ended.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from control_plane.api.drift_reports import HTML_POLICY
from control_plane.ui import splits
from control_plane.ui.in_process import path
from control_plane.ui.sessions import Login
from control_plane.ui.web import api, page, refused, render

BUILDING = ("pending", "building")
REPORTS = {"limit": "20"}
"""The newest drift reports a version page lists."""


PAGE_SIZE = 50
"""Applications per overview page: the page polls every 2 s, so it stays a few tens of kilobytes."""


def _page_of(request: Request, applications: list[Any]) -> dict[str, Any]:
    """One page of the applications (`?page=N`, from 1) and where the others are."""
    pages = max(1, -(-len(applications) // PAGE_SIZE))
    raw = request.query_params.get("page", "1")
    number = min(max(int(raw), 1), pages) if raw.isascii() and raw.isdigit() and len(raw) < 6 else 1
    start = (number - 1) * PAGE_SIZE
    return {
        "applications": applications[start : start + PAGE_SIZE],
        "page": number,
        "pages": pages,
        "total": len(applications),
    }


@page
async def overview(request: Request, login: Login) -> Response:
    answer = await api(request, login, "GET", path("applications"))
    if not answer.ok:
        return refused(request, login, answer)
    return render(request, "overview.html", _page_of(request, answer.body["applications"]), login)


@page
async def overview_rows(request: Request, login: Login) -> Response:
    answer = await api(request, login, "GET", path("applications"))
    if not answer.ok:
        return refused(request, login, answer)
    return render(
        request, "fragments/applications.html", _page_of(request, answer.body["applications"]), login
    )


@page
async def application(request: Request, login: Login) -> Response:
    name = request.path_params["app"]
    answer = await api(request, login, "GET", path("applications", name))
    if not answer.ok:
        return refused(request, login, answer)
    body = splits.declaration(answer.body)
    context = {
        "app": answer.body,
        "declaration_json": splits.as_json(body),
        "declaration_hcl": splits.as_hcl(name, body),
        "field": splits.field,
    }
    return render(request, "application.html", context, login)


@page
async def pipeline(request: Request, login: Login) -> Response:
    answer = await api(request, login, "GET", path("applications", request.path_params["app"]))
    if not answer.ok:
        return refused(request, login, answer)
    return render(request, "fragments/pipeline.html", {"app": answer.body}, login)


@page
async def models(request: Request, login: Login) -> Response:
    answer = await api(request, login, "GET", path("models"))
    if not answer.ok:
        return refused(request, login, answer)
    return render(request, "models.html", {"models": answer.body["models"]}, login)


@page
async def model(request: Request, login: Login) -> Response:
    name = request.path_params["model"]
    answer = await api(request, login, "GET", path("models", name, "versions"))
    if not answer.ok:
        return refused(request, login, answer)
    return render(request, "model.html", {"model": name, "versions": answer.body["versions"]}, login)


@page
async def version(request: Request, login: Login) -> Response:
    name, number = request.path_params["model"], request.path_params["version"]
    answer = await api(request, login, "GET", path("models", name, "versions", number))
    if not answer.ok:
        return refused(request, login, answer)
    log, schedule, reports = await asyncio.gather(
        api(request, login, "GET", path("models", name, "versions", number, "logs")),
        api(request, login, "GET", path("models", name, "versions", number, "monitoring")),
        api(request, login, "GET", path("models", name, "versions", number, "drift-reports"), query=REPORTS),
    )
    context = {
        "version": answer.body,
        "log": log.text if log.ok else log.error,
        "building": BUILDING,
        "schedule": schedule.body if schedule.ok else None,
        "reports": reports.body["drift_reports"] if reports.ok else [],
        "reports_error": None if reports.ok else reports.error,
    }
    return render(request, "version.html", context, login)


@page
async def drift_report(request: Request, login: Login) -> Response:
    """A drift report's own HTML page (Sonar's, self-contained), under the same sandbox policy the API
    serves it with: it runs in an origin of its own and reaches neither the API nor the UI."""
    answer = await api(request, login, "GET", path("drift-reports", request.path_params["report_id"], "html"))
    if not answer.ok:
        return refused(request, login, answer)
    headers = {
        "Content-Security-Policy": HTML_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    return HTMLResponse(answer.text, headers=headers)


@page
async def build_log(request: Request, login: Login) -> Response:
    """The build log as it is now; while the build runs the fragment asks to be fetched again."""
    name, number = request.path_params["model"], request.path_params["version"]
    answer = await api(request, login, "GET", path("models", name, "versions", number))
    if not answer.ok:
        return refused(request, login, answer)
    log = await api(request, login, "GET", path("models", name, "versions", number, "logs"))
    context = {"version": answer.body, "log": log.text if log.ok else log.error, "building": BUILDING}
    return render(request, "fragments/build_log.html", context, login)


@page
async def deployment_configs(request: Request, login: Login) -> Response:
    answer = await api(request, login, "GET", path("deployment-configs"))
    if not answer.ok:
        return refused(request, login, answer)
    configs = answer.body["deployment_configs"]
    knobs = [
        key for key in (configs[0] if configs else {}) if key not in ("name", "created_at", "updated_at")
    ]
    return render(request, "deployment_configs.html", {"configs": configs, "knobs": knobs}, login)


@page
async def tokens(request: Request, login: Login) -> Response:
    answer = await api(request, login, "GET", path("tokens"))
    if not answer.ok:
        return refused(request, login, answer)
    return render(request, "tokens.html", {"tokens": answer.body["tokens"], "created": None}, login)


@page
async def audit(request: Request, login: Login) -> Response:
    query = {key: request.query_params[key] for key in ("before", "limit") if key in request.query_params}
    answer = await api(request, login, "GET", path("audit"), query=query)
    if not answer.ok:
        return refused(request, login, answer)
    return render(
        request, "audit.html", {"events": answer.body["events"], "next": answer.body["next"]}, login
    )


@page
async def deployment_config(request: Request, login: Login) -> Response:
    name = request.path_params["name"]
    answer = await api(request, login, "GET", path("deployment-configs", name))
    if not answer.ok:
        return refused(request, login, answer)
    knobs = {k: v for k, v in answer.body.items() if k not in ("name", "created_at", "updated_at")}
    context = {"config": answer.body, "knobs_json": json.dumps(knobs, indent=2), "message": None}
    return render(request, "deployment_config.html", context, login)


@page
async def invoke_keys(request: Request, login: Login) -> Response:
    name = request.path_params["app"]
    answer = await api(request, login, "GET", path("applications", name, "invoke-keys"))
    if not answer.ok:
        return refused(request, login, answer)
    context = {"app": name, "keys": answer.body["invoke_keys"], "created": None}
    return render(request, "invoke_keys.html", context, login)
