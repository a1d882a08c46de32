"""The `docker` backend: each replica is a hardened container of the version's image.

The image (`{registry}/{model}:{version}`, from the catalog) is pulled only when the host lacks it. A
container runs detached with the labels `hydro.managed=true`, `hydro.version={key}` and
`hydro.scaler={instance}` (only its own instance's containers are adopted or removed), its gRPC port
9000/tcp published on 127.0.0.1 only (a random host port), the deployment config's cpu and memory
limits, as uid 10001 on a read-only root filesystem with a tmpfs on /tmp, all capabilities dropped,
no-new-privileges and a pids limit. Exits are noticed at once from the engine's event stream.
The thread pools of numeric libraries (OpenBLAS, OpenMP, MKL) are sized to the CPU limit through their
environment variables: by default they start one thread per host core, which a container limited to
one CPU cannot use, and OpenBLAS starting them is about a third of numpy's import (measured: import
numpy 120 -> 85 ms in a runtime container), i.e. of every cold start.

With `holders` > 0 a replica does not get a network of its own: it joins an idle network-namespace
holder from a small pool (`scaler/runtimes/holders.py`) whose port 9000 is already published on
127.0.0.1, which takes the network set-up out of the cold start. The replica is labelled
`hydro.holder={holder id}` and the holder is removed with it.

With `spares`, one container per version is created ahead of time (not started: it uses no CPU or
memory) when the version's image is prepared, and the next cold start of the version only starts it;
a replacement is created in the background after `holder_refill_delay_s`. A spare of a version whose
spec changed is thrown away; spares are removed when the scaler closes (a restarted scaler removes
created-but-not-started leftovers like any stopped container).

Every docker SDK call runs in a worker thread; docker errors become Hydro errors here.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
from docker.utils import parse_repository_tag

from scaler.errors import ImageError, StartError
from scaler.metrics import Metrics
from scaler.probe import ReadyProbe
from scaler.runtimes.addresses import AddressMode, Reach, reach_of_inspected, reach_of_listed
from scaler.runtimes.base import (
    INSTANCE_LABEL,
    MANAGED_LABEL,
    VERSION_LABEL,
    ReplicaHandle,
    ReplicaSpec,
    ready_or_exited,
)
from scaler.runtimes.holders import HOLDER_LABEL, HOLDER_ROLE, ROLE_LABEL, Holder, HolderPool

log = logging.getLogger(__name__)

CONTAINER_PORT = "9000/tcp"
PORT_NUMBER = 9000
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
        holders: int = 0,
        holder_image: str = "",
        holder_refill_delay_s: float = 1.0,
        spares: bool = False,
        replica_address: AddressMode = "bridge",
    ) -> None:
        self.instance = instance
        self.replica_address = replica_address
        self.stop_timeout_s = stop_timeout_s
        self.pids_limit = pids_limit
        self.tmpfs_mb = tmpfs_mb
        self._base_url = base_url
        self._client: docker.DockerClient | None = None
        self._image_locks: dict[str, asyncio.Lock] = {}
        self._exits: _ExitWatcher | None = None
        self._metrics = metrics
        self.spares = spares
        self.refill_delay_s = holder_refill_delay_s
        self._spares: dict[str, _Spare] = {}
        self._spare_tasks: set[asyncio.Task[None]] = set()
        self._listed = asyncio.Event()
        """Set once `list_existing` has sorted out the leftovers: spares are made only after that, so
        that a spare just created is not taken for a leftover of a previous scaler."""
        self._holder_of: dict[str, str] = {}
        """Replica container id -> the holder whose network it joined."""
        self.holders: HolderPool | None = None
        if holders > 0 and holder_image:
            self.holders = HolderPool(
                lambda: self.client,
                image=holder_image,
                labels={MANAGED_LABEL: "true", INSTANCE_LABEL: instance},
                user=CONTAINER_USER,
                port=PORT_NUMBER,
                size=holders,
                refill_delay_s=holder_refill_delay_s,
            )

    async def prepare(self, spec: ReplicaSpec) -> None:
        """Pull the version's image now if the host lacks it, so its first cold start does not."""
        if spec.image:
            await self._pull_once(spec.image, reason="prepull")
            if self.spares:
                await self._make_spare(spec)

    async def start(self, spec: ReplicaSpec) -> ReplicaHandle:
        if not spec.image:
            raise ImageError(f"version {spec.version_key} has no image in the catalog (it was not built)")
        await self._exit_watcher()
        spare = self._spares.pop(spec.version_key, None)
        if spare is not None:
            self._refill_spare_later(spec)
            if spare.spec == spec:
                return await self._start_spare(spare)
            await self._discard(spare)
        phases: list[tuple[str, float]] = []
        holder: Holder | None = None
        if self.holders is not None:
            holder, waited = await self.holders.take()
            phases.append(("holder-wait", waited))
        try:
            began = time.monotonic()
            try:
                container_id = await asyncio.to_thread(self._create, spec, holder)
            except _ImageMissing:
                # Pull only when the host lacks the image: the common case costs no extra round trip.
                await self._pull_once(spec.image, reason="start")
                pulled = time.monotonic()
                phases.append(("pull", pulled - began))
                began = pulled
                container_id = await asyncio.to_thread(self._create, spec, holder)
            created = time.monotonic()
            reach = await asyncio.to_thread(self._start, spec, container_id, holder)
        except BaseException:
            if holder is not None and self.holders is not None:
                await asyncio.shield(self.holders.remove(holder.container_id))
            raise
        if holder is not None:
            self._holder_of[container_id] = holder.container_id
        phases += [("create", created - began), ("start", time.monotonic() - created)]
        return ReplicaHandle(
            container_id, spec.version_key, spec.model, self._address(reach), phases=tuple(phases)
        )

    async def wait_ready(self, replica: ReplicaHandle, probe: ReadyProbe, timeout: float) -> None:
        await ready_or_exited(replica, probe, self.wait_exited(replica), timeout)

    async def wait_exited(self, replica: ReplicaHandle) -> str:
        watcher = await self._exit_watcher()
        await watcher.wait(replica.replica_id, self._is_running)
        return await asyncio.to_thread(self._describe_exit, replica.replica_id)

    async def stop(self, replica: ReplicaHandle) -> None:
        await asyncio.to_thread(self._stop_and_remove, replica.replica_id)
        holder_id = self._holder_of.pop(replica.replica_id, None)
        if holder_id is not None and self.holders is not None:
            await self.holders.remove(holder_id)

    async def list_existing(self) -> list[ReplicaHandle]:
        """Running replicas (with their holders) to adopt; idle holders join the pool, which then fills."""
        replicas, idle = await asyncio.to_thread(self._list_managed)
        self._listed.set()
        # A pool bigger than wanted (a scaler killed mid-refill, or a smaller pool size now) is trimmed.
        keep = self.holders.size if self.holders is not None else 0
        extra = idle[keep:]
        if self.holders is not None:
            self.holders.start(idle[:keep])
        await asyncio.gather(*(asyncio.to_thread(self._remove_holder, h.container_id) for h in extra))
        return replicas

    async def close(self) -> None:
        for task in list(self._spare_tasks):
            task.cancel()
        await asyncio.gather(*self._spare_tasks, return_exceptions=True)
        spares, self._spares = list(self._spares.values()), {}
        await asyncio.gather(*(self._discard(spare) for spare in spares), return_exceptions=True)
        if self.holders is not None:
            await self.holders.close()
        if self._exits is not None:
            await asyncio.to_thread(self._exits.close)
            self._exits = None
        if self._client is not None:
            await asyncio.to_thread(self._client.close)
            self._client = None

    # --- spares (created, not started) -------------------------------------------------------------

    async def _make_spare(self, spec: ReplicaSpec) -> None:
        """Create the version's spare container unless it has an up-to-date one."""
        await self._listed.wait()
        current = self._spares.get(spec.version_key)
        if current is not None and current.spec == spec:
            return
        holder = None
        if self.holders is not None:
            holder, _ = await self.holders.take()
        try:
            container_id = await asyncio.to_thread(self._create, spec, holder)
        except BaseException:
            if holder is not None and self.holders is not None:
                await asyncio.shield(self.holders.remove(holder.container_id))
            raise
        old = self._spares.pop(spec.version_key, None)
        self._spares[spec.version_key] = _Spare(spec, container_id, holder)
        if old is not None:
            await self._discard(old)

    def _refill_spare_later(self, spec: ReplicaSpec) -> None:
        async def refill() -> None:
            await asyncio.sleep(self.refill_delay_s)
            try:
                await self._make_spare(spec)
            except Exception as exc:
                log.warning("cannot create a spare container of %s: %s", spec.version_key, exc)

        task = asyncio.create_task(refill(), name=f"spare-{spec.version_key}")
        self._spare_tasks.add(task)
        task.add_done_callback(self._spare_tasks.discard)

    async def _start_spare(self, spare: _Spare) -> ReplicaHandle:
        began = time.monotonic()
        try:
            reach = await asyncio.to_thread(self._start, spare.spec, spare.container_id, spare.holder)
        except BaseException:
            if spare.holder is not None and self.holders is not None:
                await asyncio.shield(self.holders.remove(spare.holder.container_id))
            raise
        if spare.holder is not None:
            self._holder_of[spare.container_id] = spare.holder.container_id
        phases = (("holder-wait", 0.0), ("create", 0.0), ("start", time.monotonic() - began))
        spec = spare.spec
        return ReplicaHandle(
            spare.container_id, spec.version_key, spec.model, self._address(reach), phases=phases
        )

    async def _discard(self, spare: _Spare) -> None:
        await asyncio.to_thread(self._stop_and_remove, spare.container_id)
        if spare.holder is not None and self.holders is not None:
            await self.holders.remove(spare.holder.container_id)

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

    def _create(self, spec: ReplicaSpec, holder: Holder | None = None) -> str:
        """Create (not start) a hardened container of `spec`, in `holder`'s network if any; return its id."""
        api = self.client.api
        # The engine refuses more CPUs than the host has; 0 means no limit.
        cpu = min(spec.cpu, float(os.cpu_count() or 1))
        memory = f"{max(spec.memory_mb, 8)}m" if spec.memory_mb > 0 else None
        labels = {MANAGED_LABEL: "true", VERSION_LABEL: spec.version_key, INSTANCE_LABEL: self.instance}
        if holder is None:
            network: dict[str, Any] = {"port_bindings": {CONTAINER_PORT: ("127.0.0.1", None)}}
        else:
            network = {"network_mode": f"container:{holder.container_id}"}
            labels[HOLDER_LABEL] = holder.container_id
        host_config = api.create_host_config(
            **network,
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
                labels=labels,
                # An int: docker-py turns "9000/tcp" into "9000/tcp/tcp" (the image's EXPOSE hid that).
                ports=[PORT_NUMBER] if holder is None else None,
                environment={"PYTHONUNBUFFERED": "1", **thread_env(cpu)},
                host_config=host_config,
            )
        except docker.errors.ImageNotFound:
            raise _ImageMissing(spec.image) from None
        except docker.errors.DockerException as exc:
            raise StartError(f"cannot create a container of {spec.image!r}: {_explain(exc)}") from exc
        container_id: str = created["Id"]
        return container_id

    def _address(self, reach: Reach) -> str:
        return reach.address(self.replica_address, PORT_NUMBER)

    def _start(self, spec: ReplicaSpec, container_id: str, holder: Holder | None = None) -> Reach:
        """Start a created container; return how its gRPC port is reached."""
        api = self.client.api
        try:
            api.start(container_id)
            if holder is not None:
                return holder.reach
            reach = reach_of_inspected(api.inspect_container(container_id), PORT_NUMBER)
        except docker.errors.DockerException as exc:
            self._stop_and_remove(container_id)
            raise StartError(f"cannot start a container of {spec.image!r}: {_explain(exc)}") from exc
        if reach is None:
            self._stop_and_remove(container_id)
            raise StartError(
                f"container {container_id[:12]} of {spec.image!r} has no host port for {CONTAINER_PORT}"
            )
        return reach

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

    def _list_managed(self) -> tuple[list[ReplicaHandle], list[Holder]]:
        """Running replicas and the idle holders left running; stopped or broken leftovers are removed.

        A replica that joined a holder is reached through the holder's published port; one whose holder
        is gone is unreachable and removed. Holders no running replica uses are returned as idle.
        """
        api = self.client.api
        summaries = api.containers(all=True, filters={"label": self._owned_filter()})
        holders = {s["Id"]: s for s in summaries if s.get("Labels", {}).get(ROLE_LABEL) == HOLDER_ROLE}
        used: set[str] = set()
        found = []
        for summary in summaries:
            container_id = summary["Id"]
            labels = summary.get("Labels", {})
            if container_id in holders:
                continue
            key = labels.get(VERSION_LABEL, "")
            holder_id = labels.get(HOLDER_LABEL)
            holder = holders.get(holder_id) if holder_id else None
            reach = reach_of_listed(summary if not holder_id else holder or {}, PORT_NUMBER)
            running = summary.get("State") == "running"
            if holder_id and (holder is None or holder.get("State") != "running"):
                running = False
            if not running or not key or reach is None:
                log.info("removing leftover container %s (%s)", container_id[:12], summary.get("Status"))
                self._stop_and_remove(container_id)
                if holder_id:
                    self._remove_holder(holder_id)
                    used.add(holder_id)
                continue
            if holder_id:
                used.add(holder_id)
                self._holder_of[container_id] = holder_id
            model = key.rpartition(":")[0]
            found.append(ReplicaHandle(container_id, key, model, self._address(reach)))
        idle = []
        for holder_id, summary in holders.items():
            if holder_id in used:
                continue
            reach = reach_of_listed(summary, PORT_NUMBER)
            if summary.get("State") == "running" and reach is not None:
                idle.append(Holder(holder_id, reach))
            else:
                log.info("removing leftover holder %s (%s)", holder_id[:12], summary.get("Status"))
                self._remove_holder(holder_id)
        return found, idle

    def _remove_holder(self, container_id: str) -> None:
        try:
            self.client.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                log.warning("removing holder container %s failed: %s", container_id[:12], exc)

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


@dataclass(frozen=True)
class _Spare:
    """A created, not started container of a version (in a holder's network when holders are on)."""

    spec: ReplicaSpec
    container_id: str
    holder: Holder | None


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


def thread_env(cpu: float) -> dict[str, str]:
    """Environment sizing numeric libraries' thread pools to a CPU limit (none when unlimited, 0)."""
    if cpu <= 0:
        return {}
    threads = str(max(1, math.floor(cpu)))
    return {name: threads for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def _explain(exc: docker.errors.DockerException) -> str:
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        return str(exc.explanation)
    return str(exc)
