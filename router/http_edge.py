"""The HTTP edge (Starlette): Open Inference Protocol REST, the plain JSON form, health and /metrics.

A thin translator: JSON in, arrays to the data plane, JSON out. The OIP routes also speak the binary
tensor data extension (raw tensor bytes after a JSON header whose length is the
`Inference-Header-Content-Length` header, both ways; see `wire.oip_binary`), and honour the `outputs`
a request asks for. Invoke bodies may come gzip- or deflate-encoded and answers go back compressed when
the caller accepts it (`router.encoding`). Router errors become HTTP statuses here (`{"error": "..."}`,
with Retry-After on 429 and 503); anything unexpected is logged with its traceback and answered 500 with
the request id only. Every invoke answer, error or not, carries the request id in `X-Request-Id`
(see `router.request_log`).

The application name is the OIP model name. An application has no versions of its own: the
`/versions/{version}` routes accept only the model version a single-stage, single-variant application
runs, and answer 404 naming the application and version otherwise (`DataPlane.check_version`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from router import __version__, encoding
from router.dataplane import EXTENSIONS, SERVER_NAME, DataPlane, Plan
from router.errors import (
    ApplicationNotFoundError,
    DeadlineExceededError,
    InvalidInputError,
    ModelFailedError,
    PayloadTooLargeError,
    QueueFullError,
    RouterError,
    UnauthenticatedError,
    UnavailableError,
    UnsupportedEncodingError,
    UpstreamError,
)
from router.metrics import CONTENT_TYPE
from router.request_log import RequestContext, request_id_from
from wire import datatypes, oip_binary, oip_grpc, oip_json, plain_form
from wire.signature import Signature, TensorSpec

log = logging.getLogger(__name__)

HEADER_LENGTH = "Inference-Header-Content-Length"

_STATUS: tuple[tuple[type[RouterError], int], ...] = (
    (UnsupportedEncodingError, 415),
    (InvalidInputError, 400),
    (UnauthenticatedError, 401),
    (ApplicationNotFoundError, 404),
    (PayloadTooLargeError, 413),
    (QueueFullError, 429),
    (UpstreamError, 502),
    (UnavailableError, 503),
    (DeadlineExceededError, 504),
)


@dataclass(frozen=True)
class Call:
    """A decoded invoke: the inputs, the request id the body gave, and the outputs it asks for."""

    arrays: dict[str, np.ndarray]
    body_id: str = ""
    outputs: oip_json.RequestedOutputs = field(default_factory=oip_json.RequestedOutputs)


Decode = Callable[[Request, bytes, Plan], Call]
Encode = Callable[[str, Mapping[str, np.ndarray], Call, str], Response]
Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def status_of(exc: RouterError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def _json(content: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status, headers=headers, media_type="application/json")


def create_app(
    plane: DataPlane,
    *,
    max_body_bytes: int,
    retry_after_s: int = 1,
    compress_min_bytes: int = 1024,
    compress_level: int = 1,
    lifespan: Lifespan | None = None,
) -> Starlette:
    """The router's HTTP app over `plane`; infer answers of at least `compress_min_bytes` are compressed
    (zlib level `compress_level`) for callers that accept gzip or deflate."""
    retry_after = {"Retry-After": str(retry_after_s)}

    def error(exc: RouterError, request_id: str = "") -> Response:
        status = status_of(exc)
        headers = dict(retry_after) if status in (429, 503) else {}
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if status == 415:
            headers["Accept-Encoding"] = ", ".join(encoding.SUPPORTED)
        if request_id:
            headers["X-Request-Id"] = request_id
        return _json({"error": str(exc)}, status, headers)

    async def read_body(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body_bytes:
            raise PayloadTooLargeError(max_body_bytes)
        return await encoding.read_body(
            request.stream(), request.headers.get("content-encoding"), max_body_bytes
        )

    async def compressed(response: Response, coding: str) -> Response:
        body = bytes(response.body)
        if len(body) > _COMPRESS_INLINE_BYTES:
            body = await asyncio.to_thread(encoding.compress, body, coding, compress_level)
        else:
            body = encoding.compress(body, coding, compress_level)
        response.body = body
        response.headers["Content-Length"] = str(len(body))
        response.headers["Content-Encoding"] = coding
        response.headers["Vary"] = "Accept-Encoding"
        return response

    def deadline_of(request: Request) -> float | None:
        value = request.headers.get("request-timeout")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            raise InvalidInputError(f"Request-Timeout header {value!r} is not a number of seconds") from None
        if not seconds > 0:
            raise InvalidInputError(f"Request-Timeout header {value!r} must be a positive number of seconds")
        return asyncio.get_running_loop().time() + seconds

    async def invoke(request: Request, decode: Decode, encode: Encode) -> Response:
        application = request.path_params["application"]
        version = request.path_params.get("version", "")
        request_id, refused = request_id_from(request.headers.get("x-request-id"))
        context = RequestContext(request_id, "http", application, refused_id=refused)
        label, code, status = application, "ok", 200
        problem: str | None = None
        try:
            deadline = deadline_of(request)
            route = await plane.route(application)
            plane.authenticate(route, request.headers.get("authorization"))
            plane.check_version(route, version)
            body = await read_body(request)
            plan = plane.plan(route)
            try:
                call = decode(request, body, plan)
            except datatypes.TensorError as exc:
                raise InvalidInputError(str(exc)) from None
            plane.check(plan, call.arrays)
            wanted = call.outputs.names
            plane.check_outputs(plan, wanted)
            outgoing = oip_grpc.encode_infer_request("", call.arrays, request_id=call.body_id)
            for name in wanted:
                outgoing.outputs.add(name=name)
            answer = await plane.infer(plan, outgoing, deadline=deadline, context=context)
            try:
                outputs = oip_grpc.decode_infer_response(answer)
                if wanted:
                    outputs = {name: outputs[name] for name in wanted}
            except (datatypes.TensorError, KeyError) as exc:
                raise ModelFailedError(
                    f"application {application!r}: the answer cannot be read: {exc}"
                ) from None
            response = encode(application, outputs, call, version)
            response.headers["X-Request-Id"] = request_id
            coding = encoding.accepted(request.headers.get("accept-encoding"))
            if coding is not None and len(response.body) >= compress_min_bytes:
                response = await compressed(response, coding)
            return response
        except RouterError as exc:
            code, status, problem = exc.reason, status_of(exc), str(exc)
            if isinstance(exc, ApplicationNotFoundError):
                label = "unknown"
            return error(exc, request_id)
        except Exception as exc:
            code, status, problem = "internal", 500, f"{type(exc).__name__}: {exc}"
            log.exception("request %s to application %r failed", request_id, application)
            return _json(
                {"error": f"internal error (request id {request_id})"}, 500, {"X-Request-Id": request_id}
            )
        finally:
            plane.finish(context, label, code, status, problem)

    def decode_oip(request: Request, body: bytes, plan: Plan) -> Call:
        binary: bytes | None = None
        header_length = request.headers.get(HEADER_LENGTH)
        if header_length is not None:
            if not header_length.isdigit() or int(header_length) > len(body):
                raise InvalidInputError(
                    f"{HEADER_LENGTH} header {header_length!r} is not a length within the "
                    f"{len(body)}-byte body"
                )
            body, binary = body[: int(header_length)], body[int(header_length) :]
        parsed = _parse_json(body, "the JSON header" if binary is not None else "request body")
        arrays, body_id = oip_json.decode_json_request(parsed, binary=binary)
        return Call(arrays, body_id, oip_json.decode_json_outputs(parsed))

    def encode_oip(application: str, outputs: Mapping[str, np.ndarray], call: Call, version: str) -> Response:
        binary = [name for name in outputs if call.outputs.is_binary(name)]
        if not binary:
            return _json(
                oip_json.encode_json_response(
                    application, outputs, request_id=call.body_id, model_version=version
                )
            )
        header, data = oip_binary.encode_binary_response(
            application, outputs, binary, request_id=call.body_id, model_version=version
        )
        head = orjson.dumps(header)
        return Response(
            head + data, media_type="application/octet-stream", headers={HEADER_LENGTH: str(len(head))}
        )

    def decode_plain(request: Request, body: bytes, plan: Plan) -> Call:
        return Call(plain_form.decode_plain_request(_parse_json(body, "request body"), plan.signature))

    def encode_plain(
        application: str, outputs: Mapping[str, np.ndarray], call: Call, version: str
    ) -> Response:
        return _json(plain_form.encode_plain_response(outputs))

    async def infer(request: Request) -> Response:
        return await invoke(request, decode_oip, encode_oip)

    async def plain(request: Request) -> Response:
        return await invoke(request, decode_plain, encode_plain)

    async def model_metadata(request: Request) -> Response:
        application = request.path_params["application"]
        try:
            route = await plane.route(application)
            plane.check_version(route, request.path_params.get("version", ""))
            signature = plane.signature(route)
        except RouterError as exc:
            return error(exc)
        served = plane.served_version(route)
        return _json(metadata(application, signature, [served.number] if served else []))

    async def model_ready(request: Request) -> Response:
        # Scale-to-zero applications accept requests at any time: existing is being ready.
        try:
            route = await plane.route(request.path_params["application"])
            plane.check_version(route, request.path_params.get("version", ""))
        except RouterError as exc:
            return error(exc)
        return Response(status_code=200)

    async def live(request: Request) -> Response:
        return Response(status_code=200)

    async def ready(request: Request) -> Response:
        if plane.ready:
            return Response(status_code=200)
        return _json({"error": "no routing table yet: the control plane has not answered"}, 503, retry_after)

    async def server_metadata(request: Request) -> Response:
        return _json({"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)})

    async def metrics(request: Request) -> Response:
        return Response(plane.metrics.exposition(), media_type=CONTENT_TYPE)

    routes = [
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2/models/{application}", model_metadata, methods=["GET"]),
        Route("/v2/models/{application}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{application}/infer", infer, methods=["POST"]),
        Route("/v2/models/{application}/versions/{version}", model_metadata, methods=["GET"]),
        Route("/v2/models/{application}/versions/{version}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{application}/versions/{version}/infer", infer, methods=["POST"]),
        Route("/apps/{application}", plain, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


_COMPRESS_INLINE_BYTES = 1 << 20
"""Answers larger than this are compressed on a worker thread, so the event loop keeps serving."""


def _parse_json(data: bytes, what: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"{what} is not valid JSON: {exc}") from None


def metadata(application: str, signature: Signature, versions: list[str]) -> dict[str, Any]:
    """Open Inference Protocol model metadata of an application (`versions`: see `check_version`)."""

    def tensor(spec: TensorSpec) -> dict[str, Any]:
        return {"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)}

    return {
        "name": application,
        "versions": versions,
        "platform": "hydro",
        "inputs": [tensor(spec) for spec in signature.inputs],
        "outputs": [tensor(spec) for spec in signature.outputs],
    }
