"""Following a gRPC server stream for as long as a service runs.

The router, the scaler and Sonar follow the control plane's catalog watch (`CatalogFollower`), and
the router follows the scaler's endpoint watch. Each stream sends full state, so after a break the
follower simply reopens it; meanwhile its owner keeps serving from the last state it received.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterable, Callable
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


class StreamFollower(Generic[Message]):
    """Reads a server stream forever, reopening it with a capped, jittered exponential backoff.

    `peer` names the other side in logs ("catalog 127.0.0.1:9089"); `kept` describes what the owner
    keeps serving from while the stream is down. `connected` is true while messages flow.
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
    ) -> None:
        self.peer = peer
        self.open_stream = open_stream
        self.on_message = on_message
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
    opened by `link` (the service credential, TLS); every snapshot goes to `on_snapshot`."""

    def __init__(
        self,
        address: str,
        client: str,
        on_snapshot: Callable[[catalog_pb2.Snapshot], None],
        *,
        link: ServiceLink,
        kept: Callable[[], str],
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
        )
        self.address = address
        self.client = client
        self.link = link
        self._stub: Any = None

    async def run(self) -> NoReturn:
        async with self.link.channel(self.address, options=RECONNECT_CHANNEL_OPTIONS) as channel:
            self._stub = catalog_pb2_grpc.CatalogStub(channel)  # type: ignore[no-untyped-call]
            await super().run()

    def _open(self) -> AsyncIterable[catalog_pb2.Snapshot]:
        stream: AsyncIterable[catalog_pb2.Snapshot] = self._stub.Watch(
            catalog_pb2.WatchRequest(client=self.client)
        )
        return stream
