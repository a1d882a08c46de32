"""The readiness probe: it asks ModelReady only once an HTTP/2 server listens, and notices that at once."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc as pb_grpc
from scaler.probe import ReadyProbe
from scaler.runtimes.docker.containers import thread_env

MODEL = "probed"


class Ready(pb_grpc.GRPCInferenceServiceServicer):
    async def ModelReady(self, request: pb.ModelReadyRequest, context: Any) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=request.name == MODEL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def grpc_server(port: int) -> grpc.aio.Server:
    server = grpc.aio.server()
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(Ready(), server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server


@pytest.fixture
async def dropping_port() -> AsyncIterator[int]:
    """A port that accepts connections and closes them at once, as docker's proxy does before the
    container listens."""

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_a_closed_port_or_one_that_drops_connections_is_not_listening(dropping_port: int) -> None:
    for port in (free_port(), dropping_port):
        probe = ReadyProbe(f"127.0.0.1:{port}", MODEL)
        try:
            assert await probe.listening(timeout=1.0) is False
            assert await probe.wait(timeout=0.2) is False
        finally:
            await probe.close()


async def test_a_grpc_server_is_listening_and_ready() -> None:
    port = free_port()
    server = await grpc_server(port)
    probe = ReadyProbe(f"127.0.0.1:{port}", MODEL)
    try:
        assert await probe.listening(timeout=1.0) is True
        assert await probe.wait(timeout=5.0) is True
    finally:
        await probe.close()
        await server.stop(None)


async def test_wait_notices_a_server_that_starts_listening_late_within_a_few_milliseconds() -> None:
    """A generous bound for a loaded machine: a few 5 ms probe intervals are expected."""
    port = free_port()
    probe = ReadyProbe(f"127.0.0.1:{port}", MODEL, first_interval_s=0.005)
    waiting = asyncio.ensure_future(probe.wait(timeout=10.0))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    server = await grpc_server(port)
    listening_at = time.monotonic()
    try:
        assert await waiting is True
        late = time.monotonic() - listening_at
        assert late < 0.1, f"the probe noticed the server {late * 1000:.0f} ms after it listened"
    finally:
        await probe.close()
        await server.stop(None)


def test_numeric_thread_pools_are_sized_to_the_cpu_limit() -> None:
    assert thread_env(0.5)["OPENBLAS_NUM_THREADS"] == "1"
    assert thread_env(2.5) == {"OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    assert thread_env(0) == {}, "no CPU limit: the libraries' own defaults"
