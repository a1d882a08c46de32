"""The `docker` backend: each replica is a hardened container of the version's image.

The pieces: `containers.py` (create, start, stop, inspect, leftovers; the hardening), `images.py`
(pulls, only when the host lacks the image), `holders.py` (network-namespace holders), `spares.py`
(created, not started containers) and `events.py` (exits, from the engine's event stream).

With `holders` > 0 a replica does not get a network of its own: it joins an idle network-namespace
holder from a small pool whose port 9000 is already published on 127.0.0.1, which takes the network
set-up out of the cold start. The replica is labelled `hydro.holder={holder id}` and the holder is
removed with it.

Every docker SDK call runs in a worker thread; docker errors become Hydro errors in the module that
makes the call.
"""

from __future__ import annotations

import asyncio
import time

import docker
import docker.errors

from scaler.errors import ImageError, StartError
from scaler.metrics import Metrics
from scaler.probe import ReadyProbe
from scaler.runtimes.addresses import AddressMode
from scaler.runtimes.base import INSTANCE_LABEL, MANAGED_LABEL, ReplicaHandle, ReplicaSpec, ready_or_exited
from scaler.runtimes.docker.containers import CONTAINER_USER, PORT_NUMBER, Containers
from scaler.runtimes.docker.events import ExitWatcher
from scaler.runtimes.docker.holders import Holder, HolderPool
from scaler.runtimes.docker.images import ImageMissing, Images
from scaler.runtimes.docker.spares import Spare, Spares

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
        self._base_url = base_url
        self._client: docker.DockerClient | None = None
        self._exits: ExitWatcher | None = None
        self.containers = Containers(
            lambda: self.client,
            instance=instance,
            replica_address=replica_address,
            stop_timeout_s=stop_timeout_s,
            pids_limit=pids_limit,
            tmpfs_mb=tmpfs_mb,
        )
        self.images = Images(lambda: self.client, metrics=metrics, backend=self.name)
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
        self.spares = (
            Spares(self.containers, self.holders, refill_delay_s=holder_refill_delay_s) if spares else None
        )

    async def prepare(self, spec: ReplicaSpec) -> None:
        """Pull the version's image now if the host lacks it, so its first cold start does not."""
        if spec.image:
            await self.images.pull_once(spec.image, reason="prepull")
            if self.spares is not None:
                await self.spares.make(spec)

    async def start(self, spec: ReplicaSpec) -> ReplicaHandle:
        if not spec.image:
            raise ImageError(f"version {spec.version_key} has no image in the catalog (it was not built)")
        await self._exit_watcher()
        spare = await self.spares.take(spec) if self.spares is not None else None
        if spare is not None:
            return await self._start_spare(spare)
        phases: list[tuple[str, float]] = []
        holder: Holder | None = None
        if self.holders is not None:
            holder, waited = await self.holders.take()
            phases.append(("holder-wait", waited))
        try:
            began = time.monotonic()
            try:
                container_id = await asyncio.to_thread(self.containers.create, spec, holder)
            except ImageMissing:
                # Pull only when the host lacks the image: the common case costs no extra round trip.
                await self.images.pull_once(spec.image, reason="start")
                pulled = time.monotonic()
                phases.append(("pull", pulled - began))
                began = pulled
                container_id = await asyncio.to_thread(self.containers.create, spec, holder)
            created = time.monotonic()
            reach = await asyncio.to_thread(self.containers.start, spec, container_id, holder)
        except BaseException:
            await self._release_holder(holder)
            raise
        if holder is not None:
            self._holder_of[container_id] = holder.container_id
        phases += [("create", created - began), ("start", time.monotonic() - created)]
        return ReplicaHandle(
            container_id, spec.version_key, spec.model, self.containers.address(reach), phases=tuple(phases)
        )

    async def wait_ready(self, replica: ReplicaHandle, probe: ReadyProbe, timeout: float) -> None:
        await ready_or_exited(replica, probe, self.wait_exited(replica), timeout)

    async def wait_exited(self, replica: ReplicaHandle) -> str:
        watcher = await self._exit_watcher()
        await watcher.wait(replica.replica_id, self.containers.is_running)
        return await asyncio.to_thread(self.containers.describe_exit, replica.replica_id)

    async def stop(self, replica: ReplicaHandle) -> None:
        await asyncio.to_thread(self.containers.stop_and_remove, replica.replica_id)
        holder_id = self._holder_of.pop(replica.replica_id, None)
        if holder_id is not None and self.holders is not None:
            await self.holders.remove(holder_id)

    async def list_existing(self) -> list[ReplicaHandle]:
        """Running replicas (with their holders) to adopt; idle holders join the pool, which then fills."""
        adopted, idle = await asyncio.to_thread(self.containers.list_owned)
        for handle, holder_id in adopted:
            if holder_id is not None:
                self._holder_of[handle.replica_id] = holder_id
        if self.spares is not None:
            self.spares.listed.set()
        # A pool bigger than wanted (a scaler killed mid-refill, or a smaller pool size now) is trimmed.
        keep = self.holders.size if self.holders is not None else 0
        extra = idle[keep:]
        if self.holders is not None:
            self.holders.start(idle[:keep])
        await asyncio.gather(
            *(asyncio.to_thread(self.containers.remove_holder, h.container_id) for h in extra)
        )
        return [handle for handle, _ in adopted]

    async def close(self) -> None:
        if self.spares is not None:
            await self.spares.close()
        if self.holders is not None:
            await self.holders.close()
        if self._exits is not None:
            await asyncio.to_thread(self._exits.close)
            self._exits = None
        if self._client is not None:
            await asyncio.to_thread(self._client.close)
            self._client = None

    @property
    def client(self) -> docker.DockerClient:
        """The engine's client, connected at first use (blocks: call it in a worker thread)."""
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

    async def _start_spare(self, spare: Spare) -> ReplicaHandle:
        began = time.monotonic()
        try:
            reach = await asyncio.to_thread(
                self.containers.start, spare.spec, spare.container_id, spare.holder
            )
        except BaseException:
            await self._release_holder(spare.holder)
            raise
        if spare.holder is not None:
            self._holder_of[spare.container_id] = spare.holder.container_id
        phases = (("holder-wait", 0.0), ("create", 0.0), ("start", time.monotonic() - began))
        spec = spare.spec
        return ReplicaHandle(
            spare.container_id, spec.version_key, spec.model, self.containers.address(reach), phases=phases
        )

    async def _release_holder(self, holder: Holder | None) -> None:
        """Remove the holder of a replica that failed to start (even if the start was cancelled)."""
        if holder is not None and self.holders is not None:
            await asyncio.shield(self.holders.remove(holder.container_id))

    async def _exit_watcher(self) -> ExitWatcher:
        """The engine's event stream, connected before the first container starts (so no exit is missed)."""
        if self._exits is None:
            self._exits = ExitWatcher(
                self._connect, asyncio.get_running_loop(), self.containers.owned_filter()
            )
        try:
            async with asyncio.timeout(ENGINE_TIMEOUT_S):
                await self._exits.connected()
        except TimeoutError:
            raise StartError(
                f"the Docker engine did not answer within {ENGINE_TIMEOUT_S:g} s; is dockerd running?"
            ) from None
        return self._exits
