"""The data plane that both transports share: resolve, draw, check, hold and forward, stage by stage.

Per request: the application comes from the current routing table; one variant per stage is drawn by
weight; the inputs are checked against the first stage's signature before anything can wake a
replica; each stage is forwarded over gRPC (held while its version has no replica with room), and a
stage's outputs become the next stage's inputs by name, without a round trip through numpy. Shadow
variants (weight 0) get a copy of their stage's request in the background; their answers are dropped.
Every forwarded call, shadows included, carries the invoke's request id as gRPC metadata `x-request-id`
(the edges make a `RequestContext` per invoke and pass it to `infer`; see `router.request_log`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import grpc
import numpy as np

from protos.inference import grpc_service_pb2 as pb
from router.catalog_watch import CatalogWatch
from router.dispatch import Dispatch, Replica, VersionQueue
from router.errors import (
    ApplicationNotFoundError,
    DeadlineExceededError,
    InvalidInputError,
    ModelFailedError,
    NoSnapshotError,
    NotReleasedError,
    PipelineError,
    ReplicaUnavailableError,
    RouteRemovedError,
    RouterError,
    UnauthenticatedError,
    VersionNotFoundError,
)
from router.metrics import Metrics
from router.request_log import RequestContext, RequestLog
from router.routing import Route, Version
from router.sampler import Sample, Sampler
from wire import oip_grpc
from wire.datatypes import TensorError
from wire.signature import Signature, SignatureError

log = logging.getLogger(__name__)

# A replica answering these has not served the call: take it out of rotation and try once more.
# NOT_FOUND means another model answers at that address (a replica replaced on a reused port).
# CANCELLED (the router never cancels a forward itself: a caller going away cancels the task) is what
# a stopping replica's gRPC server answers the calls it accepted but had not yet handed to the model
# (grpc/grpc#41785), when the scaler's word that the replica leaves reaches the router too late.
_RETRY_ELSEWHERE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.CANCELLED}
)


SERVER_NAME = "hydro-router"
# Open Inference Protocol extensions both edges advertise.
EXTENSIONS = ("binary_tensor_data",)


@dataclass(frozen=True)
class Plan:
    """The variants one request goes through, one per stage."""

    route: Route
    versions: tuple[Version, ...]

    @property
    def signature(self) -> Signature:
        """The drawn first stage's signature: what the caller must send."""
        return self.versions[0].signature


