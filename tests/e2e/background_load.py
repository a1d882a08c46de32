"""A steady load of concurrent clients against the router in a thread of its own, timing every request.

Each client sends one plain-form request after another (a closed loop, no think time) until the load
is stopped; a stopped load lets every request under way finish, so no outcome is ever unknown. Unlike
`load.SteadyLoad` (which runs in the caller's event loop), this one runs in its own thread and event
loop, so plain synchronous tests and benchmarks can poll Docker meanwhile, and it keeps each request's
duration for latency figures.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

Check = Callable[[httpx.Response], str | None]
"""Looks at a 200 answer; returns what is wrong with it, or None when it is the right answer."""


@dataclass(frozen=True)
class Outcome:
    """One request: when it was sent (monotonic), how long it took, and what went wrong ("" = nothing)."""

    sent_at: float
    seconds: float
    status: int
    """The HTTP status, or 0 when no answer came at all."""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def answered_at(self) -> float:
        return self.sent_at + self.seconds


@dataclass
class Load:
    """`clients` concurrent clients posting `body` to `url` from `start()` until `stop()`."""

    url: str
    body: dict[str, Any]
    clients: int
    check: Check | None = None
    timeout_s: float = 60.0
    outcomes: list[Outcome] = field(default_factory=list)
    started_at: float = 0.0
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[Outcome]:
        """Stop sending; wait for the requests under way; return every outcome, in order of sending."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 10)
            if self._thread.is_alive():
                raise AssertionError(f"the load's requests did not finish within {self.timeout_s + 10:.0f} s")
        return sorted(self.outcomes, key=lambda o: o.sent_at)

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def first_answer_at(self) -> float | None:
        """When the first successful answer arrived (monotonic), if any."""
        answered = [o.answered_at for o in self.outcomes if o.ok]
        return min(answered) if answered else None

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(timeout=self.timeout_s, limits=limits) as client:
            await asyncio.gather(*(self._client(client) for _ in range(self.clients)))

    async def _client(self, client: httpx.AsyncClient) -> None:
        while not self._stopping.is_set():
            sent = time.monotonic()
            try:
                response = await client.post(self.url, json=self.body)
            except httpx.HTTPError as exc:
                self._record(sent, 0, f"{type(exc).__name__}: {exc}")
                continue
            if response.status_code != 200:
                self._record(sent, response.status_code, response.text[:300])
            else:
                wrong = self.check(response) if self.check is not None else None
                self._record(sent, 200, f"wrong answer: {wrong}" if wrong else "")

    def _record(self, sent: float, status: int, error: str) -> None:
        # list.append is atomic; readers in other threads see a consistent (if growing) list.
        self.outcomes.append(Outcome(sent, time.monotonic() - sent, status, error))


def describe_failures(outcomes: list[Outcome], limit: int = 5) -> str:
    """A short summary of the failed outcomes, for assertion messages."""
    failed = [o for o in outcomes if not o.ok]
    lines = [f"{len(failed)} of {len(outcomes)} requests failed"]
    lines += [f"  status {o.status} after {o.seconds:.2f} s: {o.error}" for o in failed[:limit]]
    return "\n".join(lines)
