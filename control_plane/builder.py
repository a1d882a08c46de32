"""The build service: turns an uploaded version into a released one, in the background.

pending -> building -> released | failed. What a build does is the backend's (`builds/`), chosen once
at wiring: with `HYDRO_RUNTIME=docker` the stored package is built into `{registry}/{model}:{version}`,
which is pushed, and the version is released only with the digest the registry reported; with
`HYDRO_RUNTIME=process` there is no image: the version is released as soon as its package is stored.
The whole output is kept as the version's log; while a build runs, its log so far is served from memory.

Versions a crash left pending or building are marked failed at the next start (they are not rebuilt:
the user uploads again), and so are the builds a shutdown interrupts. This assumes one control plane
process per database, which is how Hydro runs it (builds hold no lease another process could take over).
"""

from __future__ import annotations

import asyncio
import logging
import time

from control_plane import versions
from control_plane.builds.base import BuildBackend, BuildLog
from control_plane.catalog import Catalog
from control_plane.errors import HydroError
from control_plane.metrics import Metrics
from control_plane.tables import VersionStatus
from control_plane.versions import VersionRef
from servicekit.object_store import ObjectStoreError

logger = logging.getLogger(__name__)

INTERRUPTED = "build interrupted: the control plane stopped before it finished; upload the package again"


class Builder:
    """Runs builds as background tasks, at most `build_concurrency` at a time."""

    def __init__(
        self, backend: BuildBackend, catalog: Catalog, metrics: Metrics, *, build_concurrency: int
    ) -> None:
        self._backend = backend
        self._catalog = catalog
        self._metrics = metrics
        self._slots = asyncio.Semaphore(build_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._live: dict[int, BuildLog] = {}

    def submit(self, ref: VersionRef) -> None:
        """Start building `ref` in the background."""
        self._live[ref.id] = BuildLog()
        task = asyncio.create_task(self._run(ref), name=f"build {ref.key}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def live_log(self, version_id: int) -> str | None:
        """The log so far of a build still running here, or None."""
        log = self._live.get(version_id)
        return None if log is None else log.text()

    async def wait_idle(self) -> None:
        """Wait until every submitted build has finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Interrupt the builds of this process and mark them failed."""
        mine = list(self._live)
        for log in self._live.values():
            log.cancelled.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        interrupted = await versions.fail_interrupted(self._catalog, INTERRUPTED, mine)
        if interrupted:
            logger.warning("builds interrupted by shutdown: %s", ", ".join(interrupted))

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("build task %s crashed", task.get_name(), exc_info=task.exception())

    async def _run(self, ref: VersionRef) -> None:
        log = self._live[ref.id]
        runtime = self._backend.runtime
        started = time.monotonic()
        outcome = "failed"
        try:
            async with self._slots:
                await versions.set_state(self._catalog, ref, VersionStatus.BUILDING)
                log.write(f"building {ref.key} for the {runtime} runtime")
                built = await self._backend.build(ref, log)
                image = None if built is None else built.reference
                digest = None if built is None else built.digest
                log.write(f"released {ref.key}")
                logger.info("released %s (image %s)", ref.key, image or "none: process runtime")
                await versions.set_state(
                    self._catalog, ref, VersionStatus.RELEASED, image=image, digest=digest, log=log.text()
                )
                outcome = "released"
        except asyncio.CancelledError:
            log.write(INTERRUPTED)
            raise
        except (HydroError, ObjectStoreError) as exc:
            await self._fail(ref, log, str(exc))
        except Exception as exc:
            logger.exception("build of %s failed unexpectedly", ref.key)
            log.write(f"{type(exc).__name__}: {exc}")
            await self._fail(ref, log, "the build failed unexpectedly; see the log")
        finally:
            self._live.pop(ref.id, None)
            self._metrics.builds.labels(runtime, outcome).inc()
            self._metrics.build_seconds.labels(runtime, outcome).observe(time.monotonic() - started)
        await self._backend.settle()

    async def _fail(self, ref: VersionRef, log: BuildLog, error: str) -> None:
        logger.warning("build of %s failed: %s", ref.key, error)
        log.write(f"build failed: {error}")
        await versions.set_state(self._catalog, ref, VersionStatus.FAILED, error=error, log=log.text())
