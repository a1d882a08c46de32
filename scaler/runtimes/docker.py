"""The `docker` backend: each replica is a hardened container of the version's image.

The image (`{registry}/{model}:{version}`, from the catalog) is pulled only when the host lacks it. A
container runs detached with the labels `hydro.managed=true`, `hydro.version={key}` and
`hydro.scaler={instance}` (only its own instance's containers are adopted or removed), its gRPC port
9000/tcp published on 127.0.0.1 only (a random host port), the deployment config's cpu and memory
limits, as uid 10001 on a read-only root filesystem with a tmpfs on /tmp, all capabilities dropped,
no-new-privileges and a pids limit. Exits are noticed at once from the engine's event stream.

Every docker SDK call runs in a worker thread; docker errors become Hydro errors here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
import time
from typing import Any

import docker
import docker.errors
from docker.utils import parse_repository_tag

from scaler.errors import ImageError, StartError
from scaler.metrics import Metrics
from scaler.probe import ReadyProbe
from scaler.runtimes.base import (
    INSTANCE_LABEL,
    MANAGED_LABEL,
    VERSION_LABEL,
    ReplicaHandle,
    ReplicaSpec,
    ready_or_exited,
)

log = logging.getLogger(__name__)

CONTAINER_PORT = "9000/tcp"
CONTAINER_USER = "10001"
ENGINE_TIMEOUT_S = 10.0


class DockerRuntime:
    """Runs replicas as containers on the local Docker engine."""

    name = "docker"

    def __init__(
        self,
        *,
        stop_timeout_s: float = 3.0,
        pids_limit: int = 256,
        tmpfs_mb: int = 64,
        base_url: str | None = None,
        metrics: Metrics | None = None,
        instance: str = "default",
    ) -> None:
        self.instance = instance
        self.stop_timeout_s = stop_timeout_s
        self.pids_limit = pids_limit
        self.tmpfs_mb = tmpfs_mb
        self._base_url = base_url
        self._client: docker.DockerClient | None = None
        self._image_locks: dict[str, asyncio.Lock] = {}
        self._exits: _ExitWatcher | None = None
        self._metrics = metrics

    async def prepare(self, spec: ReplicaSpec) -> None:
        """Pull the version's image now if the host lacks it, so its first cold start does not."""
        if spec.image:
            await self._pull_once(spec.image, reason="prepull")

    async def start(self, spec: ReplicaSpec) -> ReplicaHandle:
        if not spec.image:
            raise ImageError(f"version {spec.version_key} has no image in the catalog (it was not built)")
        await self._exit_watcher()
        phases: list[tuple[str, float]] = []
        began = time.monotonic()
        try:
            container_id = await asyncio.to_thread(self._create, spec)
        except _ImageMissing:
            # Pull only when the host lacks the image: the common case costs no extra round trip.
            await self._pull_once(spec.image, reason="start")
            pulled = time.monotonic()
            phases.append(("pull", pulled - began))
            began = pulled
            container_id = await asyncio.to_thread(self._create, spec)
        created = time.monotonic()
        host_port = await asyncio.to_thread(self._start, spec, container_id)
        phases += [("create", created - began), ("start", time.monotonic() - created)]
        return ReplicaHandle(
            container_id, spec.version_key, spec.model, f"127.0.0.1:{host_port}", phases=tuple(phases)
        )

    async def wait_ready(self, replica: ReplicaHandle, probe: ReadyProbe, timeout: float) -> None:
        await ready_or_exited(replica, probe, self.wait_exited(replica), timeout)

    async def wait_exited(self, replica: ReplicaHandle) -> str:
        watcher = await self._exit_watcher()
        await watcher.wait(replica.replica_id, self._is_running)
        return await asyncio.to_thread(self._describe_exit, replica.replica_id)

    async def stop(self, replica: ReplicaHandle) -> None:
        await asyncio.to_thread(self._stop_and_remove, replica.replica_id)

    async def list_existing(self) -> list[ReplicaHandle]:
        return await asyncio.to_thread(self._list_managed)

    async def close(self) -> None:
        if self._exits is not None:
            await asyncio.to_thread(self._exits.close)
            self._exits = None
        if self._client is not None:
            await asyncio.to_thread(self._client.close)
            self._client = None

    # --- in worker threads -------------------------------------------------------------------------

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> docker.DockerClient:
        try:
            if self._base_url:
                return docker.DockerClient(base_url=self._base_url)
            return docker.from_env()
        except docker.errors.DockerException as exc:
            raise StartError(f"the Docker engine is not reachable: {exc}") from exc

    async def _pull_once(self, image: str, *, reason: str) -> None:
        """Pull `image` unless the host has it (another start or a pre-pull may have pulled it meanwhile).

        `reason` (`prepull` or `start`) labels the pull's metrics.
        """
        lock = self._image_locks.setdefault(image, asyncio.Lock())
        async with lock:
            if await asyncio.to_thread(self._has_image, image):
                return
            started = time.monotonic()
            try:
                await asyncio.to_thread(self._pull, image)
            except ImageError:
                if self._metrics is not None:
                    self._metrics.pull_failures.labels(self.name, reason).inc()
                raise
            elapsed = time.monotonic() - started
            if self._metrics is not None:
                self._metrics.observe_pull(elapsed, reason)
            log.info("pulled %s in %.2f s (%s)", image, elapsed, reason)

    def _has_image(self, image: str) -> bool:
        try:
            self.client.images.get(image)
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.DockerException as exc:
            raise ImageError(f"cannot look up image {image!r}: {exc}") from exc
        return True

    def _pull(self, image: str) -> None:
        repository, tag = parse_repository_tag(image)
        try:
            self.client.images.pull(repository, tag=tag or "latest")
        except docker.errors.DockerException as exc:
            raise ImageError(f"cannot pull image {image!r}: {_explain(exc)}") from exc

    def _create(self, spec: ReplicaSpec) -> str:
        """Create (not start) a hardened container of `spec`; return its id."""
        api = self.client.api
        # The engine refuses more CPUs than the host has; 0 means no limit.
        cpu = min(spec.cpu, float(os.cpu_count() or 1))
        memory = f"{max(spec.memory_mb, 8)}m" if spec.memory_mb > 0 else None
        host_config = api.create_host_config(
            port_bindings={CONTAINER_PORT: ("127.0.0.1", None)},
            nano_cpus=int(cpu * 1e9) if cpu > 0 else None,
            mem_limit=memory,
            memswap_limit=memory,
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={self.tmpfs_mb}m"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            pids_limit=self.pids_limit,
        )
        name = f"hydro-{spec.model}-{spec.version}-{secrets.token_hex(3)}"
        try:
            created = api.create_container(
                spec.image,
                name=name,
                detach=True,
                user=CONTAINER_USER,
                labels={
                    MANAGED_LABEL: "true",
                    VERSION_LABEL: spec.version_key,
                    INSTANCE_LABEL: self.instance,
                },
                ports=[CONTAINER_PORT],
                environment={"PYTHONUNBUFFERED": "1"},
                host_config=host_config,
            )
        except docker.errors.ImageNotFound:
            raise _ImageMissing(spec.image) from None
        except docker.errors.DockerException as exc:
            raise StartError(f"cannot create a container of {spec.image!r}: {_explain(exc)}") from exc
        container_id: str = created["Id"]
        return container_id

    def _start(self, spec: ReplicaSpec, container_id: str) -> str:
        """Start a created container; return the host port its gRPC port is published on."""
        api = self.client.api
        try:
            api.start(container_id)
            bindings = api.port(container_id, 9000)
        except docker.errors.DockerException as exc:
            self._stop_and_remove(container_id)
            raise StartError(f"cannot start a container of {spec.image!r}: {_explain(exc)}") from exc
        if not bindings:
            self._stop_and_remove(container_id)
            raise StartError(
                f"container {container_id[:12]} of {spec.image!r} has no host port for {CONTAINER_PORT}"
            )
        return str(bindings[0]["HostPort"])

    def _stop_and_remove(self, container_id: str) -> None:
        api = self.client.api
        try:
            api.stop(container_id, timeout=max(0, round(self.stop_timeout_s)))
        except docker.errors.NotFound:
            return
        except docker.errors.DockerException as exc:
            log.warning("stopping container %s failed (%s); removing it by force", container_id[:12], exc)
        try:
            api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            # "removal already in progress" is fine; anything else is worth a line in the log.
            if exc.status_code != 409:
                log.warning("removing container %s failed: %s", container_id[:12], exc)

    def _is_running(self, container_id: str) -> bool:
        try:
            state = self.client.api.inspect_container(container_id)["State"]
        except docker.errors.NotFound:
            return False
        return bool(state.get("Running"))

    def _describe_exit(self, container_id: str) -> str:
        api = self.client.api
        try:
            state = api.inspect_container(container_id)["State"]
            logs = api.logs(container_id, tail=8).decode(errors="replace").strip()
        except docker.errors.NotFound:
            return "container removed"
        how = "OOM-killed" if state.get("OOMKilled") else f"exit code {state.get('ExitCode')}"
        tail = " | ".join(logs.splitlines())
        return f"{how}; last output: {tail}" if tail else how

    def _owned_filter(self) -> list[str]:
        """Docker label filter (all must match) for the containers this scaler instance owns."""
        return [f"{MANAGED_LABEL}=true", f"{INSTANCE_LABEL}={self.instance}"]

    def _list_managed(self) -> list[ReplicaHandle]:
        """Running managed containers; stopped leftovers are removed on the way."""
        api = self.client.api
        found = []
        for summary in api.containers(all=True, filters={"label": self._owned_filter()}):
            container_id = summary["Id"]
            key = summary.get("Labels", {}).get(VERSION_LABEL, "")
            port = next(
                (p.get("PublicPort") for p in summary.get("Ports", []) if p.get("PrivatePort") == 9000),
                None,
            )
            if summary.get("State") != "running" or not key or port is None:
                log.info("removing leftover container %s (%s)", container_id[:12], summary.get("Status"))
                self._stop_and_remove(container_id)
                continue
            model = key.rpartition(":")[0]
            found.append(ReplicaHandle(container_id, key, model, f"127.0.0.1:{port}"))
        return found

    async def _exit_watcher(self) -> _ExitWatcher:
        """The engine's event stream, connected before the first container starts (so no exit is missed)."""
        if self._exits is None:
            self._exits = _ExitWatcher(self._connect, asyncio.get_running_loop(), self._owned_filter())
        try:
            async with asyncio.timeout(ENGINE_TIMEOUT_S):
                await self._exits.connected()
        except TimeoutError:
            raise StartError(
                f"the Docker engine did not answer within {ENGINE_TIMEOUT_S:g} s; is dockerd running?"
            ) from None
        return self._exits


