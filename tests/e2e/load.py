"""Steady load on the router's plain JSON invoke: callers posting one request after another.

Every request's outcome is kept (when it started, its status and body, or the transport error), so a
test can count exactly what callers saw while it broke something underneath.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Outcome:
    started: float
    """time.monotonic() when the request was sent"""
    status: int
    """the HTTP status, 0 when no answer came (the error is in `body`)"""
    body: Any
    sent: dict[str, Any]


@dataclass
class SteadyLoad:
    """`callers` concurrent callers posting `make_body(n)` to `url` until `stop()`."""

    url: str
    make_body: Callable[[int], dict[str, Any]]
    callers: int
    timeout_s: float = 60.0
    outcomes: list[Outcome] = field(default_factory=list)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _sent: int = 0
    _client: httpx.AsyncClient = field(init=False)

    async def __aenter__(self) -> SteadyLoad:
        limits = httpx.Limits(max_connections=self.callers, max_keepalive_connections=self.callers)
        self._client = httpx.AsyncClient(timeout=self.timeout_s, limits=limits)
        self._tasks = [asyncio.create_task(self._caller()) for _ in range(self.callers)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> list[Outcome]:
        """Let each caller finish its request in progress, then return every outcome."""
        self._stopping.set()
        await asyncio.gather(*self._tasks)
        await self._client.aclose()
        return self.outcomes

    async def _caller(self) -> None:
        while not self._stopping.is_set():
            self._sent += 1
            body = self.make_body(self._sent)
            started = time.monotonic()
            try:
                response = await self._client.post(self.url, json=body)
            except httpx.HTTPError as exc:
                self.outcomes.append(Outcome(started, 0, repr(exc), body))
                continue
            try:
                answer: Any = response.json()
            except ValueError:
                answer = response.text
            self.outcomes.append(Outcome(started, response.status_code, answer, body))
