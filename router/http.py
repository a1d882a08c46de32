"""The HTTP edge (Starlette): Open Inference Protocol REST, the plain JSON form, health and /metrics.

A thin translator: JSON in, arrays to the data plane, JSON out. Router errors become HTTP statuses here
(`{"error": "..."}`, with Retry-After on 429 and 503); anything unexpected is logged with its traceback
and answered 500 with the request id only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protos import tensors
from protos.signature import Signature, TensorSpec
from router import __version__
from router.dataplane import DataPlane, Plan, new_request_id
from router.errors import (
    ApplicationNotFoundError,
    DeadlineExceededError,
    InvalidInputError,
    ModelFailedError,
    PayloadTooLargeError,
    QueueFullError,
    RouterError,
    UnavailableError,
    UpstreamError,
)
from router.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)

SERVER_NAME = "hydro-router"

_STATUS: tuple[tuple[type[RouterError], int], ...] = (
    (InvalidInputError, 400),
    (ApplicationNotFoundError, 404),
    (PayloadTooLargeError, 413),
    (QueueFullError, 429),
    (UpstreamError, 502),
    (UnavailableError, 503),
    (DeadlineExceededError, 504),
)

Decode = Callable[[Any, Plan], tuple[dict[str, np.ndarray], str]]
Encode = Callable[[str, Mapping[str, np.ndarray], str], Any]
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
    lifespan: Lifespan | None = None,
) -> Starlette:
    """The router's HTTP app over `plane`."""
    retry_after = {"Retry-After": str(retry_after_s)}

    def error(exc: RouterError, request_id: str = "") -> Response:
        status = status_of(exc)
        headers = dict(retry_after) if status in (429, 503) else {}
        if request_id:
            headers["X-Request-Id"] = request_id
        return _json({"error": str(exc)}, status, headers)

    async def read_body(request: Request) -> Any:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body_bytes:
            raise PayloadTooLargeError(max_body_bytes)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise PayloadTooLargeError(max_body_bytes)
            chunks.append(chunk)
        try:
            return orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError as exc:
            raise InvalidInputError(f"request body is not valid JSON: {exc}") from None

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
        started = time.perf_counter()
        application = request.path_params["application"]
        label, code = application, "ok"
        request_id = request.headers.get("x-request-id", "")
        try:
            deadline = deadline_of(request)
            route = await plane.route(application)
            body = await read_body(request)
            plan = plane.plan(route)
            try:
                arrays, body_id = decode(body, plan)
            except tensors.TensorError as exc:
                raise InvalidInputError(str(exc)) from None
            request_id = body_id or request_id or new_request_id()
            plane.check(plan, arrays)
            outgoing = tensors.encode_infer_request("", arrays, request_id=request_id)
            answer = await plane.infer(plan, outgoing, deadline=deadline)
            try:
                outputs = tensors.decode_infer_response(answer)
            except tensors.TensorError as exc:
                raise ModelFailedError(
                    f"application {application!r}: the answer cannot be read: {exc}"
                ) from None
            return _json(encode(application, outputs, body_id), headers={"X-Request-Id": request_id})
        except RouterError as exc:
            code = exc.reason
            if isinstance(exc, ApplicationNotFoundError):
                label = "unknown"
            return error(exc, request_id)
        except Exception:
            code = "internal"
            request_id = request_id or new_request_id()
            log.exception("request %s to application %r failed", request_id, application)
            return _json(
                {"error": f"internal error (request id {request_id})"}, 500, {"X-Request-Id": request_id}
            )
        finally:
            plane.observe(label, "http", code, time.perf_counter() - started)

    def decode_oip(body: Any, plan: Plan) -> tuple[dict[str, np.ndarray], str]:
        return tensors.decode_json_request(body)

    def encode_oip(application: str, outputs: Mapping[str, np.ndarray], request_id: str) -> Any:
        return tensors.encode_json_response(application, outputs, request_id=request_id)

    def decode_plain(body: Any, plan: Plan) -> tuple[dict[str, np.ndarray], str]:
        return tensors.decode_plain_request(body, plan.signature), ""

    def encode_plain(application: str, outputs: Mapping[str, np.ndarray], request_id: str) -> Any:
        return tensors.encode_plain_response(outputs)

    async def infer(request: Request) -> Response:
        return await invoke(request, decode_oip, encode_oip)

    async def plain(request: Request) -> Response:
        return await invoke(request, decode_plain, encode_plain)

    async def model_metadata(request: Request) -> Response:
        application = request.path_params["application"]
        try:
            signature = plane.signature(await plane.route(application))
        except RouterError as exc:
            return error(exc)
        return _json(metadata(application, signature))

    async def model_ready(request: Request) -> Response:
        # Scale-to-zero applications accept requests at any time: existing is being ready.
        try:
            await plane.route(request.path_params["application"])
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
        return _json({"name": SERVER_NAME, "version": __version__, "extensions": []})

    async def metrics(request: Request) -> Response:
        return Response(plane.metrics.exposition(), media_type=CONTENT_TYPE)

    routes = [
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2/models/{application}", model_metadata, methods=["GET"]),
        Route("/v2/models/{application}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{application}/infer", infer, methods=["POST"]),
        Route("/apps/{application}", plain, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def metadata(application: str, signature: Signature) -> dict[str, Any]:
    """Open Inference Protocol model metadata of an application."""

    def tensor(spec: TensorSpec) -> dict[str, Any]:
        return {"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)}

    return {
        "name": application,
        "versions": [],
        "platform": "hydro",
        "inputs": [tensor(spec) for spec in signature.inputs],
        "outputs": [tensor(spec) for spec in signature.outputs],
    }
