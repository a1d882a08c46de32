"""What every endpoint shares: the State, routes with their access level, JSON bodies, and errors as
`{"error": ...}`.

Errors are mapped to HTTP status codes here and only here. Unknown exceptions are logged with their
traceback and answered with a generic 500 message (no traceback leaves the process).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from control_plane.api.bodies import read_json
from control_plane.auth import Access
from control_plane.bounded_numbers import bounded_int
from control_plane.errors import (
    BodyTooLarge,
    Conflict,
    Forbidden,
    HydroError,
    InvalidRequest,
    NotFound,
    PackageTooLarge,
    ServiceUnavailable,
    Unauthorized,
)
from control_plane.state import State
from control_plane.versions import MAX_NUMBER
from servicekit.object_store import InvalidObjectLocation, ObjectNotFound, ObjectStoreError

logger = logging.getLogger(__name__)

PREFIX = "/api/v1"
Endpoint = Callable[[Request], Awaitable[Response]]

_STATUS: list[tuple[type[Exception], int]] = [
    (InvalidRequest, 400),
    (InvalidObjectLocation, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (ObjectNotFound, 404),
    (Conflict, 409),
    (PackageTooLarge, 413),
    (BodyTooLarge, 413),
    (ServiceUnavailable, 503),  # Sonar did not take the samples
    (ObjectStoreError, 503),  # the object store failed
]


def status_of(exc: HydroError | ObjectStoreError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


async def stream_object(
    chunks: AsyncIterator[bytes], media_type: str, headers: dict[str, str]
) -> StreamingResponse:
    """Stream an object from the store; its first chunk is read here, so a missing object is an error
    status (ObjectNotFound -> 404) rather than a response that breaks off after its headers."""
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return StreamingResponse(body(), media_type=media_type, headers=headers)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def refusal(exc: HydroError | ObjectStoreError) -> JSONResponse:
    """The answer to one of Hydro's errors: its status and message (401s with `WWW-Authenticate`)."""
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error(status, str(exc), headers)


class ApiRoute(Route):
    """A route of the REST API and who may call it. The `api.guard` middleware checks `access` before the
    endpoint runs; a plain `Route` under /api/v1 counts as admin-only, so a route that forgets to say is
    closed rather than open."""

    def __init__(self, method: str, path: str, handler: Endpoint, access: Access) -> None:
        super().__init__(path, handler, methods=[method])
        self.access = access


def endpoint(handler: Endpoint) -> Endpoint:
    """Answer HydroErrors with their status and message, anything else with a logged, generic 500."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except (HydroError, ObjectStoreError) as exc:
            if status_of(exc) >= 500:
                logger.error("%s %s failed: %s", request.method, request.url.path, exc)
            return refusal(exc)
        except ClientDisconnect:  # the caller left mid-body, or the slow-client guard cut it off
            logger.info(
                "%s %s: the client went away before its body was read", request.method, request.url.path
            )
            return error(499, "the client went away")  # to nobody
        except Exception:
            logger.exception("%s %s failed", request.method, request.url.path)
            return error(500, "internal error in the control plane; its log has the details")

    return wrapped


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such route, method not allowed) in the API's error shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return error(exc.status_code, message, dict(exc.headers) if exc.headers else None)


def state(request: Request) -> State:
    value: State = request.app.state.hydro
    return value


async def json_body(request: Request, max_bytes: int | None = None) -> Any:
    """The JSON body, within `max_json_body_bytes` (or `max_bytes`) and `max_json_depth` (`bodies`)."""
    settings = state(request).settings
    limit = settings.max_json_body_bytes if max_bytes is None else max_bytes
    return await read_json(request, max_bytes=limit, max_depth=settings.max_json_depth)


def path_int(request: Request, name: str) -> int:
    """A path parameter that numbers something (a version): 1 to MAX_NUMBER."""
    raw = request.path_params[name]
    value = bounded_int(raw, 1, MAX_NUMBER)
    if value is None:
        raise InvalidRequest(f"{name} must be a positive integer of at most {MAX_NUMBER}, got {raw!r}")
    return value


def query_flag(request: Request, name: str) -> bool:
    """A yes/no query parameter: absent or `false` is False, `true` is True, anything else a 400."""
    raw = request.query_params.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise InvalidRequest(f"{name} must be true or false, got {raw!r}")
    return raw == "true"
