"""Container exits, noticed at once from the engine's event stream (not by polling each container)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import docker

log = logging.getLogger(__name__)


class ExitWatcher:
    """One thread following the engine's `die` events of managed containers, resolving waiters."""

    def __init__(
        self,
        connect: Callable[[], docker.DockerClient],
        loop: asyncio.AbstractEventLoop,
        label_filter: list[str],
    ) -> None:
        self._connect = connect
        self._label_filter = label_filter
        self._loop = loop
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._connected = asyncio.Event()
        self._closed = threading.Event()
        self._stream: Any = None
        self._client: docker.DockerClient | None = None
        self._thread = threading.Thread(target=self._follow, name="hydro-docker-events", daemon=True)
        self._thread.start()

    async def connected(self) -> None:
        await self._connected.wait()

    async def wait(self, container_id: str, is_running: Callable[[str], bool]) -> None:
        """Return once the container is not running (at once if it already is not)."""
        while True:
            future: asyncio.Future[None] = self._loop.create_future()
            self._waiters.setdefault(container_id, []).append(future)
            try:
                # Registered first, then checked: a death between the two is seen by one or the other.
                if not await asyncio.to_thread(is_running, container_id):
                    return
                await future
            finally:
                waiters = self._waiters.get(container_id, [])
                if future in waiters:
                    waiters.remove(future)
                if not waiters:
                    self._waiters.pop(container_id, None)
            # Woken by a `die` event or after the stream reconnected: look again.

    def close(self) -> None:
        """Stop following (blocks until the thread ends, at most 5 s)."""
        self._closed.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:
                log.debug("closing the docker event stream failed", exc_info=True)
        if self._client is not None:
            self._client.close()
        self._thread.join(timeout=5)

    def _follow(self) -> None:
        while not self._closed.is_set():
            try:
                self._client = self._connect()
                self._stream = self._client.api.events(
                    decode=True,
                    filters={"type": "container", "event": ["die"], "label": self._label_filter},
                )
                self._loop.call_soon_threadsafe(self._on_connected)
                for event in self._stream:
                    container_id = event.get("id") or event.get("Actor", {}).get("ID", "")
                    self._loop.call_soon_threadsafe(self._resolve, container_id)
            except Exception as exc:
                if self._closed.is_set():
                    return
                log.warning("docker event stream failed (%s); reconnecting", exc)
            if not self._closed.wait(0.5):
                # Deaths while disconnected were missed: wake every waiter to check its container again.
                self._loop.call_soon_threadsafe(self._resolve_all)

    def _on_connected(self) -> None:
        self._connected.set()

    def _resolve(self, container_id: str) -> None:
        for future in self._waiters.get(container_id, []):
            if not future.done():
                future.set_result(None)

    def _resolve_all(self) -> None:
        for container_id in list(self._waiters):
            self._resolve(container_id)
