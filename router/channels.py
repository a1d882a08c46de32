"""Pooled gRPC channels to replicas: one long-lived channel and stub per endpoint address.

A request never creates a channel or a stub; an address's channel is closed once no version lists
that address any more (its in-flight calls get a short grace).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import grpc

from protos.inference import grpc_service_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

_CLOSE_GRACE_S = 5.0


class ChannelPool:
    """Channels and `GRPCInferenceService` stubs by address."""

    def __init__(self, max_message_bytes: int) -> None:
        self._options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            # A replica that just became ready should be reachable at once, and a restarted one soon.
            ("grpc.initial_reconnect_backoff_ms", 50),
            ("grpc.min_reconnect_backoff_ms", 50),
            ("grpc.max_reconnect_backoff_ms", 1000),
            # Each replica gets its own connection even when two addresses resolve alike.
            ("grpc.use_local_subchannel_pool", 1),
        ]
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[str, pb_grpc.GRPCInferenceServiceStub] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def stub(self, address: str) -> pb_grpc.GRPCInferenceServiceStub:
        """The stub for `address`, opening its channel on first use."""
        stub = self._stubs.get(address)
        if stub is None:
            channel = grpc.aio.insecure_channel(address, options=self._options)
            stub = pb_grpc.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
            self._channels[address] = channel
            self._stubs[address] = stub
            # Start connecting now: the first request should not pay for the TCP and HTTP/2 handshake.
            channel.get_state(try_to_connect=True)
        return stub

    def addresses(self) -> set[str]:
        return set(self._channels)

    def retain(self, addresses: Iterable[str]) -> None:
        """Close the channels of every address not in `addresses`."""
        keep = set(addresses)
        for address in [a for a in self._channels if a not in keep]:
            channel = self._channels.pop(address)
            del self._stubs[address]
            log.debug("closing the channel to %s", address)
            task = asyncio.get_running_loop().create_task(channel.close(grace=_CLOSE_GRACE_S))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close every channel at once (in-flight calls are cancelled)."""
        channels = list(self._channels.values())
        self._channels.clear()
        self._stubs.clear()
        await asyncio.gather(*(channel.close(None) for channel in channels), return_exceptions=True)
        for task in list(self._closing):
            task.cancel()
        await asyncio.gather(*self._closing, return_exceptions=True)
