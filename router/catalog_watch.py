"""The router's view of the control plane: a client of `hydro.v1.Catalog/Watch`.

The control plane sends a full `Snapshot` on connect and after every change. The watch turns each into
a `RoutingTable`, keeps the last one and keeps serving from it while the control plane is down,
reconnecting with a capped, jittered exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import grpc

from protos.hydro.v1 import catalog_pb2, catalog_pb2_grpc
from router.routing import RoutingTable

log = logging.getLogger(__name__)

# Reconnect soon after the control plane comes back (gRPC's own backoff grows to two minutes).
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


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
        self.connected = False
        self._first = asyncio.Event()
        self._warned = False
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

    async def run(self) -> None:
        """Watch until cancelled, reconnecting whenever the stream ends or fails."""
        backoff = self.backoff_initial_s
        async with grpc.aio.insecure_channel(self.address, options=_CHANNEL_OPTIONS) as channel:
            stub = catalog_pb2_grpc.CatalogStub(channel)  # type: ignore[no-untyped-call]
            while True:
                try:
                    call = stub.Watch(catalog_pb2.WatchRequest(client=self.client))
                    async for snapshot in call:
                        if not self.connected:
                            log.info("catalog %s connected", self.address)
                            self.connected = True
                            self._warned = False
                        backoff = self.backoff_initial_s
                        self.apply(snapshot)
                    reason = "the stream ended"
                except grpc.aio.AioRpcError as exc:
                    reason = f"{exc.code().name}: {exc.details()}"
                self._lost(reason)
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(self.backoff_max_s, backoff * 2)

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

    def _lost(self, reason: str) -> None:
        if self.connected or not self._warned:
            kept = f"serving from revision {self.table.revision}" if self.table else "no snapshot yet"
            log.warning("catalog %s unreachable (%s); %s; reconnecting", self.address, reason, kept)
            self._warned = True
        else:
            log.debug("catalog %s still unreachable (%s)", self.address, reason)
        self.connected = False
