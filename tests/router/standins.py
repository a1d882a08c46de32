"""Small real gRPC servers that stand in for the router's sibling services, so the router is tested alone.

- `CatalogStandIn` serves `hydro.v1.Catalog/Watch` the way the control plane does: the snapshot a test
  builds, at once on connect and again after every `publish`. It can be stopped and restarted on the
  same port (a control-plane outage).
- `ScalerStandIn` serves `hydro.v1.Scaler`: it counts Activate calls per version, records load reports,
  and on Activate starts a REAL `python -m runtime` process for the version (when it has no live
  replica), lists it in WatchEndpoints once the runtime answers ModelReady, and unlists a replica some
  time after its process dies (like a health check would).

Both run in the test's event loop on loopback ports; every runtime process is stopped by PID.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from protos.hydro.v1 import catalog_pb2, catalog_pb2_grpc, scaler_pb2, scaler_pb2_grpc
from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc as pb_grpc
from tests.ports import free_port
from tests.real_parts import DEPLOYMENT_CONFIG_DEFAULTS
from wire.signature import Signature

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICE_TOKEN = "router-test-service-token"
"""The service credential the routers and Sonars under test share (the stand-ins check none)."""

Context = grpc.aio.ServicerContext[Any, Any]

# -- snapshots -------------------------------------------------------------------------------------


def config(name: str = "default", **knobs: Any) -> catalog_pb2.DeploymentConfig:
    return catalog_pb2.DeploymentConfig(name=name, **{**DEPLOYMENT_CONFIG_DEFAULTS, **knobs})


def version(
    model: str,
    number: int,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    deployment_config: str = "default",
) -> catalog_pb2.ModelVersion:
    signature = Signature.from_dict({"inputs": inputs, "outputs": outputs})
    return catalog_pb2.ModelVersion(
        key=f"{model}:{number}",
        model=model,
        version=number,
        signature=signature.to_proto(),
        deployment_config=deployment_config,
    )


def application(name: str, *stages: list[tuple[str, int]]) -> catalog_pb2.Application:
    """An application of stages, each a list of (version key, weight)."""
    return catalog_pb2.Application(
        name=name,
        stages=[
            catalog_pb2.Stage(
                variants=[catalog_pb2.Variant(version_key=key, weight=weight) for key, weight in variants]
            )
            for variants in stages
        ],
        sampling_rate=1.0,
    )


def snapshot(
    revision: int,
    applications: list[catalog_pb2.Application],
    versions: list[catalog_pb2.ModelVersion],
    configs: list[catalog_pb2.DeploymentConfig] | None = None,
) -> catalog_pb2.Snapshot:
    return catalog_pb2.Snapshot(
        revision=revision,
        applications=applications,
        versions=versions,
        deployment_configs=configs if configs is not None else [config()],
    )


# -- change notification ---------------------------------------------------------------------------


class Changes:
    """A generation counter that watchers wait on."""

    def __init__(self) -> None:
        self.generation = 0
        self._condition = asyncio.Condition()

    async def notify(self) -> None:
        async with self._condition:
            self.generation += 1
            self._condition.notify_all()

    async def wait(self, seen: int) -> None:
        async with self._condition:
            await self._condition.wait_for(lambda: self.generation != seen)


# -- the control plane's catalog -------------------------------------------------------------------


class CatalogStandIn(catalog_pb2_grpc.CatalogServicer):
    """`hydro.v1.Catalog/Watch` serving the snapshot the test publishes."""

    def __init__(self, first: catalog_pb2.Snapshot) -> None:
        self.snapshot = first
        self.port = 0
        self.watchers = 0
        self._changes = Changes()
        self._server: grpc.aio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (again on the same port after a stop)."""
        server = grpc.aio.server()
        catalog_pb2_grpc.add_CatalogServicer_to_server(self, server)  # type: ignore[no-untyped-call]
        self.port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None

    async def publish(self, snapshot: catalog_pb2.Snapshot) -> None:
        self.snapshot = snapshot
        await self._changes.notify()

    async def Watch(
        self, request: catalog_pb2.WatchRequest, context: Context
    ) -> AsyncIterator[catalog_pb2.Snapshot]:
        self.watchers += 1
        while True:
            seen = self._changes.generation
            yield self.snapshot
            await self._changes.wait(seen)


# -- the scaler ------------------------------------------------------------------------------------


@dataclass(eq=False)
class Replica:
    """A real runtime process serving one version."""

    version_key: str
    replica_id: str
    port: int
    process: asyncio.subprocess.Process
    listed: bool = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def kill(self) -> None:
        """SIGKILL the process, by its PID."""
        if self.alive:
            os.kill(self.process.pid, signal.SIGKILL)


