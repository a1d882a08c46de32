"""Spare containers: one created (not started) container per version, so that a cold start only starts it.

With `spares` on, a version's spare is created when its image is prepared (it uses no CPU or memory
until started), and the next cold start of the version takes it; a replacement is created in the
background after `refill_delay_s` (so it does not compete with the cold start for the cores). A spare
of a version whose spec changed is thrown away; spares are removed when the scaler closes (a restarted
scaler removes created-but-not-started leftovers like any stopped container).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from scaler.runtimes.base import ReplicaSpec
from scaler.runtimes.docker.containers import Containers
from scaler.runtimes.docker.holders import Holder, HolderPool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Spare:
    """A created, not started container of a version (in a holder's network when holders are on)."""

    spec: ReplicaSpec
    container_id: str
    holder: Holder | None


class Spares:
    """The spare of each version, made after the leftovers are sorted out (`listed` is set)."""

    def __init__(self, containers: Containers, holders: HolderPool | None, *, refill_delay_s: float) -> None:
        self._containers = containers
        self._holders = holders
        self.refill_delay_s = refill_delay_s
        self._spares: dict[str, Spare] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.listed = asyncio.Event()
        """Set once the backend has sorted out the leftovers: spares are made only after that, so that a
        spare just created is not taken for a leftover of a previous scaler."""

    async def make(self, spec: ReplicaSpec) -> None:
        """Create the version's spare container unless it has an up-to-date one."""
        await self.listed.wait()
        current = self._spares.get(spec.version_key)
        if current is not None and current.spec == spec:
            return
        holder = None
        if self._holders is not None:
            holder, _ = await self._holders.take()
        try:
            container_id = await asyncio.to_thread(self._containers.create, spec, holder)
        except BaseException:
            if holder is not None and self._holders is not None:
                await asyncio.shield(self._holders.remove(holder.container_id))
            raise
        old = self._spares.pop(spec.version_key, None)
        self._spares[spec.version_key] = Spare(spec, container_id, holder)
        if old is not None:
            await self.discard(old)

    async def take(self, spec: ReplicaSpec) -> Spare | None:
        """The version's spare if it was made for `spec` (a stale one is discarded); a refill follows."""
        spare = self._spares.pop(spec.version_key, None)
        if spare is None:
            return None
        self._refill_later(spec)
        if spare.spec == spec:
            return spare
        await self.discard(spare)
        return None

    async def discard(self, spare: Spare) -> None:
        await asyncio.to_thread(self._containers.stop_and_remove, spare.container_id)
        if spare.holder is not None and self._holders is not None:
            await self._holders.remove(spare.holder.container_id)

    async def close(self) -> None:
        """Stop refilling and remove every spare."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        spares, self._spares = list(self._spares.values()), {}
        await asyncio.gather(*(self.discard(spare) for spare in spares), return_exceptions=True)

    def _refill_later(self, spec: ReplicaSpec) -> None:
        async def refill() -> None:
            await asyncio.sleep(self.refill_delay_s)
            try:
                await self.make(spec)
            except Exception as exc:
                log.warning("cannot create a spare container of %s: %s", spec.version_key, exc)

        task = asyncio.create_task(refill(), name=f"spare-{spec.version_key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
