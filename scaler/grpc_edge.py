"""The `hydro.v1.Scaler` gRPC service: a thin edge between protobuf and the autoscaler.

Scaler errors become gRPC status codes here and nowhere else; anything unexpected is logged with its
traceback and answered with a generic INTERNAL message.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc

from protos.hydro.v1 import scaler_pb2, scaler_pb2_grpc
from scaler.autoscaler import Autoscaler
from scaler.errors import CatalogUnavailableError, InvalidRequestError, ScalerError, UnknownVersionError
from scaler.fleet import Fleet, VersionView

log = logging.getLogger(__name__)

_STATUS: dict[type[ScalerError], grpc.StatusCode] = {
    InvalidRequestError: grpc.StatusCode.INVALID_ARGUMENT,
    UnknownVersionError: grpc.StatusCode.NOT_FOUND,
    CatalogUnavailableError: grpc.StatusCode.UNAVAILABLE,
}


class ScalerService(scaler_pb2_grpc.ScalerServicer):
    """Activate, ReportLoad, WatchEndpoints and ListReplicas over the autoscaler and its fleet."""

    def __init__(self, autoscaler: Autoscaler, fleet: Fleet) -> None:
        self.autoscaler = autoscaler
        self.fleet = fleet

    async def Activate(
        self, request: scaler_pb2.ActivateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> scaler_pb2.ActivateResponse:
        try:
            view = await self.autoscaler.activate(request.version_key)
        except ScalerError as exc:
            await context.abort(_status_of(exc), str(exc))
        except Exception:
            log.exception("Activate(%r) failed", request.version_key)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error in the scaler; see its log")
        return scaler_pb2.ActivateResponse(ready_replicas=len(view.ready), desired_replicas=view.desired)

    async def ReportLoad(
        self,
        request_iterator: AsyncIterator[scaler_pb2.LoadReport],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> scaler_pb2.LoadAck:
        async for report in request_iterator:
            router = report.router_id or context.peer()
            concurrency: dict[str, float] = {}
            for load in report.versions:
                concurrency[load.version_key] = (
                    concurrency.get(load.version_key, 0.0) + max(0, load.in_flight) + max(0, load.queued)
                )
            try:
                self.autoscaler.record_load(router, concurrency)
            except Exception:
                log.exception("recording a load report of %s failed", router)
        return scaler_pb2.LoadAck()

    async def WatchEndpoints(
        self, request: scaler_pb2.WatchEndpointsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[scaler_pb2.ReplicaState]:
        log.info("%s watches endpoints", request.client or context.peer())
        changes = self.fleet.changes
        sent: scaler_pb2.ReplicaState | None = None
        while True:
            seen = changes.generation
            state = replica_state(self.fleet.views())
            # Internal steps (a replica going from "stopping" to gone) change nothing a router sees.
            if state != sent:
                yield state
                sent = state
            await changes.wait(seen)

    async def ListReplicas(
        self, request: scaler_pb2.ListReplicasRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> scaler_pb2.ReplicaState:
        return replica_state(self.fleet.views())


def replica_state(views: Iterable[VersionView]) -> scaler_pb2.ReplicaState:
    state = scaler_pb2.ReplicaState()
    for view in views:
        state.versions.add(
            version_key=view.version_key,
            ready=[scaler_pb2.Endpoint(replica_id=e.replica_id, address=e.address) for e in view.ready],
            starting=view.starting,
            desired=view.desired,
        )
    return state


def _status_of(exc: ScalerError) -> grpc.StatusCode:
    for kind, code in _STATUS.items():
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.FAILED_PRECONDITION
