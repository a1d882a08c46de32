"""Models and versions: upload (or register an external one), list, get, build log, stored package, and
the samples of external versions."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute

from control_plane import build_logs, deletion, versions
from control_plane.api.common import (
    PREFIX,
    ApiRoute,
    endpoint,
    json_body,
    path_int,
    query_flag,
    state,
    stream_object,
)
from control_plane.auth import Access
from control_plane.build_logs import TEXT
from control_plane.errors import InvalidRequest, PackageTooLarge
from control_plane.samples import send as send_samples
from control_plane.state import State
from control_plane.tables import VersionStatus
from control_plane.versions import VersionRef
from servicekit.object_keys import package_key

logger = logging.getLogger(__name__)


@endpoint
async def upload(request: Request) -> Response:
    """POST a tar.gz of the model folder -> 202 with the new version's number; it builds in the background.

    A JSON body (`{"external": true, "signature": ...}`) registers an external version instead: monitored
    only, released at once (201). So does a tar.gz whose hydro.yaml says `external: true` (with training
    data, for drift reports), which is never built either."""
    current = state(request)
    model = request.path_params["model"]
    if _is_json(request):
        row = await versions.register_external(
            current.catalog, current.store, model, await json_body(request)
        )
    else:
        limit = current.settings.max_package_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise PackageTooLarge(
                f"the package is {int(length)} bytes, larger than the limit of {limit} bytes"
            )
        row = await versions.upload(
            current.catalog, current.store, model, request.stream(), max_bytes=limit, limits=current.limits
        )
    external = versions.is_external(row.manifest)
    if not external:
        current.builder.submit(VersionRef(row.id, row.model_name, row.version))
    logger.info("stored %s (%s)%s", row.key, row.artifact_url, ", external" if external else "")
    answer = {"model": row.model_name, "version": row.version, "status": row.status}
    if external:
        return JSONResponse({**answer, "external": True}, status_code=201)
    return JSONResponse(answer, status_code=202)


def _is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


@endpoint
async def samples(request: Request) -> Response:
    """POST a batch of an external version's request and response pairs -> 202 once Sonar took them all."""
    current = state(request)
    model, number = request.path_params["model"], path_int(request, "version")
    accepted = await send_samples(
        current.catalog,
        current.sonar,
        model,
        number,
        await json_body(request),
        max_samples=current.settings.max_samples_per_request,
    )
    return JSONResponse({"model": model, "version": number, "accepted": accepted}, status_code=202)


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
    """The build log as text: live while the build runs, as stored once it ended; `?follow=true` streams
    it (chunked text) as it grows and ends when the build ends."""
    current = state(request)
    follow = _follow_flag(request)
    row = await versions.find(current.catalog, request.path_params["model"], path_int(request, "version"))
    if follow and row.status in (VersionStatus.PENDING, VersionStatus.BUILDING):
        return StreamingResponse(build_logs.follow(current.catalog, current.builder, row), media_type=TEXT)
    return PlainTextResponse(await build_logs.now(current.catalog, current.builder, row))


def _follow_flag(request: Request) -> bool:
    raw = request.query_params.get("follow", "false")
    if raw not in ("true", "false"):
        raise InvalidRequest(f"follow must be true or false, got {raw!r}")
    return raw == "true"


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


def cleanup(current: State) -> deletion.Cleanup:
    docker = current.settings.runtime == "docker"
    return deletion.Cleanup(current.store, current.registry, docker_host=docker)


@endpoint
async def delete_version(request: Request) -> Response:
    """Delete a version unless an application uses it (409); `?purge=true` also drops its drift reports'
    pages and sampled traffic."""
    current = state(request)
    removed = await deletion.delete_version(
        current.catalog,
        cleanup(current),
        request.path_params["model"],
        path_int(request, "version"),
        purge=query_flag(request, "purge"),
    )
    logger.info("deleted %s: %s", ", ".join(removed.versions), removed.to_json())
    return JSONResponse(removed.to_json())


@endpoint
async def delete_model(request: Request) -> Response:
    """Delete every version of a model unless any is in use (409); `?purge=true` also forgets the model."""
    current = state(request)
    model = request.path_params["model"]
    purge = query_flag(request, "purge")
    removed = await deletion.delete_model(current.catalog, cleanup(current), model, purge=purge)
    logger.info("deleted model %s: %s", model, removed.to_json())
    return JSONResponse(removed.to_json())


def routes() -> list[BaseRoute]:
    return [
        ApiRoute("GET", f"{PREFIX}/models", list_models, Access.VIEWER),
        ApiRoute("POST", f"{PREFIX}/models/{{model}}/versions", upload, Access.DEPLOYER),
        ApiRoute("GET", f"{PREFIX}/models/{{model}}/versions", list_versions, Access.VIEWER),
        ApiRoute("GET", f"{PREFIX}/models/{{model}}/versions/{{version}}", get_version, Access.VIEWER),
        ApiRoute("DELETE", f"{PREFIX}/models/{{model}}", delete_model, Access.DEPLOYER),
        ApiRoute(
            "DELETE", f"{PREFIX}/models/{{model}}/versions/{{version}}", delete_version, Access.DEPLOYER
        ),
        ApiRoute("GET", f"{PREFIX}/models/{{model}}/versions/{{version}}/logs", logs, Access.VIEWER),
        ApiRoute("GET", f"{PREFIX}/models/{{model}}/versions/{{version}}/artifact", artifact, Access.SERVICE),
        ApiRoute("POST", f"{PREFIX}/models/{{model}}/versions/{{version}}/samples", samples, Access.DEPLOYER),
    ]
