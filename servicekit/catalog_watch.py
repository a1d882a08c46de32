"""A service's view of the control plane's catalog: the last `hydro.v1.Catalog/Watch` snapshot, read
into whatever that service looks things up by.

The control plane sends a full `Snapshot` on connect and after every change. The watch reads each one
with the service's `read` (the router builds its routing table, the scaler its view of versions and
configs), keeps the last and keeps serving from it while the control plane is down, reconnecting with a
capped, jittered exponential backoff (`CatalogFollower`). A snapshot that cannot be read is logged and
skipped; a listener that fails is logged and the others still run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from protos.hydro.v1 import catalog_pb2
from servicekit.grpc_security import ServiceLink
from servicekit.stream_follower import CatalogFollower

log = logging.getLogger(__name__)


class Revisioned(Protocol):
    @property
    def revision(self) -> int: ...


View = TypeVar("View", bound=Revisioned)


class CatalogWatch(Generic[View]):
    """Follows the catalog at `address` as `client` over `link`; `view` is the last snapshot read (None
    before one). A watch of `kind` "router" acknowledges the revision of each view it has applied."""

    def __init__(
        self,
        address: str,
        read: Callable[[catalog_pb2.Snapshot], View],
        *,
        client: str,
        link: ServiceLink,
        kind: str = "",
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
    ) -> None:
        self.address = address
        self.client = client
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.view: View | None = None
        self._read = read
        self._changed = asyncio.Event()
        """Set (and replaced) at every new view."""
        self._listeners: list[Callable[[View], None]] = []
        self._follower = CatalogFollower(
            address,
            client,
            self.apply,
            link=link,
            kept=self._kept,
            kind=kind,
            applied=self._applied,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
        )

    def on_change(self, listener: Callable[[View], None]) -> None:
        """Call `listener` with every new view (synchronously, in the event loop)."""
        self._listeners.append(listener)

    @property
    def connected(self) -> bool:
        return self._follower.connected

    async def run(self) -> None:
        """Watch until cancelled, reconnecting whenever the stream ends or fails."""
        await self._follower.run()

    async def wait_for(self, ready: Callable[[View], bool], timeout: float) -> View | None:
        """The current view once `ready(view)` holds, waiting up to `timeout` seconds (else the current
        view, or None)."""
        if self.view is not None and ready(self.view):
            return self.view
        if timeout > 0:
            try:
                async with asyncio.timeout(timeout):
                    while self.view is None or not ready(self.view):
                        await self._changed.wait()
            except TimeoutError:
                pass
        return self.view

    async def wait_view(self, timeout: float) -> View | None:
        """The current view, waiting up to `timeout` seconds for the first one."""
        return await self.wait_for(lambda view: True, timeout)

    def apply(self, snapshot: catalog_pb2.Snapshot) -> None:
        """Serve `snapshot` from now on."""
        try:
            view = self._read(snapshot)
        except Exception:
            log.exception("catalog revision %d cannot be read; keeping the previous one", snapshot.revision)
            return
        self.view = view
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for listener in self._listeners:
            try:
                listener(view)
            except Exception:
                log.exception("applying catalog revision %d failed", view.revision)

    def _applied(self) -> int | None:
        return self.view.revision if self.view is not None else None

    def _kept(self) -> str:
        return f"serving from revision {self.view.revision}" if self.view else "no snapshot yet"
