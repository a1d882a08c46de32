"""Forwarding one checked request through its plan, stage by stage, with shadows and sampling.

Each stage is forwarded over gRPC to a replica of its drawn version (held while none has room; see
`router.version_queue`), and a stage's outputs become the next stage's inputs by name, without a round
trip through numpy. Shadow variants (weight 0) get a copy of their stage's request in the background;
their answers are dropped. Every forwarded call, shadows included, carries the invoke's request id as
gRPC metadata `x-request-id` (see `router.request_log`).
"""

from __future__ import annotations

import asyncio
import logging
import time

import grpc

from protos.inference import grpc_service_pb2 as pb
from router.catalog_watch import CatalogWatch
from router.dispatch import Dispatch
from router.errors import (
    DeadlineExceededError,
    InvalidInputError,
    ModelFailedError,
    PipelineError,
    ReplicaUnavailableError,
    RouteRemovedError,
    RouterError,
)
from router.metrics import Metrics
from router.plan import Plan
from router.request_log import RequestContext
from router.rotation import Replica
from router.routing import Version
from router.sampler import Sample, Sampler

log = logging.getLogger(__name__)

# A replica answering these has not served the call: take it out of rotation and try once more.
# NOT_FOUND means another model answers at that address (a replica replaced on a reused port).
# CANCELLED (the router never cancels a forward itself: a caller going away cancels the task) is what
# a stopping replica's gRPC server answers the calls it accepted but had not yet handed to the model
# (grpc/grpc#41785), when the scaler's word that the replica leaves reaches the router too late.
_RETRY_ELSEWHERE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.CANCELLED}
)


class Pipeline:
    def __init__(
        self,
        catalog: CatalogWatch,
        dispatch: Dispatch,
        metrics: Metrics,
        *,
        max_shadow_calls: int = 256,
        sampler: Sampler | None = None,
    ) -> None:
        self.catalog = catalog
        self.dispatch = dispatch
        self.metrics = metrics
        self.max_shadow_calls = max_shadow_calls
        self.sampler = sampler
        self._shadow_calls: set[asyncio.Task[None]] = set()

    async def infer(
        self, plan: Plan, request: pb.ModelInferRequest, deadline: float | None, context: RequestContext
    ) -> pb.ModelInferResponse:
        """Run `request` (already checked) through every stage of `plan`.

        `request` is consumed (its model name is rewritten per stage); its `id` (the caller's, from the
        protocol) goes to every stage. `deadline` is in loop time. `context` gets the versions used and
        the time held, and its request id is forwarded to every replica as gRPC metadata.
        """
        application = plan.route.name
        request_id = request.id
        versions = plan.versions
        last = len(versions) - 1
        wanted: list[pb.ModelInferRequest.InferRequestedOutputTensor] = []
        if last > 0:
            if request.outputs:
                wanted = list(request.outputs)
                del request.outputs[:]
            for later in versions[1:]:
                self.dispatch.queue(later).prewake()  # cold stages start together, not one by one
        stages = plan.route.stages
        sample = None
        if self.sampler is not None:  # records carry the invoke's id, the one replicas get as x-request-id
            sample = self.sampler.start(plan.route, context.request_id)
        for index, version in enumerate(versions):
            if stages[index].shadows:
                self._shadow(application, index, stages[index].shadows, request, context, sample)
            request.model_name = version.model
            request.model_version = version.number
            context.versions.append(version.key)
            response = await self._forward(application, index, version, request, deadline, context, sample)
            if index < last:
                request = _next_request(response, request_id, index, version, versions[index + 1])
                if index + 1 == last and wanted:
                    request.outputs.extend(wanted)
        return response

    async def _forward(
        self,
        application: str,
        index: int,
        version: Version,
        request: pb.ModelInferRequest,
        deadline: float | None,
        context: RequestContext,
        sample: Sample | None = None,
    ) -> pb.ModelInferResponse:
        self._check_routed(application, version)
        queue = self.dispatch.queue(version)
        retried = False
        while True:
            async with queue.replica(application, deadline, context) as replica:
                started = time.perf_counter()
                try:
                    timeout = None
                    if deadline is not None:
                        timeout = deadline - asyncio.get_running_loop().time()
                        if timeout <= 0:
                            raise DeadlineExceededError(
                                f"application {application!r}: the deadline passed before calling "
                                f"{version.key}"
                            )
                    response: pb.ModelInferResponse = await replica.stub.ModelInfer(
                        request, timeout=timeout, metadata=context.metadata
                    )
                except grpc.aio.AioRpcError as exc:
                    code = exc.code()
                    self.metrics.forwards.labels(application, version.key, code.name).inc()
                    if code in _RETRY_ELSEWHERE and not retried:
                        queue.take_out(replica, f"{code.name}: {exc.details()}")
                        retried = True
                        continue
                    if sample is not None:
                        sample.record(index, version, request, None, started, code.name, exc.details() or "")
                    raise _replica_error(exc, application, index, version, replica, retried) from None
            self.metrics.forwarded(application, version.key, time.perf_counter() - started)
            if sample is not None:
                sample.record(index, version, request, response, started)
            return response

    def _check_routed(self, application: str, version: Version) -> None:
        """Raise RouteRemovedError if a snapshot newer than the request's plan dropped its route to
        `version` (a later pipeline stage must not be served by a removed version)."""
        table = self.catalog.view
        if table is None:
            return
        route = table.routes.get(application)
        if route is None or not route.routes_to(version.key):
            raise RouteRemovedError(application, version.key, application_deleted=route is None)

    def _shadow(
        self,
        application: str,
        index: int,
        shadows: tuple[Version, ...],
        request: pb.ModelInferRequest,
        context: RequestContext,
        sample: Sample | None = None,
    ) -> None:
        """Send shadow variants a copy of the stage's request; their answers and failures go nowhere
        but the metrics, and never delay the caller."""
        for version in shadows:
            if len(self._shadow_calls) >= self.max_shadow_calls:
                self.metrics.forwards.labels(application, version.key, "SHADOW_DROPPED").inc()
                continue
            context.shadows.append(version.key)
            copy = pb.ModelInferRequest()
            copy.CopyFrom(request)
            copy.model_name = version.model
            copy.model_version = version.number
            call = asyncio.get_running_loop().create_task(
                self._shadow_call(application, index, version, copy, context, sample and sample.as_shadow())
            )
            self._shadow_calls.add(call)
            call.add_done_callback(self._shadow_calls.discard)

    async def _shadow_call(
        self,
        application: str,
        index: int,
        version: Version,
        request: pb.ModelInferRequest,
        context: RequestContext,
        sample: Sample | None = None,
    ) -> None:
        # The shadow call's holds are its own: only the request id is shared with the caller's context.
        shadow_context = RequestContext(context.request_id, context.transport, context.application)
        try:
            await self._forward(application, index, version, request, None, shadow_context, sample)
        except Exception as exc:
            log.debug("shadow call of %r to %s failed: %s", application, version.key, exc)

    async def close(self) -> None:
        """Cancel the shadow calls still under way."""
        for call in list(self._shadow_calls):
            call.cancel()
        await asyncio.gather(*self._shadow_calls, return_exceptions=True)


