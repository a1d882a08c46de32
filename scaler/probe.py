"""Readiness of a replica, asked the way the contract defines it: `ModelReady` over gRPC.

Cold start time is the product's headline figure, so a starting replica is probed every 20 ms at
first (backing off slowly while a big model loads), over a channel that reconnects as fast.
"""

from __future__ import annotations

import asyncio
import time

import grpc

from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc as pb_grpc

# gRPC's default first reconnect backoff is a whole second: far too slow for a replica that is
# about to listen.
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 10),
    ("grpc.min_reconnect_backoff_ms", 10),
    ("grpc.max_reconnect_backoff_ms", 100),
]

FIRST_INTERVAL_S = 0.02
MAX_INTERVAL_S = 0.25
# Probe at the first interval for this long before backing off.
FAST_PHASE_S = 3.0


class ReadyProbe:
    """A gRPC channel to one replica, used to wait for it to turn ready and to health-check it."""

    def __init__(self, address: str, model: str) -> None:
        self.address = address
        self.model = model
        self._channel = grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS)
        self._stub = pb_grpc.GRPCInferenceServiceStub(self._channel)  # type: ignore[no-untyped-call]

    async def check(self, timeout: float) -> bool:
        """True if the replica answers ModelReady true within `timeout` seconds."""
        try:
            response = await self._stub.ModelReady(
                pb.ModelReadyRequest(name=self.model), timeout=timeout, wait_for_ready=True
            )
        except grpc.aio.AioRpcError:
            return False
        return bool(response.ready)

    async def wait(self, timeout: float) -> bool:
        """Probe until the replica is ready (True) or `timeout` seconds pass (False)."""
        started = time.monotonic()
        deadline = started + timeout
        while True:
            now = time.monotonic()
            if now >= deadline:
                return False
            # wait_for_ready makes a call that is issued before the port listens connect as soon as it does.
            if await self.check(timeout=min(0.5, deadline - now)):
                return True
            elapsed = time.monotonic() - started
            interval = FIRST_INTERVAL_S if elapsed < FAST_PHASE_S else min(MAX_INTERVAL_S, elapsed / 20)
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))

    async def close(self) -> None:
        await self._channel.close(grace=None)