class DataPlane:
    def __init__(
        self,
        catalog: CatalogWatch,
        dispatch: Dispatch,
        metrics: Metrics,
        *,
        snapshot_wait_s: float = 5.0,
        max_shadow_calls: int = 256,
        random: Callable[[], float] = random.random,
        request_log: RequestLog | None = None,
        sampler: Sampler | None = None,
    ) -> None:
        self.catalog = catalog
        self.dispatch = dispatch
        self.metrics = metrics
        self.request_log = request_log if request_log is not None else RequestLog("router")
        """Where both edges write the line of each finished invoke."""
        self.snapshot_wait_s = snapshot_wait_s
        self.max_shadow_calls = max_shadow_calls
        self._random = random
        self._shadow_calls: set[asyncio.Task[None]] = set()
        self.sampler = sampler

    # -- resolving --------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once the router has a routing table to serve from."""
        return self.catalog.table is not None

    async def route(self, application: str) -> Route:
        """The application's route; raise ApplicationNotFoundError or NoSnapshotError."""
        table = self.catalog.table
        if table is None:
            table = await self.catalog.wait_table(self.snapshot_wait_s)
            if table is None:
                raise NoSnapshotError(
                    f"the router has no routing table yet: the control plane's catalog at "
                    f"{self.catalog.address} has not answered"
                )
        route = table.routes.get(application)
        if route is None:
            raise ApplicationNotFoundError(application)
        return route

    @staticmethod
    def authenticate(route: Route, authorization: str | None) -> None:
        """Raise UnauthenticatedError unless the route needs no invoke key or `authorization` (the
        `Authorization` header or gRPC metadata value, `Bearer <key>`) carries one of its keys."""
        if not route.require_invoke_key:
            return
        scheme, _, key = (authorization or "").strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise UnauthenticatedError(
                f"application {route.name!r} requires an invoke key (Authorization: Bearer ...)"
            )
        presented = hashlib.sha256(key.encode()).hexdigest()
        matched = False
        for accepted in route.invoke_key_hashes:
            matched |= hmac.compare_digest(presented, accepted)
        if not matched:
            raise UnauthenticatedError(f"invalid invoke key for application {route.name!r}")

    def plan(self, route: Route) -> Plan:
        """Draw one variant per stage by weight; raise NotReleasedError if a stage has none."""
        for number, stage in enumerate(route.stages, start=1):
            if not stage.variants:
                waiting = ", ".join(stage.unreleased) or "no version with a weight above 0"
                raise NotReleasedError(
                    f"application {route.name!r}: stage {number} has no released version to route to "
                    f"({waiting})"
                )
        if not route.stages:
            raise NotReleasedError(f"application {route.name!r} has no stages")
        return Plan(route, route.plan(self._random))

    def signature(self, route: Route) -> Signature:
        """The application's signature (first stage's inputs, last stage's outputs)."""
        signature = route.signature
        if signature is None:
            self.plan(route)  # raises NotReleasedError naming the stage
            raise NotReleasedError(f"application {route.name!r} cannot be routed yet")
        return signature

    @staticmethod
    def served_version(route: Route) -> Version | None:
        """The one model version answering for a single-stage, single-variant application, else None."""
        if len(route.stages) == 1 and len(route.stages[0].variants) == 1:
            return route.stages[0].variants[0]
        return None

    def check_version(self, route: Route, version: str) -> None:
        """Raise VersionNotFoundError unless `version` ("" = none asked for) names the application's version.

        An application has no versions of its own. The Open Inference Protocol's model version (in the
        REST path or `model_version`) is accepted only when it names the model version that a
        single-stage, single-variant application runs; anything else is not found.
        """
        if not version:
            return
        served = self.served_version(route)
        if served is None:
            raise VersionNotFoundError(
                route.name,
                version,
                "it routes to more than one model version; call it without a version",
            )
        if served.number != version:
            raise VersionNotFoundError(
                route.name,
                version,
                f"it runs {served.key}; call it as version {served.number!r} or without one",
            )

    @staticmethod
    def check_outputs(plan: Plan, names: Sequence[str]) -> None:
        """Raise InvalidInputError naming the output unless the last stage produces every one of `names`."""
        produced = [spec.name for spec in plan.versions[-1].signature.outputs]
        for name in names:
            if name not in produced:
                raise InvalidInputError(
                    f"requested output {name!r} is not one of application {plan.route.name!r}'s outputs: "
                    + ", ".join(produced)
                )

    @classmethod
    def check_request(cls, plan: Plan, request: pb.ModelInferRequest) -> None:
        """Raise InvalidInputError naming the field unless the inputs of `request` fit the first stage's
        signature (told from the message when it can be: a well-formed request is never decoded here)."""
        if oip_grpc.fits(request, plan.signature):
            return
        try:
            arrays = oip_grpc.decode_infer_request(request)
        except TensorError as exc:
            raise InvalidInputError(str(exc)) from None
        cls.check(plan, arrays)

    @staticmethod
    def check(plan: Plan, arrays: Mapping[str, np.ndarray]) -> None:
        """Raise InvalidInputError naming the field unless `arrays` fit the first stage's signature."""
        try:
            plan.signature.check_inputs(arrays)
        except (SignatureError, TensorError) as exc:
            raise InvalidInputError(str(exc)) from None

    # -- forwarding -------------------------------------------------------------------------------

    async def infer(
        self,
        plan: Plan,
        request: pb.ModelInferRequest,
        *,
        deadline: float | None = None,
        context: RequestContext | None = None,
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
            sample = self.sampler.start(plan.route, context.request_id if context is not None else request_id)
        for index, version in enumerate(versions):
            if stages[index].shadows:
                self._shadow(application, index, stages[index].shadows, request, context, sample)
            request.model_name = version.model
            request.model_version = version.number
            if context is not None:
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
        context: RequestContext | None,
        sample: Sample | None = None,
    ) -> pb.ModelInferResponse:
        self._check_routed(application, version)
        queue = self.dispatch.queue(version)
        metadata = context.metadata if context is not None else None
        retried = False
        while True:
            replica = queue.try_acquire()
            if replica is None:
                replica = await self._hold(application, queue, deadline, context)
            started = time.perf_counter()
            try:
                timeout = None
                if deadline is not None:
                    timeout = deadline - asyncio.get_running_loop().time()
                    if timeout <= 0:
                        raise DeadlineExceededError(
                            f"application {application!r}: the deadline passed before calling {version.key}"
                        )
                response: pb.ModelInferResponse = await replica.stub.ModelInfer(
                    request, timeout=timeout, metadata=metadata
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
            finally:
                queue.release(replica)
            self.metrics.forwarded(application, version.key, time.perf_counter() - started)
            if sample is not None:
                sample.record(index, version, request, response, started)
            return response

    def _check_routed(self, application: str, version: Version) -> None:
        """Raise RouteRemovedError if a snapshot newer than the request's plan dropped its route to
        `version` (a later pipeline stage must not be served by a removed version)."""
        table = self.catalog.table
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
        context: RequestContext | None,
        sample: Sample | None = None,
    ) -> None:
        """Send shadow variants a copy of the stage's request; their answers and failures go nowhere
        but the metrics, and never delay the caller."""
        for version in shadows:
            if len(self._shadow_calls) >= self.max_shadow_calls:
                self.metrics.forwards.labels(application, version.key, "SHADOW_DROPPED").inc()
                continue
            if context is not None:
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
        context: RequestContext | None,
        sample: Sample | None = None,
    ) -> None:
        # The shadow call's holds are its own: only the request id is shared with the caller's context.
        shadow_context = None
        if context is not None:
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

    async def _hold(
        self, application: str, queue: VersionQueue, deadline: float | None, context: RequestContext | None
    ) -> Replica:
        self.metrics.holds.labels(application, queue.key).inc()
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await queue.acquire(application, deadline)
        except RouterError as exc:
            outcome = exc.reason
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            held = time.perf_counter() - started
            self.metrics.hold_duration.labels(application, queue.key, outcome).observe(held)
            if context is not None:
                context.held_s += held

    # -- accounting -------------------------------------------------------------------------------

    def finish(
        self, context: RequestContext, label: str, code: str, status: int | str, problem: str | None
    ) -> None:
        """Count one answered invoke and write its log line (`label`: the application, or 'unknown').

        The edges call this as the answer is ready; its latency is taken now, and the counting and the
        line are left to the loop's next turn, so that the answer goes out first.
        """
        context.stop()
        asyncio.get_running_loop().call_soon(self._finished, context, label, code, status, problem)

    def _finished(
        self, context: RequestContext, label: str, code: str, status: int | str, problem: str | None
    ) -> None:
        self.observe(label, context.transport, code, context.elapsed_s())
        self.request_log.finish(context, status, code, problem)

    def observe(self, application: str, protocol: str, code: str, seconds: float) -> None:
        """Count one answered request (`code` is 'ok' or an error reason)."""
        self.metrics.requests.labels(application, protocol, code).inc()
        self.metrics.latency.labels(application, protocol).observe(seconds)
        if code != "ok":
            self.metrics.errors.labels(application, code).inc()


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
