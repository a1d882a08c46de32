"""The gRPC edge: `inference.GRPCInferenceService` with the application name as the model name.

A thin translator: a ModelInfer request goes to the data plane as it came (raw or typed contents; see
`router.invocation`), and the last stage's answer goes back as the replica sent it (the runtime answers
in `raw_output_contents`, which is what tritonclient.grpc reads), renamed to the application. A model
version is accepted only as `admission.check_version` describes. Router errors become gRPC status codes
here and nowhere else. Every ModelInfer answer, error or not, carries the request id in its trailing
metadata `x-request-id` (see `router.request_log`); the response's `id` is the request's, as the
protocol says.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, NoReturn

import grpc

from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc as pb_grpc
from router import __version__
from router.dataplane import EXTENSIONS, SERVER_NAME, DataPlane
from router.errors import (
    RouterError,
)
from router.grpc_status import GRPC_STATUSES
from router.invocation import Answer, Invocation
from router.request_log import REQUEST_ID_KEY, id_metadata, request_id_from

Context = grpc.aio.ServicerContext[Any, Any]


def status_of(exc: RouterError) -> grpc.StatusCode:
    return GRPC_STATUSES.of(exc)


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


def _call_metadata(context: Context) -> tuple[str | None, str | None]:
    """The call's `authorization` and `x-request-id` metadata values (None when absent)."""
    authorization = request_id = None
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            authorization = value if isinstance(value, str) else value.decode(errors="replace")
        elif key == REQUEST_ID_KEY:
            request_id = value if isinstance(value, str) else value.decode(errors="replace")
    return authorization, request_id


async def _response(answer: Answer) -> pb.ModelInferResponse:
    return answer.response


class InferenceEdge(pb_grpc.GRPCInferenceServiceServicer):
    """The Open Inference Protocol over gRPC, one model per application."""

    def __init__(self, plane: DataPlane, *, retry_after_s: int = 1) -> None:
        self.plane = plane
        self.retry_after_s = retry_after_s

    async def ModelInfer(self, request: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:
        authorization, given_id = _call_metadata(context)
        request_id, refused = request_id_from(given_id)
        remaining = context.time_remaining()
        invocation = Invocation(
            request.model_name,
            "grpc",
            request_id,
            GRPC_STATUSES,
            _response,
            version=request.model_version,
            refused_id=refused,
            authorization=authorization,
            deadline=None if remaining is None else asyncio.get_running_loop().time() + remaining,
            request=request,
        )
        metadata = id_metadata(request_id)
        # The invoke is counted before the answer or the error status is sent: an abort sends the status
        # and waits for it to go out before it raises.
        try:
            response = await self.plane.invoke(invocation)
        except RouterError as exc:
            await _abort(context, exc, self.retry_after_s, metadata)
        context.set_trailing_metadata(metadata)
        return response

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
