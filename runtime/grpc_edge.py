"""The runtime's gRPC edge: `inference.GRPCInferenceService` for the one model in the manifest, and
`hydro.v1.RuntimeInfo` with the process's own counters.

Each ModelInfer decodes the request, checks it against the signature, predicts on a worker thread (or
inline for a fast model that is the only request in flight, see `runtime.placement`), checks and encodes
the answer, and is logged as one JSON line with the caller's `x-request-id` (see `runtime.request_log`).
Errors become gRPC status codes here and nowhere else (`_status_of`; the tree is in `runtime.errors`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import grpc

from protos.hydro.v1 import runtime_pb2, runtime_pb2_grpc
from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc as pb_grpc
from runtime import __version__, request_log
from runtime.errors import ModelError, ModelNotFoundError, NotReadyError
from runtime.loader import Arrays, Model
from runtime.manifest import Manifest
from runtime.placement import PredictPlacement
from wire import datatypes, oip_grpc
from wire.signature import SignatureError

log = logging.getLogger(__name__)

SERVER_NAME = "hydro-runtime"


@dataclass
class Stats:
    """Request counters of this process, answered by `hydro.v1.RuntimeInfo/GetStats`."""

    in_flight: int = 0
    max_in_flight: int = 0
    served: int = 0
    failed: int = 0
    started_at: float = field(default_factory=time.monotonic)

    def started(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def finished(self, ok: bool) -> None:
        self.in_flight -= 1
        if ok:
            self.served += 1
        else:
            self.failed += 1


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):
    """`inference.GRPCInferenceService` for the one model named in the manifest."""

    def __init__(
        self, manifest: Manifest, executor: ThreadPoolExecutor, *, inline_predict_below_s: float = 0.0
    ) -> None:
        self.manifest = manifest
        self.model: Model | None = None
        self.stats = Stats()
        self.placement = PredictPlacement(inline_predict_below_s)
        self._executor = executor
        self._version = str(manifest.version)

    # -- health and metadata ----------------------------------------------------------------------

    async def ServerLive(self, request: pb.ServerLiveRequest, context: Any) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: pb.ServerReadyRequest, context: Any) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.model is not None)

    async def ModelReady(self, request: pb.ModelReadyRequest, context: Any) -> pb.ModelReadyResponse:
        try:
            self._check_model(request.name, request.version)
        except Exception as exc:
            await _abort(context, exc)
        return pb.ModelReadyResponse(ready=self.model is not None)

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: Any
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=__version__, extensions=[])

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Any) -> pb.ModelMetadataResponse:
        try:
            self._check_model(request.name, request.version)
        except Exception as exc:
            await _abort(context, exc)
        signature = self.manifest.signature
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=self.manifest.name,
            versions=[self._version],
            platform=self.manifest.runtime,
            inputs=[tensor(name=s.name, datatype=s.datatype, shape=s.shape) for s in signature.inputs],
            outputs=[tensor(name=s.name, datatype=s.datatype, shape=s.shape) for s in signature.outputs],
        )

    # -- inference --------------------------------------------------------------------------------

    async def ModelInfer(self, request: pb.ModelInferRequest, context: Any) -> pb.ModelInferResponse:
        started = time.perf_counter()
        self.stats.started()
        status = "OK"
        try:
            return await self.infer(request)
        except asyncio.CancelledError:
            status = "CANCELLED"
            raise
        except Exception as exc:
            code = _status_of(exc)
            status = code.name
            await context.abort(code, _message(exc))
            raise  # unreachable: abort raises
        finally:
            self.stats.finished(status == "OK")
            request_log.served(
                request_log.request_id_of(context.invocation_metadata()),
                self.manifest.name,
                self._version,
                status,
                time.perf_counter() - started,
                in_flight=self.stats.in_flight,
            )

    async def infer(self, request: pb.ModelInferRequest) -> pb.ModelInferResponse:
        """Decode, check against the signature, predict on a worker thread, check and encode the answer."""
        self._check_model(request.model_name, request.model_version)
        model = self.model
        if model is None:
            raise NotReadyError(f"model {self.manifest.name!r} version {self._version} is still loading")
        signature = self.manifest.signature
        inputs = oip_grpc.decode_infer_request(request)
        signature.check_inputs(inputs)
        wanted = [output.name for output in request.outputs]
        signature.check_requested(wanted, "the model")

        if self.placement.inline(self.stats.in_flight):
            outputs = self._predict(model, inputs)
        else:
            outputs = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._predict, model, inputs
            )
        try:
            signature.check_outputs(outputs)
        except (SignatureError, datatypes.TensorError) as exc:
            raise ModelError(f"the model's answer does not match its signature: {exc}") from None
        if wanted:
            outputs = {name: outputs[name] for name in wanted}
        try:
            return oip_grpc.encode_infer_response(
                self.manifest.name, outputs, request_id=request.id, model_version=self._version
            )
        except datatypes.TensorError as exc:
            raise ModelError(f"the model's answer cannot be encoded: {exc}") from None

    def _predict(self, model: Model, inputs: Arrays) -> Arrays:
        started = time.perf_counter()
        try:
            return model.predict(inputs)
        finally:
            self.placement.observe(time.perf_counter() - started)

    def _check_model(self, name: str, version: str) -> None:
        if name and name != self.manifest.name:
            raise ModelNotFoundError(
                f"model {name!r} is not served here; this runtime serves model {self.manifest.name!r}"
            )
        if version and version != self._version:
            raise ModelNotFoundError(
                f"version {version!r} of model {self.manifest.name!r} is not served here; "
                f"this runtime serves version {self._version}"
            )


class RuntimeInfoService(runtime_pb2_grpc.RuntimeInfoServicer):
    """`hydro.v1.RuntimeInfo`: the runtime's own counters, for checks that must not trust the router's."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    async def GetStats(
        self, request: runtime_pb2.RuntimeStatsRequest, context: Any
    ) -> runtime_pb2.RuntimeStats:
        stats = self.stats
        return runtime_pb2.RuntimeStats(
            in_flight=stats.in_flight,
            max_in_flight=stats.max_in_flight,
            served=stats.served,
            failed=stats.failed,
            uptime_s=time.monotonic() - stats.started_at,
        )


def _status_of(exc: Exception) -> grpc.StatusCode:
    """The status that fits the error."""
    if isinstance(exc, ModelNotFoundError):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, NotReadyError):
        return grpc.StatusCode.UNAVAILABLE
    if isinstance(exc, SignatureError | datatypes.TensorError):
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.INTERNAL


def _message(exc: Exception) -> str:
    """The message naming the problem; an unexpected error is logged and answered without its text."""
    if isinstance(
        exc, ModelNotFoundError | NotReadyError | SignatureError | datatypes.TensorError | ModelError
    ):
        return str(exc)
    log.error("unexpected error while answering a request", exc_info=exc)
    return "internal error in the model runtime (see its log)"


async def _abort(context: Any, exc: Exception) -> None:
    """Answer a failed call with the status that fits the error; the message names the problem."""
    await context.abort(_status_of(exc), _message(exc))
