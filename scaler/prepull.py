"""Pre-pulling: a version's image is fetched onto the host as soon as the catalog lists it.

The first request to a version then pays no pull. `want(spec)` is called for every version of every
snapshot (synchronously, from the catalog callback); each image is prepared once per scaler, in the
background, with at most `concurrency` pulls at a time. A failure is logged and counted, never fatal:
the image is tried again when a later snapshot names it, and a cold start still pulls what is missing.
"""

from __future__ import annotations

import asyncio
import logging

from scaler.errors import ScalerError
from scaler.metrics import Metrics
from scaler.runtimes.base import ReplicaSpec, Runtime

log = logging.getLogger(__name__)


class Prepuller:
    """Prepares every image the catalog names, a few at a time, in background tasks."""

    def __init__(self, runtime: Runtime, metrics: Metrics, *, concurrency: int = 2) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._done: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def want(self, spec: ReplicaSpec) -> None:
        """Prepare `spec`'s image in the background unless it is done or under way."""
        if not spec.image or spec.image in self._done or spec.image in self._tasks:
            return
        task = asyncio.create_task(self._prepare(spec), name=f"prepull-{spec.image}")
        self._tasks[spec.image] = task
        task.add_done_callback(lambda _: self._tasks.pop(spec.image, None))

    async def wait_idle(self) -> None:
        """Return once no pull is under way (for tests and orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def close(self) -> None:
        """Stop waiting for pulls (a pull already inside the engine finishes there on its own)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _prepare(self, spec: ReplicaSpec) -> None:
        async with self._slots:
            try:
                await self.runtime.prepare(spec)
            except ScalerError as exc:
                # The runtime counted it; a cold start of this version will try (and report) again.
                log.warning("pre-pulling %s for %s failed: %s", spec.image, spec.version_key, exc)
                return
            except Exception:
                self.metrics.pull_failures.labels(self.metrics.backend, "prepull").inc()
                log.exception("pre-pulling %s for %s failed", spec.image, spec.version_key)
                return
        self._done.add(spec.image)
