"""The HTTP edge (Starlette): Open Inference Protocol REST, the plain JSON form, health and /metrics.

A thin translator: the body is read into arrays (`router.http_forms`) when the data plane asks for it
(see `router.invocation`), and the answer is written back in the form it came in, honouring the
`outputs` an OIP request asks for. Invoke bodies may come gzip- or deflate-encoded and answers go back
compressed when the caller accepts it (`router.encoding`). Router errors become HTTP statuses here
(`{"error": "..."}`, with Retry-After on 429 and 503); anything unexpected is answered 500 with the
request id only. Every invoke answer, error or not, carries the request id in `X-Request-Id` (see
`router.request_log`).

A caller that goes away does not cancel the request by itself under uvicorn: an invoke whose body was
read and that still runs one to two `DISCONNECT_SWEEP_S` later starts watching its connection, and
cancels itself when the caller is gone (counted as 'cancelled', like a gRPC call the caller cancelled).
Shorter invokes are not watched: a task or a timer per request would cost more than a disconnect the
invoke outlives by a moment; one sweep over the invokes in flight, while there are any, costs a set
insertion per request.

The application name is the OIP model name. An application has no versions of its own: the
`/versions/{version}` routes accept only the model version a single-stage, single-variant application
runs, and answer 404 naming the application and version otherwise (`admission.check_version`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from router import __version__, encoding
from router.dataplane import EXTENSIONS, SERVER_NAME, DataPlane
from router.errors import (
    ApplicationNotFoundError,
    DeadlineExceededError,
    InvalidInputError,
    PayloadTooLargeError,
    QueueFullError,
    RouterError,
    UnauthenticatedError,
    UnavailableError,
    UnsupportedEncodingError,
    UpstreamError,
)
from router.http_forms import OIP, PLAIN, Form, json_response, length_of, metadata
from router.invocation import Answer, Inputs, Invocation, StatusTable
from router.metrics import CONTENT_TYPE
from router.request_log import request_id_from
from wire.limits import TensorLimits
from wire.signature import Signature

STATUSES = StatusTable(
    ok=200,
    cancelled=499,  # nginx's "client closed request": nobody reads it but the request line
    internal=500,
    errors=(
        (UnsupportedEncodingError, 415),
        (InvalidInputError, 400),
        (UnauthenticatedError, 401),
        (ApplicationNotFoundError, 404),
        (PayloadTooLargeError, 413),
        (QueueFullError, 429),
        (UpstreamError, 502),
        (UnavailableError, 503),
        (DeadlineExceededError, 504),
    ),
    shown=int,
)

DISCONNECT_SWEEP_S = 0.5
_COMPRESS_INLINE_BYTES = 1 << 20
"""Answers larger than this are compressed on a worker thread, so the event loop keeps serving."""

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def status_of(exc: RouterError) -> int:
    return STATUSES.of(exc)


@dataclass(frozen=True)
class HttpOptions:
    max_body_bytes: int
    retry_after_s: int = 1
    compress_min_bytes: int = 1024
    """Smaller infer answers are sent as they are."""
    compress_level: int = 1


class _Exchange:
    """One HTTP invoke: what its Invocation's `decode` and `reply` need of the request, and the watch
    on the caller's connection."""

    __slots__ = (
        "edge",
        "request",
        "form",
        "application",
        "version",
        "task",
        "body_read",
        "seen",
        "watcher",
        "gone",
    )

    def __init__(self, edge: HttpEdge, request: Request, form: Form, application: str, version: str) -> None:
        self.edge, self.request, self.form = edge, request, form
        self.application, self.version = application, version
        self.task = asyncio.current_task()
        self.body_read = self.seen = self.gone = False
        self.watcher: asyncio.Task[None] | None = None

    async def decode(self, signature: Signature, limits: TensorLimits) -> Inputs:
        try:
            body = await self.edge.read_body(self.request)
        except ClientDisconnect:  # the caller left, or the slow-client guard cut it off, mid-body
            self.gone = True
            raise asyncio.CancelledError from None
        self.body_read = True  # from now on the connection's next message can only be its end
        return self.form.decode(self.request, body, signature, limits)

    async def reply(self, answer: Answer) -> Response:
        assert answer.outputs is not None and answer.inputs is not None
        response = self.form.encode(self.application, answer.outputs, answer.inputs, self.version)
        response.headers["X-Request-Id"] = answer.context.request_id
        coding = encoding.accepted(self.request.headers.get("accept-encoding"))
        if coding is not None and len(response.body) >= self.edge.options.compress_min_bytes:
            response = await self.edge.compressed(response, coding)
        return response

    def sweep(self) -> None:
        """Watch the connection if the body was read by the last sweep already."""
        if self.watcher is None and self.body_read:
            if self.seen:
                self.watcher = asyncio.get_running_loop().create_task(self._until_disconnect())
            self.seen = True

    async def _until_disconnect(self) -> None:
        while (await self.request.receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        if self.task is not None:
            self.task.cancel()


class HttpEdge:
    """The router's HTTP routes over `plane`."""

    def __init__(self, plane: DataPlane, options: HttpOptions) -> None:
        self.plane = plane
        self.options = options
        self._retry_after = {"Retry-After": str(options.retry_after_s)}
        self._in_flight: set[_Exchange] = set()
        self._sweep: asyncio.TimerHandle | None = None

    async def infer(self, request: Request) -> Response:
        return await self._invoke(request, OIP)

    async def plain(self, request: Request) -> Response:
        return await self._invoke(request, PLAIN)

    async def _invoke(self, request: Request, form: Form) -> Response:
        application = request.path_params["application"]
        version = request.path_params.get("version", "")
        headers = request.headers
        request_id, refused = request_id_from(headers.get("x-request-id"))
        exchange = _Exchange(self, request, form, application, version)
        invocation = Invocation(
            application,
            "http",
            request_id,
            STATUSES,
            exchange.reply,
            version=version,
            refused_id=refused,
            authorization=headers.get("authorization"),
            decode=exchange.decode,
        )
        try:
            invocation.deadline = _deadline(headers.get("request-timeout"))
        except InvalidInputError as exc:
            invocation.envelope_error = exc
        if self._too_large(headers.get("content-length")):
            # Refused before the route is drawn: a stage with no released version would answer 503.
            invocation.envelope_error = PayloadTooLargeError(self.options.max_body_bytes)
        self._in_flight.add(exchange)
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(DISCONNECT_SWEEP_S, self._sweep_in_flight)
        try:
            return await self.plane.invoke(invocation)
        except RouterError as exc:
            return self.error(exc, request_id)
        except asyncio.CancelledError:
            if not exchange.gone:
                raise
            if exchange.task is not None:
                exchange.task.uncancel()
            return Response(status_code=STATUSES.cancelled)  # to nobody: the caller is gone
        finally:
            self._in_flight.discard(exchange)
            if exchange.watcher is not None:
                exchange.watcher.cancel()

    def _sweep_in_flight(self) -> None:
        self._sweep = None
        for exchange in self._in_flight:
            exchange.sweep()
        if self._in_flight:
            self._sweep = asyncio.get_running_loop().call_later(DISCONNECT_SWEEP_S, self._sweep_in_flight)

    def error(self, exc: RouterError, request_id: str = "") -> Response:
        status = status_of(exc)
        headers = dict(self._retry_after) if status in (429, 503) else {}
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if status == 415:
            headers["Accept-Encoding"] = ", ".join(encoding.SUPPORTED)
        if request_id:
            headers["X-Request-Id"] = request_id
        return json_response({"error": str(exc)}, status, headers)

    def _too_large(self, content_length: str | None) -> bool:
        if content_length is None:
            return False
        length = length_of(content_length)
        return length is not None and length > self.options.max_body_bytes

    async def read_body(self, request: Request) -> bytes:
        limit = self.options.max_body_bytes
        if self._too_large(request.headers.get("content-length")):
            raise PayloadTooLargeError(limit)
        return await encoding.read_body(request.stream(), request.headers.get("content-encoding"), limit)

    async def compressed(self, response: Response, coding: str) -> Response:
        body = bytes(response.body)
        level = self.options.compress_level
        if len(body) > _COMPRESS_INLINE_BYTES:
            body = await asyncio.to_thread(encoding.compress, body, coding, level)
        else:
            body = encoding.compress(body, coding, level)
        response.body = body
        response.headers["Content-Length"] = str(len(body))
        response.headers["Content-Encoding"] = coding
        response.headers["Vary"] = "Accept-Encoding"
        return response

    async def model_metadata(self, request: Request) -> Response:
        application = request.path_params["application"]
        try:
            route = await self.plane.route(application)
            self.plane.check_version(route, request.path_params.get("version", ""))
            signature = self.plane.signature(route)
        except RouterError as exc:
            return self.error(exc)
        served = self.plane.served_version(route)
        return json_response(metadata(application, signature, [served.number] if served else []))

    async def model_ready(self, request: Request) -> Response:
        # Scale-to-zero applications accept requests at any time: existing is being ready.
        try:
            route = await self.plane.route(request.path_params["application"])
            self.plane.check_version(route, request.path_params.get("version", ""))
        except RouterError as exc:
            return self.error(exc)
        return Response(status_code=200)

    async def live(self, request: Request) -> Response:
        return Response(status_code=200)

    async def ready(self, request: Request) -> Response:
        if self.plane.ready:
            return Response(status_code=200)
        return json_response(
            {"error": "no routing table yet: the control plane has not answered"}, 503, self._retry_after
        )

    async def server_metadata(self, request: Request) -> Response:
        return json_response({"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)})

    async def metrics(self, request: Request) -> Response:
        return Response(self.plane.metrics.exposition(), media_type=CONTENT_TYPE)


def _deadline(request_timeout: str | None) -> float | None:
    """The loop time by which a caller that sent `Request-Timeout: <seconds>` stops waiting."""
    if request_timeout is None:
        return None
    try:
        seconds = float(request_timeout)
    except ValueError:
        raise InvalidInputError(
            f"Request-Timeout header {request_timeout!r} is not a number of seconds"
        ) from None
    if not seconds > 0:
        raise InvalidInputError(
            f"Request-Timeout header {request_timeout!r} must be a positive number of seconds"
        )
    return asyncio.get_running_loop().time() + seconds


def create_app(plane: DataPlane, options: HttpOptions, *, lifespan: Lifespan | None = None) -> Starlette:
    """The router's HTTP app over `plane` (the routes are `HttpEdge`'s methods)."""
    edge = HttpEdge(plane, options)
    routes = [
        Route("/v2", edge.server_metadata, methods=["GET"]),
        Route("/v2/health/live", edge.live, methods=["GET"]),
        Route("/v2/health/ready", edge.ready, methods=["GET"]),
        Route("/v2/models/{application}", edge.model_metadata, methods=["GET"]),
        Route("/v2/models/{application}/ready", edge.model_ready, methods=["GET"]),
        Route("/v2/models/{application}/infer", edge.infer, methods=["POST"]),
        Route("/v2/models/{application}/versions/{version}", edge.model_metadata, methods=["GET"]),
        Route("/v2/models/{application}/versions/{version}/ready", edge.model_ready, methods=["GET"]),
        Route("/v2/models/{application}/versions/{version}/infer", edge.infer, methods=["POST"]),
        Route("/apps/{application}", edge.plain, methods=["POST"]),
        Route("/metrics", edge.metrics, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
