"""Models and versions: upload, list, get, build log, stored package."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute

from control_plane import versions
from control_plane.api.common import PREFIX, ApiRoute, endpoint, path_int, state, stream_object
from control_plane.auth import Access
from control_plane.errors import PackageTooLarge
from control_plane.versions import VersionRef
from servicekit.object_keys import package_key

logger = logging.getLogger(__name__)


@endpoint
async def upload(request: Request) -> Response:
    """POST a tar.gz of the model folder -> 202 with the new version's number; it builds in the background."""
    current = state(request)
    limit = current.settings.max_package_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PackageTooLarge(f"the package is {int(length)} bytes, larger than the limit of {limit} bytes")
    row = await versions.upload(
        current.catalog,
        current.store,
        request.path_params["model"],
        request.stream(),
        max_bytes=limit,
        limits=current.limits,
    )
    current.builder.submit(VersionRef(row.id, row.model_name, row.version))
    logger.info("stored %s (%s)", row.key, row.artifact_url)
    return JSONResponse(
        {"model": row.model_name, "version": row.version, "status": row.status}, status_code=202
    )


@endpoint
async def list_models(request: Request) -> Response:
    return JSONResponse({"models": await versions.list_models(state(request).catalog)})


@endpoint
async def list_versions(request: Request) -> Response:
    model = request.path_params["model"]
    rows = await versions.list_versions(state(request).catalog, model)
    return JSONResponse({"model": model, "versions": [versions.describe(row) for row in rows]})


@endpoint
async def get_version(request: Request) -> Response:
    row = await versions.find(
        state(request).catalog, request.path_params["model"], path_int(request, "version")
    )
    return JSONResponse(versions.describe(row))


@endpoint
async def logs(request: Request) -> Response:
    """The build log as text: live while the build runs, as stored once it ended."""
    current = state(request)
    row = await versions.find(current.catalog, request.path_params["model"], path_int(request, "version"))
    live = current.builder.live_log(row.id)
    return PlainTextResponse(live if live is not None else row.log)


@endpoint
async def artifact(request: Request) -> Response:
    """The stored package (tar.gz with hydro.json at its root), for the process runtime backend."""
    current = state(request)
    row = await versions.find(current.catalog, request.path_params["model"], path_int(request, "version"))
    filename = f"{row.model_name}-{row.version}.tar.gz"
    return await stream_object(
        current.store.stream(package_key(row.model_name, row.version)),
        "application/gzip",
        {"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def routes() -> list[BaseRoute]:
    return [
        ApiRoute("GET", f"{PREFIX}/models", list_models, Access.VIEWER),
        ApiRoute("POST", f"{PREFIX}/models/{{model}}/versions", upload, Access.DEPLOYER),
        ApiRoute("GET", f"{PREFIX}/models/{{model}}/versions", list_versions, Access.VIEWER),
        ApiRoute("GET", f"{PREFIX}/models/{{model}}/versions/{{version}}", get_version, Access.VIEWER),
        ApiRoute("GET", f"{PREFIX}/models/{{model}}/versions/{{version}}/logs", logs, Access.VIEWER),
        ApiRoute("GET", f"{PREFIX}/models/{{model}}/versions/{{version}}/artifact", artifact, Access.SERVICE),
    ]
