"""Following a gRPC server stream for as long as a service runs.

The router, the scaler and Sonar follow the control plane's catalog watch (`CatalogFollower`), and
the router follows the scaler's endpoint watch. Each stream sends full state, so after a break the
follower simply reopens it; meanwhile its owner keeps serving from the last state it received.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any, Generic, NoReturn, TypeVar

import grpc

from protos.hydro.v1 import catalog_pb2, catalog_pb2_grpc
from servicekit.grpc_security import ServiceLink

log = logging.getLogger(__name__)

Message = TypeVar("Message")

# Reconnect soon after the peer comes back (gRPC's own backoff grows to two minutes).
RECONNECT_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


ACKNOWLEDGE_TIMEOUT_S = 5.0


class StreamFollower(Generic[Message]):
    """Reads a server stream forever, reopening it with a capped, jittered exponential backoff.

    `peer` names the other side in logs ("catalog 127.0.0.1:9089"); `kept` describes what the owner
    keeps serving from while the stream is down. `connected` is true while messages flow. `after`, when
    given, is awaited after `on_message` with each message, before the next one is read.
    """

    def __init__(
        self,
        peer: str,
        open_stream: Callable[[], AsyncIterable[Message]],
        on_message: Callable[[Message], None],
        *,
        kept: Callable[[], str],
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
        after: Callable[[Message], Awaitable[None]] | None = None,
    ) -> None:
        self.peer = peer
        self.open_stream = open_stream
        self.on_message = on_message
        self.after = after
        self.kept = kept
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.connected = False
        self._warned = False

    async def run(self) -> NoReturn:
        backoff = self.backoff_initial_s
        while True:
            try:
                async for message in self.open_stream():
                    if not self.connected:
                        log.info("%s connected", self.peer)
                        self.connected = True
                        self._warned = False
                    backoff = self.backoff_initial_s
                    self.on_message(message)
                    if self.after is not None:
                        await self.after(message)
                reason = "the stream ended"
            except grpc.aio.AioRpcError as exc:
                reason = f"{exc.code().name}: {exc.details()}"
            except Exception as exc:
                log.exception("following %s failed", self.peer)
                reason = repr(exc)
            self._lost(reason)
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(self.backoff_max_s, backoff * 2)

    def _lost(self, reason: str) -> None:
        if self.connected or not self._warned:
            log.warning("%s unreachable (%s); %s; reconnecting", self.peer, reason, self.kept())
            self._warned = True
        else:
            log.debug("%s still unreachable (%s)", self.peer, reason)
        self.connected = False


class CatalogFollower(StreamFollower[catalog_pb2.Snapshot]):
    """Follows the control plane's `hydro.v1.Catalog/Watch` at `address`, as `client`, on its own channel
    opened by `link` (the service credential, TLS); every snapshot goes to `on_snapshot`.

    A watcher of `kind` "router" gets snapshots with a `watch_id`; after applying each one it
    acknowledges the revision it now serves from (`applied()`), so the control plane can tell when a
    declaration is routable. A failed acknowledgement is logged; the next snapshot (or the full one sent
    on reconnect) is acknowledged again.
    """

    def __init__(
        self,
        address: str,
        client: str,
        on_snapshot: Callable[[catalog_pb2.Snapshot], None],
        *,
        link: ServiceLink,
        kept: Callable[[], str],
        kind: str = "",
        applied: Callable[[], int | None] = lambda: None,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 2.0,
    ) -> None:
        super().__init__(
            f"catalog {address}",
            self._open,
            on_snapshot,
            kept=kept,
            backoff_initial_s=backoff_initial_s,
            backoff_max_s=backoff_max_s,
            after=self._acknowledge,
        )
        self.address = address
        self.client = client
        self.kind = kind
        self.applied = applied
        self.link = link
        self._stub: Any = None

    async def run(self) -> NoReturn:
        async with self.link.channel(self.address, options=RECONNECT_CHANNEL_OPTIONS) as channel:
            self._stub = catalog_pb2_grpc.CatalogStub(channel)  # type: ignore[no-untyped-call]
            await super().run()

    def _open(self) -> AsyncIterable[catalog_pb2.Snapshot]:
        stream: AsyncIterable[catalog_pb2.Snapshot] = self._stub.Watch(
            catalog_pb2.WatchRequest(client=self.client, kind=self.kind)
        )
        return stream

    async def _acknowledge(self, snapshot: catalog_pb2.Snapshot) -> None:
        revision = self.applied()
        if not snapshot.watch_id or revision is None:
            return
        try:
            await self._stub.Acknowledge(
                catalog_pb2.Acknowledgement(watch_id=snapshot.watch_id, revision=revision),
                timeout=ACKNOWLEDGE_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "cannot acknowledge catalog revision %d to %s (%s: %s)",
                revision,
                self.peer,
                exc.code().name,
                exc.details(),
            )
