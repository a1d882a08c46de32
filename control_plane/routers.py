"""Which catalog revision every connected router serves from: what `routable` means.

A router watches the catalog (`Catalog.Watch`, kind "router") and acknowledges each snapshot it has
applied (`Catalog.Acknowledge`). This process keeps, per open router watch stream, the last revision
acknowledged on it. A revision is routable once at least one router is connected and every connected
router acknowledged it (or a later one): an invoke sent to any of them then finds what that revision
declared.

Only the watch streams open on this process count: control-plane processes sharing one database each
know their own routers, so behind a load balancer a process may answer `routable: false` (no router
connected here) while routers follow another one. Run one control plane, or point every router at the
one that answers declarations, when `wait=true` matters.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass


@dataclass
class RouterWatch:
    """One open router watch stream."""

    id: str
    client: str
    acknowledged: int = 0


@dataclass(frozen=True)
class Routing:
    """Whether `revision` is served by every router connected to this control plane."""

    revision: int
    connected: int
    acknowledged: int

    @property
    def routable(self) -> bool:
        return self.connected > 0 and self.acknowledged == self.connected

    @property
    def reason(self) -> str | None:
        """Why not routable (None when it is)."""
        if self.connected == 0:
            return "no router is connected to this control plane's catalog watch"
        if self.acknowledged < self.connected:
            return (
                f"{self.connected - self.acknowledged} of {self.connected} connected routers have not "
                f"acknowledged catalog revision {self.revision} yet"
            )
        return None

    def to_json(self) -> dict[str, object]:
        return {
            "routable": self.routable,
            "revision": self.revision,
            "routers": {"connected": self.connected, "acknowledged": self.acknowledged},
            "routable_reason": self.reason,
        }


class Routers:
    """The router watch streams open on this process and the revision each acknowledged."""

    def __init__(self) -> None:
        self._watches: dict[str, RouterWatch] = {}
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        """Set (and replaced) whenever a router connects, leaves or acknowledges."""

    def connect(self, client: str) -> RouterWatch:
        watch = RouterWatch(id=f"{client}#{next(self._ids)}", client=client)
        self._watches[watch.id] = watch
        self._notify()
        return watch

    def disconnect(self, watch: RouterWatch) -> None:
        if self._watches.pop(watch.id, None) is not None:
            self._notify()

    def acknowledge(self, watch_id: str, revision: int) -> bool:
        """Record that the router on stream `watch_id` serves `revision`; False if no such stream is open."""
        watch = self._watches.get(watch_id)
        if watch is None:
            return False
        if revision > watch.acknowledged:
            watch.acknowledged = revision
            self._notify()
        return True

    def routing(self, revision: int) -> Routing:
        watches = list(self._watches.values())
        return Routing(
            revision=revision,
            connected=len(watches),
            acknowledged=sum(1 for watch in watches if watch.acknowledged >= revision),
        )

    async def wait_routable(self, revision: int, timeout: float) -> Routing:
        """The routing of `revision` once it is routable, or after `timeout` seconds, whichever is first;
        at once when no router is connected (there is nobody to wait for: the answer says so)."""
        try:
            async with asyncio.timeout(timeout):
                while (routing := self.routing(revision)).connected and not routing.routable:
                    await self._changed.wait()
        except TimeoutError:
            pass
        return self.routing(revision)

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