class _ImageMissing(Exception):
    """The host lacks the image (internal: `start` pulls it and tries again)."""


class _ExitWatcher:
    """One thread following the engine's `die` events of managed containers, resolving waiters."""

    def __init__(self, connect: Any, loop: asyncio.AbstractEventLoop, label_filter: list[str]) -> None:
        self._connect = connect
        self._label_filter = label_filter
        self._loop = loop
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._connected = asyncio.Event()
        self._closed = threading.Event()
        self._stream: Any = None
        self._client: docker.DockerClient | None = None
        self._thread = threading.Thread(target=self._follow, name="hydro-docker-events", daemon=True)
        self._thread.start()

    async def connected(self) -> None:
        await self._connected.wait()

    async def wait(self, container_id: str, is_running: Any) -> None:
        """Return once the container is not running (at once if it already is not)."""
        while True:
            future: asyncio.Future[None] = self._loop.create_future()
            self._waiters.setdefault(container_id, []).append(future)
            try:
                # Registered first, then checked: a death between the two is seen by one or the other.
                if not await asyncio.to_thread(is_running, container_id):
                    return
                await future
            finally:
                waiters = self._waiters.get(container_id, [])
                if future in waiters:
                    waiters.remove(future)
                if not waiters:
                    self._waiters.pop(container_id, None)
            # Woken by a `die` event or after the stream reconnected: look again.

    def close(self) -> None:
        self._closed.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:
                log.debug("closing the docker event stream failed", exc_info=True)
        if self._client is not None:
            self._client.close()
        self._thread.join(timeout=5)

    def _follow(self) -> None:
        while not self._closed.is_set():
            try:
                self._client = self._connect()
                self._stream = self._client.api.events(
                    decode=True,
                    filters={"type": "container", "event": ["die"], "label": self._label_filter},
                )
                self._loop.call_soon_threadsafe(self._on_connected)
                for event in self._stream:
                    container_id = event.get("id") or event.get("Actor", {}).get("ID", "")
                    self._loop.call_soon_threadsafe(self._resolve, container_id)
            except Exception as exc:
                if self._closed.is_set():
                    return
                log.warning("docker event stream failed (%s); reconnecting", exc)
            if not self._closed.wait(0.5):
                # Deaths while disconnected were missed: wake every waiter to check its container again.
                self._loop.call_soon_threadsafe(self._resolve_all)

    def _on_connected(self) -> None:
        self._connected.set()

    def _resolve(self, container_id: str) -> None:
        for future in self._waiters.get(container_id, []):
            if not future.done():
                future.set_result(None)

    def _resolve_all(self) -> None:
        for container_id in list(self._waiters):
            self._resolve(container_id)


def _explain(exc: docker.errors.DockerException) -> str:
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        return str(exc.explanation)
    return str(exc)
