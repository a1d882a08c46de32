"""Replica counts per version, asked from the scaler (`ListReplicas`) for the application views."""

from __future__ import annotations

import logging

import grpc

from protos.hydro.v1 import scaler_pb2, scaler_pb2_grpc
from servicekit.grpc_security import ServiceLink

logger = logging.getLogger(__name__)

Replicas = dict[str, dict[str, int]]


class ScalerClient:
    """A channel to the scaler (over `link`: the service credential, TLS); every failure means "unknown"
    (None), never an error for the caller."""

    def __init__(self, address: str, timeout_s: float, link: ServiceLink) -> None:
        self._address = address
        self._timeout_s = timeout_s
        self._channel = link.channel(address)
        self._stub = scaler_pb2_grpc.ScalerStub(self._channel)  # type: ignore[no-untyped-call]

    async def replicas(self) -> Replicas | None:
        """`{"model:3": {"ready": n, "desired": m}}`, or None when the scaler does not answer in time."""
        try:
            state = await self._stub.ListReplicas(scaler_pb2.ListReplicasRequest(), timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            logger.debug("scaler at %s did not answer ListReplicas: %s", self._address, exc.code())
            return None
        return {
            version.version_key: {"ready": len(version.ready), "desired": version.desired}
            for version in state.versions
        }

    async def close(self) -> None:
        await self._channel.close(grace=None)
