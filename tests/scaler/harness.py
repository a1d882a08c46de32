"""Run a real scaler in the test's event loop and talk to it over gRPC on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from protos.hydro.v1 import scaler_pb2, scaler_pb2_grpc
from scaler.server import serve
from scaler.settings import Settings
from servicekit.grpc_security import ServiceLink
from tests.ports import free_port

State = dict[str, scaler_pb2.VersionReplicas]


SERVICE_TOKEN = "scaler-test-service-token"
"""The service credential of the scalers under test (and of the tests that call them)."""

# Per test process: suites of other checkouts may run on the same Docker engine at the same time.
TEST_INSTANCE = f"tests-scaler-{os.getpid()}"


def scaler_settings(home: Path, **overrides: Any) -> Settings:
    """Fast clocks for tests: a 0.1 s tick, router reports that expire after a second."""
    values: dict[str, Any] = {
        "home": home,
        "bind_host": "127.0.0.1",
        "scaler_port": free_port(),
        "scaler_metrics_port": free_port(),
        "runtime": "process",
        "scaler_tick_s": 0.1,
        "scaler_load_report_ttl_s": 1.0,
        "scaler_ready_timeout_s": 60.0,
        "scaler_stop_timeout_s": 2.0,
        "scaler_health_interval_s": 0.5,
        "scaler_catalog_wait_s": 0.3,
        # Scalers of other suites may share the Docker engine; this one owns only its own containers.
        "scaler_instance": TEST_INSTANCE,
        "service_token": SERVICE_TOKEN,
    }
    values.update(overrides)
    return Settings(**values)


class EndpointWatch:
    """Follows WatchEndpoints and keeps every ReplicaState received."""

    def __init__(self, stub: scaler_pb2_grpc.ScalerStub) -> None:
        self.states: list[State] = []
        self._changed = asyncio.Condition()
        self._call = stub.WatchEndpoints(scaler_pb2.WatchEndpointsRequest(client="tests"))
        self._task = asyncio.create_task(self._follow())

    @property
    def latest(self) -> State:
        return self.states[-1] if self.states else {}

    async def until(self, predicate: Callable[[State], bool], what: str, timeout: float = 30.0) -> State:
        """The first received state (from now on, or the latest) for which `predicate` holds."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                while not (self.states and predicate(self.latest)):
                    if self._task.done():
                        self._task.result()
                        raise AssertionError("the WatchEndpoints stream ended")
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"timed out after {timeout} s waiting until {what}; last: {self.latest}"
            ) from None
        return self.latest

    async def close(self) -> None:
        self._call.cancel()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            await self._task

    async def _follow(self) -> None:
        async for message in self._call:
            async with self._changed:
                self.states.append({v.version_key: v for v in message.versions})
                self._changed.notify_all()


class RunningScaler:
    """A scaler task plus a client channel to it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.address = f"127.0.0.1:{settings.scaler_port}"
        self.channel = ServiceLink(SERVICE_TOKEN).channel(self.address)
        self.stub = scaler_pb2_grpc.ScalerStub(self.channel)  # type: ignore[no-untyped-call]
        self.task: asyncio.Task[None] | None = None
        self.watches: list[EndpointWatch] = []

    async def start(self) -> RunningScaler:
        started = asyncio.Event()
        self.task = asyncio.create_task(serve(self.settings, started=started))
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({self.task, waiter}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if self.task.done():
            self.task.result()
        assert started.is_set(), "the scaler did not start listening within 15 s"
        waiter.cancel()
        return self

    async def activate(self, version_key: str) -> scaler_pb2.ActivateResponse:
        response: scaler_pb2.ActivateResponse = await self.stub.Activate(
            scaler_pb2.ActivateRequest(version_key=version_key), timeout=10
        )
        return response

    async def replicas(self) -> State:
        state = await self.stub.ListReplicas(scaler_pb2.ListReplicasRequest(), timeout=5)
        return {v.version_key: v for v in state.versions}

    def watch(self) -> EndpointWatch:
        watch = EndpointWatch(self.stub)
        self.watches.append(watch)
        return watch

    async def stop(self) -> None:
        for watch in self.watches:
            await watch.close()
        await self.channel.close(grace=None)
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def ready_ids(state: State, key: str) -> list[str]:
    version = state.get(key)
    return [e.replica_id for e in version.ready] if version else []


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rpartition(")")[2].split()[0] != "Z"


def kill_leftover_runtimes(home: Path) -> list[int]:
    """Kill, by PID, runtime processes whose records a scaler left under `home` (a safety net)."""
    killed = []
    run_dir = home / "replicas" / ".run"
    for record in run_dir.glob("*.json") if run_dir.is_dir() else []:
        pid = int(record.stem)
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting until {what}")
        await asyncio.sleep(0.02)
