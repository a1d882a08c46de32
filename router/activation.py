"""Waking a version through the scaler: one activation under way per version, however many requests wait.

While requests are held and no replica is ready, `Activate` is called again every `reactivate_interval_s`
(a cold start can outlast one call's effect: a replica that died while starting, a scaler that restarted),
and after a failed call with a backoff of 0.1 s doubling up to 2 s. The loop stops as soon as the version
has a replica or nothing waits for one.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

from router.errors import ActivationError

log = logging.getLogger(__name__)

Activate = Callable[[str], Awaitable[None]]


class Activation:
    """The activation of one version (`key`); `needs_replica` tells whether requests still wait for one."""

    def __init__(
        self,
        key: str,
        activate: Activate,
        needs_replica: Callable[[], bool],
        *,
        reactivate_interval_s: float,
    ) -> None:
        self.key = key
        self.count = 0
        """Activate calls the scaler accepted."""
        self.last_error: str | None = None
        self._activate = activate
        self._needs_replica = needs_replica
        self._reactivate_interval_s = reactivate_interval_s
        self._task: asyncio.Task[None] | None = None
        self._activated_at = -math.inf
        self._settled = asyncio.Event()

    def wake(self, *, force: bool = False) -> None:
        """Make sure an activation is under way (at least one Activate call when `force`d)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._loop(force), name=f"activate {self.key}"
            )

    def waiting(self) -> None:
        """A request now waits for a replica."""
        self._settled.clear()

    def settled(self) -> None:
        """Nothing waits for a replica any more, or one is ready: the loop can stop."""
        self._settled.set()

    def done(self) -> None:
        """A replica is ready: that activation is over (losing every replica activates anew)."""
        self._activated_at = -math.inf

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _loop(self, force: bool) -> None:
        backoff = 0.1
        while force or self._needs_replica():
            force = False
            since = time.monotonic() - self._activated_at
            if since < self._reactivate_interval_s:
                pause = self._reactivate_interval_s - since  # activated a moment ago: give it time
            else:
                try:
                    await self._activate(self.key)
                    self._activated_at = time.monotonic()
                    self.count += 1
                    self.last_error = None
                    pause = self._reactivate_interval_s
                    backoff = 0.1
                except ActivationError as exc:
                    self.last_error = str(exc)
                    log.warning("%s: %s; retrying in %.1f s", self.key, exc, backoff)
                    pause = backoff
                    backoff = min(2.0, backoff * 2)
            self._settled.clear()
            if not self._needs_replica():
                break
            try:
                async with asyncio.timeout(pause):
                    await self._settled.wait()
            except TimeoutError:
                pass
