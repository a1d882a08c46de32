"""The router's view of the control plane: a client of `hydro.v1.Catalog/Watch`.

The control plane sends a full `Snapshot` on connect and after every change. The watch turns each into
a `RoutingTable`, keeps the last one and keeps serving from it while the control plane is down,
reconnecting with a capped, jittered exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from protos.hydro.v1 import catalog_pb2
from router.routing import RoutingTable
from servicekit.stream_follower import CatalogFollower

log = logging.getLogger(__name__)


class CatalogWatch:
    """Follows the catalog; `table` is built from the last snapshot received (None before the first)."""

    def __init__(
        self,
        address: str,
        *,
        client: str = "router",
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
    ) -> None:
        self.address = address
        self.client = client
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.table: RoutingTable | None = None
        self._first = asyncio.Event()
        self._follower = CatalogFollower(
            address,
            client,
            self.apply,
            kept=self._kept,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
        )
        self._listeners: list[Callable[[RoutingTable], None]] = []

    def on_change(self, listener: Callable[[RoutingTable], None]) -> None:
        """Call `listener` with every new table (synchronously, in the event loop)."""
        self._listeners.append(listener)

    async def wait_table(self, timeout: float) -> RoutingTable | None:
        """The current table, waiting up to `timeout` seconds for the first one."""
        if self.table is None and timeout > 0:
            try:
                async with asyncio.timeout(timeout):
                    await self._first.wait()
            except TimeoutError:
                pass
        return self.table

    @property
    def connected(self) -> bool:
        return self._follower.connected

    async def run(self) -> None:
        """Watch until cancelled, reconnecting whenever the stream ends or fails."""
        await self._follower.run()

    def apply(self, snapshot: catalog_pb2.Snapshot) -> None:
        """Route by `snapshot` from now on (a snapshot that cannot be read is logged and skipped)."""
        try:
            table = RoutingTable.from_snapshot(snapshot)
        except Exception:
            log.exception("catalog revision %d cannot be read; keeping the previous one", snapshot.revision)
            return
        log.debug(
            "catalog revision %d: %d applications, %d versions",
            table.revision,
            len(table.routes),
            len(table.versions),
        )
        self.table = table
        self._first.set()
        for listener in self._listeners:
            try:
                listener(table)
            except Exception:
                log.exception("applying catalog revision %d failed", table.revision)

    def _kept(self) -> str:
        return f"serving from revision {self.table.revision}" if self.table else "no snapshot yet"
