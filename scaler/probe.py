"""A gRPC channel to one replica: readiness (`ModelReady`, as the contract defines it) and its own count of
requests in flight (`hydro.v1.RuntimeInfo/GetStats`, for the drain before a stop).

Cold start time is the product's headline figure. While a replica starts, the probe first waits for its
gRPC server to listen with a plain TCP check every `first_interval_s` (5 ms): connect, send the HTTP/2
client preface and wait for the server's first frame. Only then does the channel connect and ask
ModelReady, every few milliseconds at first, the interval growing by a fifth each time up to
`max_interval_s` (50 ms). Letting the gRPC channel itself retry the connection was slower: its reconnect
backoff noticed a freshly listening runtime 20-50 ms late (median, measured), and docker's port proxy
accepts connections before the runtime listens (it then drops them), so a bare TCP connect proves nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import grpc

from protos.hydro.v1 import runtime_pb2, runtime_pb2_grpc
from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc as pb_grpc

FIRST_INTERVAL_S = 0.005
MAX_INTERVAL_S = 0.05
_GROWTH = 1.2
# What an HTTP/2 client sends first (RFC 9113 3.4): the preface, then an empty SETTINGS frame.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def _channel_options(first_interval_s: float, max_interval_s: float) -> list[tuple[str, int]]:
    # gRPC's default first reconnect backoff is a whole second: far too slow for a replica that is
    # about to listen.
    first_ms = max(1, round(first_interval_s * 1000))
    most_ms = max(first_ms, round(min(max_interval_s, 4 * first_interval_s) * 1000))
    return [
        ("grpc.initial_reconnect_backoff_ms", first_ms),
        ("grpc.min_reconnect_backoff_ms", first_ms),
        ("grpc.max_reconnect_backoff_ms", most_ms),
    ]


class ReadyProbe:
    """A gRPC channel to one replica, used to wait for it to turn ready, health-check it and drain it."""

    def __init__(
        self,
        address: str,
        model: str,
        *,
        first_interval_s: float = FIRST_INTERVAL_S,
        max_interval_s: float = MAX_INTERVAL_S,
    ) -> None:
        self.address = address
        self.model = model
        self._listening = False
        self.first_interval_s = first_interval_s
        self.max_interval_s = max(first_interval_s, max_interval_s)
        self._channel = grpc.aio.insecure_channel(
            address, options=_channel_options(first_interval_s, self.max_interval_s)
        )
        self._stub = pb_grpc.GRPCInferenceServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._info = runtime_pb2_grpc.RuntimeInfoStub(self._channel)  # type: ignore[no-untyped-call]

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
        deadline = time.monotonic() + timeout
        interval = self.first_interval_s
        while True:
            now = time.monotonic()
            if now >= deadline:
                return False
            if not self._listening:
                self._listening = await self.listening(timeout=min(0.5, deadline - now))
                if not self._listening:
                    await asyncio.sleep(min(self.first_interval_s, max(0.0, deadline - time.monotonic())))
                    continue
            # wait_for_ready: a connection the runtime drops (it is exiting) is retried until the timeout.
            if await self.check(timeout=min(0.5, deadline - now)):
                return True
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(self.max_interval_s, interval * _GROWTH)

    async def listening(self, timeout: float) -> bool:
        """True if an HTTP/2 server answers at the address: it sent a frame after our preface."""
        host, _, port = self.address.rpartition(":")
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
                try:
                    writer.write(_H2_PREFACE)
                    # A proxy in front of a port nobody listens on yet closes the connection: b"".
                    return bool(await reader.read(9))
                finally:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
        except (OSError, TimeoutError, ValueError):
            return False

    async def in_flight(self, timeout: float) -> int | None:
        """The requests the runtime itself counts in flight; None when it cannot tell (gone, or too old)."""
        try:
            stats = await self._info.GetStats(runtime_pb2.RuntimeStatsRequest(), timeout=timeout)
        except grpc.aio.AioRpcError:
            return None
        return int(stats.in_flight)

    async def close(self) -> None:
        await self._channel.close(grace=None)
