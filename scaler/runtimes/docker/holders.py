"""Network-namespace holders for the docker backend: Kubernetes' pause container, in a small pool.

Giving a new container its own network (a bridge endpoint, iptables rules, the published port and its
proxy) is a large share of `docker run`. A holder is a tiny idle container (`sleep infinity` in the
runtime base image) that owns a network namespace with the gRPC port 9000 already published on
127.0.0.1. A replica joins it (`network_mode=container:{holder}`), so its own create and start skip the
network set-up, and the replica's address is the holder's published port, known before it starts.

A few holders are kept idle (`size`); taking one wakes a background refill that starts after
`refill_delay_s` (so it does not compete with the cold start it serves for the machine's cores).
Holders are hardened like replicas (uid 10001, read-only root, all capabilities dropped,
no-new-privileges, a small pids and memory limit) and labelled `hydro.managed=true`,
`hydro.scaler={instance}` and `hydro.role=netns-holder`; a replica carries `hydro.holder={holder id}`, and
its holder is removed with it. Idle holders are removed when the scaler closes; a restarted scaler
adopts the idle holders it finds (see `Containers.list_owned`).

Every docker SDK call runs in a worker thread; docker errors become Hydro errors (or a log line) here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import docker
import docker.errors

from scaler.errors import StartError
from scaler.runtimes.addresses import Reach, reach_of_inspected

log = logging.getLogger(__name__)

ROLE_LABEL = "hydro.role"
HOLDER_ROLE = "netns-holder"
HOLDER_LABEL = "hydro.holder"
HOLDER_COMMAND = ["sleep", "infinity"]
RETRY_AFTER_S = 30.0


@dataclass(frozen=True)
class Holder:
    """A running holder: its container id and how its namespace's port 9000 is reached."""

    container_id: str
    reach: Reach


class HolderPool:
    """Keeps `size` idle holders ready; `take` hands one out (making one at once if none is idle)."""

    def __init__(
        self,
        client: Callable[[], docker.DockerClient],
        *,
        image: str,
        labels: dict[str, str],
        user: str,
        port: int,
        size: int = 2,
        pids_limit: int = 16,
        refill_delay_s: float = 1.0,
    ) -> None:
        self._client = client
        self.image = image
        self.labels = {**labels, ROLE_LABEL: HOLDER_ROLE}
        self.user = user
        self.port = port
        self.size = size
        self.pids_limit = pids_limit
        self.refill_delay_s = refill_delay_s
        self._idle: list[Holder] = []
        self._wanted = asyncio.Event()
        self._refill: asyncio.Task[None] | None = None
        self._off_until = 0.0
        """After a failure to make a holder, replicas get their own network until then."""

    def start(self, adopted: Iterable[Holder] = ()) -> None:
        """Adopt idle holders a previous scaler left, and keep the pool full from now on."""
        self._idle.extend(adopted)
        if self._refill is None and self.size > 0:
            self._refill = asyncio.create_task(self._keep_full(), name="netns-holder-pool")
            self._wanted.set()

    async def take(self) -> tuple[Holder | None, float]:
        """An idle holder (or a new one) and the seconds it took; None when holders cannot be made."""
        began = time.monotonic()
        holder = self._idle.pop(0) if self._idle else None
        if holder is None and time.monotonic() >= self._off_until:
            try:
                await self._add_one()
                holder = self._idle.pop()
            except StartError as exc:
                # Replicas still start, each with its own network.
                self._off_until = time.monotonic() + RETRY_AFTER_S
                log.warning("network-namespace holders are off for %g s: %s", RETRY_AFTER_S, exc)
        self._wanted.set()
        return holder, time.monotonic() - began

    async def remove(self, container_id: str) -> None:
        await asyncio.to_thread(self.remove_now, container_id)

    async def close(self) -> None:
        """Stop refilling and remove the idle holders."""
        if self._refill is not None:
            self._refill.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refill
            self._refill = None
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self.remove(holder.container_id) for holder in idle))

    async def _keep_full(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            await asyncio.sleep(self.refill_delay_s)
            while len(self._idle) < self.size:
                try:
                    await self._add_one()
                except StartError as exc:
                    self._off_until = time.monotonic() + RETRY_AFTER_S
                    log.warning("cannot refill the network-namespace holder pool: %s", exc)
                    await asyncio.sleep(RETRY_AFTER_S)
                except Exception:
                    log.exception("refilling the network-namespace holder pool failed")
                    await asyncio.sleep(RETRY_AFTER_S)

    async def _add_one(self) -> None:
        """Make one idle holder; if cancelled meanwhile, it still lands in the pool (for `close`)."""
        creating = asyncio.ensure_future(asyncio.to_thread(self._create))
        try:
            self._idle.append(await asyncio.shield(creating))
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self._idle.append(await creating)
            raise

    # --- in worker threads -------------------------------------------------------------------------

    def _create(self) -> Holder:
        api = self._client().api
        host_config = api.create_host_config(
            port_bindings={f"{self.port}/tcp": ("127.0.0.1", None)},
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            pids_limit=self.pids_limit,
            mem_limit="16m",
            memswap_limit="16m",
        )
        container_id = ""
        try:
            created = api.create_container(
                self.image,
                command=HOLDER_COMMAND,
                name=f"hydro-holder-{secrets.token_hex(4)}",
                detach=True,
                user=self.user,
                labels=self.labels,
                # An int: docker-py turns "9000/tcp" into "9000/tcp/tcp" and exposes nothing.
                ports=[self.port],
                host_config=host_config,
            )
            container_id = created["Id"]
            api.start(container_id)
            reach = reach_of_inspected(api.inspect_container(container_id), self.port)
        except docker.errors.DockerException as exc:
            if container_id:
                self.remove_now(container_id)
            raise StartError(f"cannot run a holder container of {self.image!r}: {exc}") from exc
        if reach is None:
            self.remove_now(container_id)
            raise StartError(f"holder container {container_id[:12]} has no host port for {self.port}/tcp")
        return Holder(container_id, reach)

    def remove_now(self, container_id: str) -> None:
        remove_holder(self._client(), container_id)


def remove_holder(client: docker.DockerClient, container_id: str) -> None:
    """Remove a holder container (it runs nothing worth a graceful stop); blocks."""
    try:
        client.api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        # "removal already in progress" is fine; anything else is worth a line in the log.
        if exc.status_code != 409:
            log.warning("removing holder container %s failed: %s", container_id[:12], exc)
