"""The gRPC edge: `inference.GRPCInferenceService` with the application name as the model name.

A thin translator like `http.py`: requests are checked and handed to the data plane as they came (raw
or typed contents), and the last stage's answer goes back as the replica sent it (the runtime answers
in `raw_output_contents`, which is what tritonclient.grpc reads), renamed to the application. A model
version is accepted only as `DataPlane.check_version` describes. Router errors become gRPC status codes
here and nowhere else. Every ModelInfer answer, error or not, carries the request id in its trailing
metadata `x-request-id` (see `router.request_log`); the response's `id` is the request's, as the
protocol says.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, NoReturn

import grpc

from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc as pb_grpc
from router import __version__
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
    UpstreamError,
)
from router.request_log import REQUEST_ID_KEY, RequestContext, request_id_from

log = logging.getLogger(__name__)


_STATUS: tuple[tuple[type[RouterError], grpc.StatusCode], ...] = (
    (InvalidInputError, grpc.StatusCode.INVALID_ARGUMENT),
    (UnauthenticatedError, grpc.StatusCode.UNAUTHENTICATED),
    (ApplicationNotFoundError, grpc.StatusCode.NOT_FOUND),
    (PayloadTooLargeError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (QueueFullError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (UnavailableError, grpc.StatusCode.UNAVAILABLE),
    (DeadlineExceededError, grpc.StatusCode.DEADLINE_EXCEEDED),
    (UpstreamError, grpc.StatusCode.INTERNAL),
)

Context = grpc.aio.ServicerContext[Any, Any]


def status_of(exc: RouterError) -> grpc.StatusCode:
    for kind, code in _STATUS:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


async def _abort(
    context: Context, exc: RouterError, retry_after_s: int, metadata: Sequence[tuple[str, str]] = ()
) -> NoReturn:
    """Fail the call with `exc`'s status; `metadata` goes in the trailing metadata."""
    code = status_of(exc)
    if code in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE):
        metadata = (*metadata, ("retry-after", str(retry_after_s)))
    if metadata:
        context.set_trailing_metadata(tuple(metadata))
    await context.abort(code, str(exc))
    raise AssertionError("unreachable: abort raises")


def _invocation(context: Context) -> tuple[str | None, str | None]:
    """The call's `authorization` and `x-request-id` metadata values (None when absent)."""
    authorization = request_id = None
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            authorization = value if isinstance(value, str) else value.decode(errors="replace")
        elif key == REQUEST_ID_KEY:
            request_id = value if isinstance(value, str) else value.decode(errors="replace")
    return authorization, request_id


class InferenceEdge(pb_grpc.GRPCInferenceServiceServicer):
    """The Open Inference Protocol over gRPC, one model per application."""

    def __init__(self, plane: DataPlane, *, retry_after_s: int = 1) -> None:
        self.plane = plane
        self.retry_after_s = retry_after_s

    async def ServerLive(self, request: pb.ServerLiveRequest, context: Context) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: pb.ServerReadyRequest, context: Context) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.plane.ready)

    async def ModelReady(self, request: pb.ModelReadyRequest, context: Context) -> pb.ModelReadyResponse:
        try:
            self.plane.check_version(await self.plane.route(request.name), request.version)
        except RouterError as exc:
            await _abort(context, exc, self.retry_after_s)
        return pb.ModelReadyResponse(ready=True)

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: Context
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=__version__, extensions=EXTENSIONS)

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: Context
    ) -> pb.ModelMetadataResponse:
        try:
            route = await self.plane.route(request.name)
            self.plane.check_version(route, request.version)
            signature = self.plane.signature(route)
        except RouterError as exc:
            await _abort(context, exc, self.retry_after_s)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        served = self.plane.served_version(route)
        return pb.ModelMetadataResponse(
            name=request.name,
            versions=[served.number] if served else [],
            platform="hydro",
            inputs=[tensor(name=s.name, datatype=s.datatype, shape=s.shape) for s in signature.inputs],
            outputs=[tensor(name=s.name, datatype=s.datatype, shape=s.shape) for s in signature.outputs],
        )

    async def ModelInfer(self, request: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:
        application, version = request.model_name, request.model_version
        authorization, given_id = _invocation(context)
        request_id, refused = request_id_from(given_id)
        call = RequestContext(request_id, "grpc", application, refused_id=refused)
        # Every way out counts the invoke (`finish`) before the answer or the error status is sent: an
        # abort sends the status and waits for it to go out before it raises.
        try:
            route = await self.plane.route(application)
            self.plane.authenticate(route, authorization)
            self.plane.check_version(route, version)
            plan = self.plane.plan(route)
            self.plane.check_request(plan, request)
            self.plane.check_outputs(plan, [output.name for output in request.outputs])
            remaining = context.time_remaining()
            deadline = None if remaining is None else asyncio.get_running_loop().time() + remaining
            response = await self.plane.infer(plan, request, deadline=deadline, context=call)
            response.model_name = application
            response.model_version = version
            context.set_trailing_metadata(call.metadata)
            self.plane.finish(call, application, "ok", "OK", None)
            return response
        except RouterError as exc:
            label = "unknown" if isinstance(exc, ApplicationNotFoundError) else application
            self.plane.finish(call, label, exc.reason, status_of(exc).name, str(exc))
            await _abort(context, exc, self.retry_after_s, call.metadata)
        except asyncio.CancelledError:  # the caller went away or its deadline passed
            self.plane.finish(call, application, "cancelled", "CANCELLED", None)
            raise
        except Exception as exc:
            log.exception("request %s to application %r failed", request_id, application)
            self.plane.finish(call, application, "internal", "INTERNAL", f"{type(exc).__name__}: {exc}")
            context.set_trailing_metadata(call.metadata)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})")
            raise AssertionError("unreachable: abort raises") from None
