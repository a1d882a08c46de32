"""`python -m scaler` as its own process: a crashed scaler's replicas are adopted, SIGTERM stops them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from protos.hydro.v1 import scaler_pb2, scaler_pb2_grpc
from servicekit.grpc_security import ServiceLink
from tests.ports import free_port
from tests.scaler.catalog import CatalogServer, Version, snapshot
from tests.scaler.harness import (
    SERVICE_TOKEN,
    EndpointWatch,
    eventually,
    kill_leftover_runtimes,
    pid_alive,
    ready_ids,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
KEY = "double:1"


class ScalerProcess:
    def __init__(self, home: Path, catalog: str, port: int) -> None:
        self.log = home / f"scaler-{port}.log"
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRO_")}
        env.update(
            HYDRO_HOME=str(home),
            HYDRO_SCALER_PORT=str(port),
            HYDRO_SCALER_METRICS_PORT="0",
            HYDRO_CATALOG_ADDRESS=catalog,
            HYDRO_SCALER_TICK_S="0.1",
            HYDRO_SERVICE_TOKEN=SERVICE_TOKEN,
            PYTHONPATH=str(REPO_ROOT),
        )
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "scaler"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def processes() -> Iterator[list[ScalerProcess]]:
    started: list[ScalerProcess] = []
    yield started
    for scaler in started:
        if scaler.process.poll() is None:
            scaler.process.kill()
            scaler.process.wait()


async def answering(stub: scaler_pb2_grpc.ScalerStub, timeout: float = 20) -> None:
    """Wait until the scaler answers, reconnecting as its clients do: a connection made while a scaler
    starts on the port of one just killed can be reset (seen once in CI: UNAVAILABLE, connection reset)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await stub.ListReplicas(
                scaler_pb2.ListReplicasRequest(),
                wait_for_ready=True,
                timeout=max(0.5, deadline - time.monotonic()),
            )
            return
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_a_crashed_scalers_replica_is_adopted_and_sigterm_stops_it(
    catalog: CatalogServer, package_url: str, tmp_path: Path, processes: list[ScalerProcess]
) -> None:
    catalog.publish(snapshot(2, [Version("double", 1, package_url)]))
    home = tmp_path / "home"
    port = free_port()
    address = f"127.0.0.1:{port}"
    try:
        async with ServiceLink(SERVICE_TOKEN).channel(address) as channel:
            stub = scaler_pb2_grpc.ScalerStub(channel)  # type: ignore[no-untyped-call]
            processes.append(ScalerProcess(home, catalog.address, port))
            await stub.Activate(scaler_pb2.ActivateRequest(version_key=KEY), wait_for_ready=True, timeout=20)
            watch = EndpointWatch(stub)
            state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "a replica is ready")
            pid = int(state[KEY].ready[0].replica_id)
            await watch.close()

            processes[0].process.kill()  # a crash: no chance to stop its replicas
            processes[0].process.wait()
            assert pid_alive(pid)

        async with ServiceLink(SERVICE_TOKEN).channel(address) as channel:
            stub = scaler_pb2_grpc.ScalerStub(channel)  # type: ignore[no-untyped-call]
            processes.append(ScalerProcess(home, catalog.address, port))
            await answering(stub)
            watch = EndpointWatch(stub)
            await watch.until(lambda s: ready_ids(s, KEY) == [str(pid)], "the running replica is adopted")
            response = await stub.Activate(scaler_pb2.ActivateRequest(version_key=KEY), timeout=5)
            assert response.ready_replicas == 1
            await watch.close()

        processes[1].process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(processes[1].process.wait, 20) == 0, processes[1].output()
        await eventually(lambda: not pid_alive(pid), "the replica stopped with its scaler")
        assert "scaler stopped" in processes[1].output()
    finally:
        assert kill_leftover_runtimes(home) == []