def _next_request(
    response: pb.ModelInferResponse, request_id: str, index: int, version: Version, following: Version
) -> pb.ModelInferRequest:
    """Stage `index + 1`'s request: the outputs of stage `index` that the next stage takes, by name."""
    takes = {spec.name for spec in following.signature.inputs}
    request = pb.ModelInferRequest(id=request_id)
    raw = response.raw_output_contents
    if raw and len(raw) != len(response.outputs):
        raise ModelFailedError(
            f"stage {index + 1} ({version.key}) answered {len(raw)} raw contents "
            f"for {len(response.outputs)} outputs"
        )
    produced = set()
    for position, tensor in enumerate(response.outputs):
        produced.add(tensor.name)
        if tensor.name not in takes:
            continue
        forwarded = request.inputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        if raw:
            request.raw_input_contents.append(raw[position])
        else:
            forwarded.contents.CopyFrom(tensor.contents)
    missing = takes - produced
    if missing:
        raise PipelineError(
            f"stage {index + 2} ({following.key}) takes {', '.join(repr(n) for n in sorted(missing))}, which "
            f"stage {index + 1} ({version.key}) does not produce (it produces {', '.join(sorted(produced))})"
        )
    return request


def _replica_error(
    exc: grpc.aio.AioRpcError, application: str, index: int, version: Version, replica: Replica, retried: bool
) -> RouterError:
    code, details = exc.code(), exc.details() or ""
    where = f"stage {index + 1} ({version.key})" if index else version.key
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidInputError(details if index == 0 else f"{where}: {details}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceededError(
            f"application {application!r}: the deadline passed while {where} answered"
        )
    if code in _RETRY_ELSEWHERE:
        return ReplicaUnavailableError(
            f"application {application!r}: {where} replica {replica.replica_id} at {replica.address} "
            f"is unavailable ({code.name}: {details})"
            + (" and so was the replica tried first" if retried else "")
        )
    return ModelFailedError(f"application {application!r}: {where} failed: {code.name}: {details}")
