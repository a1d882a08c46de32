"""A change counter that many waiters can follow without missing the latest state.

Waiters remember the generation they have seen and wait for a newer one; bursts of changes coalesce,
so a slow watcher always gets the newest state next, never a backlog.
"""

from __future__ import annotations

import asyncio


class Changes:
    """`notify()` bumps the generation and wakes every `wait()`er."""

    def __init__(self) -> None:
        self.generation = 0
        self._event = asyncio.Event()

    def notify(self) -> None:
        self.generation += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seen: int) -> int:
        """Return the current generation as soon as it differs from `seen`."""
        while self.generation == seen:
            await self._event.wait()
        return self.generation