@dataclass
class ScalerStandIn(scaler_pb2_grpc.ScalerServicer):
    """`hydro.v1.Scaler` starting real runtime processes from the model folders it is given."""

    model_dirs: dict[str, Path]
    logs: Path
    start_on_activate: bool = True
    replicas_per_activation: int = 1
    notice_death_after_s: float = 0.0
    activations: collections.Counter[str] = field(default_factory=collections.Counter)
    reports: list[tuple[float, scaler_pb2.LoadReport]] = field(default_factory=list)
    replicas: list[Replica] = field(default_factory=list)
    port: int = 0
    _starting: collections.Counter[str] = field(default_factory=collections.Counter)
    _changes: Changes = field(default_factory=Changes)
    _server: grpc.aio.Server | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        server = grpc.aio.server()
        scaler_pb2_grpc.add_ScalerServicer_to_server(self, server)  # type: ignore[no-untyped-call]
        self.port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for replica in self.replicas:
            replica.kill()
            with contextlib.suppress(ProcessLookupError):
                await asyncio.wait_for(replica.process.wait(), 5)

    def ready(self, version_key: str) -> list[Replica]:
        return [r for r in self.replicas if r.version_key == version_key and r.listed]

    def demand_reports(self, version_key: str) -> list[tuple[float, scaler_pb2.VersionLoad]]:
        """(arrival time, load) of every report that showed demand for the version."""
        return [
            (at, load)
            for at, report in self.reports
            for load in report.versions
            if load.version_key == version_key and load.in_flight + load.queued > 0
        ]

    async def start_replica(self, version_key: str) -> Replica:
        """Start a runtime for the version, list it once it answers ModelReady, and return it."""
        self._starting[version_key] += 1
        try:
            port = free_port()
            log = (self.logs / f"{version_key.replace(':', '-')}-{port}.log").open("wb")
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "runtime",
                "--model-dir",
                str(self.model_dirs[version_key]),
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
                env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            )
            log.close()
            replica = Replica(version_key, f"{version_key}#{len(self.replicas)}", port, process)
            self.replicas.append(replica)
            await _wait_model_ready(replica, timeout=30)
            replica.listed = True
            self._spawn(self._notice_death(replica))
            await self._changes.notify()
            return replica
        finally:
            self._starting[version_key] -= 1

    async def unlist(self, replica: Replica) -> None:
        replica.listed = False
        await self._changes.notify()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notice_death(self, replica: Replica) -> None:
        await replica.process.wait()
        await asyncio.sleep(self.notice_death_after_s)
        if replica.listed:
            await self.unlist(replica)

    # -- hydro.v1.Scaler --------------------------------------------------------------------------

    async def Activate(
        self, request: scaler_pb2.ActivateRequest, context: Context
    ) -> scaler_pb2.ActivateResponse:
        key = request.version_key
        self.activations[key] += 1
        if key not in self.model_dirs:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown version {key!r}")
        live = [r for r in self.replicas if r.version_key == key and r.alive]
        if self.start_on_activate and not live and not self._starting[key]:
            for _ in range(self.replicas_per_activation):
                self._spawn(self.start_replica(key))
        return scaler_pb2.ActivateResponse(
            ready_replicas=len(self.ready(key)), desired_replicas=max(len(live), self.replicas_per_activation)
        )

    async def ReportLoad(
        self, request_iterator: AsyncIterator[scaler_pb2.LoadReport], context: Context
    ) -> scaler_pb2.LoadAck:
        async for report in request_iterator:
            self.reports.append((time.monotonic(), report))
        return scaler_pb2.LoadAck()

    async def WatchEndpoints(
        self, request: scaler_pb2.WatchEndpointsRequest, context: Context
    ) -> AsyncIterator[scaler_pb2.ReplicaState]:
        while True:
            seen = self._changes.generation
            state = scaler_pb2.ReplicaState()
            for key in sorted({r.version_key for r in self.replicas}):
                state.versions.add(
                    version_key=key,
                    ready=[
                        scaler_pb2.Endpoint(replica_id=r.replica_id, address=r.address)
                        for r in self.ready(key)
                    ],
                    starting=self._starting[key],
                    desired=len(self.ready(key)) + self._starting[key],
                )
            yield state
            await self._changes.wait(seen)


async def _wait_model_ready(replica: Replica, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with grpc.aio.insecure_channel(replica.address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        while time.monotonic() < deadline:
            if not replica.alive:
                raise AssertionError(
                    f"runtime for {replica.version_key} exited with {replica.process.returncode}"
                )
            try:
                if (await stub.ModelReady(pb.ModelReadyRequest(), timeout=0.5)).ready:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.02)
    raise AssertionError(f"runtime for {replica.version_key} not ready within {timeout} s")
