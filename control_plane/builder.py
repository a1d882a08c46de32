"""The build service: turns an uploaded version into a released one, in the background.

pending -> building -> released | failed. What a build does is the backend's (`builds/`), chosen once
at wiring: with `HYDRO_RUNTIME=docker` the stored package is built into `{registry}/{model}:{version}`,
which is pushed, and the version is released only with the digest the registry reported; with
`HYDRO_RUNTIME=process` there is no image: the version is released as soon as its package is stored.

The queue is the catalog (`build_claims`): an upload leaves its version `pending` and wakes the builder,
which claims versions, oldest first, while fewer than `build_concurrency` of its builds run; the others
wait (their log says how many are ahead). A build runs at most `build_timeout_s`: past it the backend
stops what it started and the version is failed with the reason. While a build runs its log is served
from memory and, with each lease renewal, stored. A shutdown hands the builds it interrupts back to the
queue; a crash leaves them `building` until their lease expires; either way a control plane (this one
after its restart, or another on the same database) starts them again, at most `build_max_attempts`
times in all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from control_plane import build_claims, versions
from control_plane.build_claims import Claim
from control_plane.builds.base import BuildBackend, BuildLog
from control_plane.catalog import Catalog
from control_plane.errors import HydroError
from control_plane.metrics import Metrics
from control_plane.tables import VersionStatus
from control_plane.versions import VersionRef
from servicekit.object_store import ObjectStoreError

logger = logging.getLogger(__name__)

INTERRUPTED = "build interrupted: the control plane stopped before it finished; it will be started again"
_MAX_POLL_S = 5.0


class Builder:
    """Claims queued versions from the catalog and builds them, at most `concurrency` at a time."""

    def __init__(
        self,
        backend: BuildBackend,
        catalog: Catalog,
        metrics: Metrics,
        *,
        concurrency: int,
        timeout_s: float,
        max_attempts: int,
        lease_s: float,
    ) -> None:
        self._backend = backend
        self._catalog = catalog
        self._metrics = metrics
        self._concurrency = concurrency
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._lease_s = lease_s
        self._poll_s = min(lease_s / 3, _MAX_POLL_S)
        self._wake = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._live: dict[int, BuildLog] = {}
        self._interrupted: dict[int, str] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._claiming = False

    def start(self) -> None:
        """Start claiming: versions already queued (or left by a control plane that died) come first."""
        self._loops = [
            asyncio.create_task(self._dispatch(), name="build dispatch"),
            asyncio.create_task(self._renew(), name="build lease renewal"),
        ]

    def submit(self, ref: VersionRef) -> None:
        """`ref` was queued (it is `pending` in the catalog): look for work now, not at the next poll."""
        self._wake.set()

    def live_log(self, version_id: int) -> str | None:
        """The log so far of a build running here, or None."""
        log = self._live.get(version_id)
        return None if log is None else log.text()

    async def wait_idle(self) -> None:
        """Wait until nothing is queued and no build runs here."""
        while True:
            await asyncio.sleep(0.05)
            if not self._running and not self._claiming and not self._wake.is_set():
                return

    async def close(self) -> None:
        """Stop claiming, interrupt this process's builds and hand them back to the queue."""
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await build_claims.hand_back(self._catalog, self._interrupted)
        if self._interrupted:
            logger.warning("builds handed back to the queue by the shutdown: %d", len(self._interrupted))

    async def _dispatch(self) -> None:
        while True:
            self._wake.clear()
            self._claiming = True
            while len(self._running) < self._concurrency:
                try:
                    claim = await build_claims.claim_next(
                        self._catalog, lease_s=self._lease_s, max_attempts=self._max_attempts
                    )
                except Exception:
                    logger.exception("cannot claim a build from the catalog; trying again shortly")
                    claim = None
                if claim is None:
                    break
                self._start(claim)
            self._claiming = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_s)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            logs = {vid: log.text() for vid, log in self._live.items() if vid in self._running}
            if logs:
                try:
                    await build_claims.renew(self._catalog, logs, lease_s=self._lease_s)
                except Exception:
                    logger.exception("cannot renew the build leases")

    def _start(self, claim: Claim) -> None:
        log = BuildLog()
        if claim.earlier_log:
            log.write(claim.earlier_log)
        self._live[claim.ref.id] = log
        task = asyncio.create_task(self._run(claim, log), name=f"build {claim.ref.key}")
        self._running[claim.ref.id] = task
        task.add_done_callback(lambda done: self._done(claim.ref.id, done))

    def _done(self, version_id: int, task: asyncio.Task[None]) -> None:
        self._running.pop(version_id, None)
        self._live.pop(version_id, None)
        self._wake.set()  # a slot is free
        if not task.cancelled() and task.exception() is not None:
            logger.error("build task %s crashed", task.get_name(), exc_info=task.exception())

    async def _run(self, claim: Claim, log: BuildLog) -> None:
        ref = claim.ref
        runtime = self._backend.runtime
        started = time.monotonic()
        outcome = "failed"
        try:
            log.write(
                f"building {ref.key} for the {runtime} runtime "
                f"(attempt {claim.attempt} of {self._max_attempts}, time limit {self._timeout_s:g} s)"
            )
            timer = asyncio.timeout(self._timeout_s)
            try:
                async with timer:
                    built = await self._backend.build(ref, log)
            except TimeoutError:
                if not timer.expired():
                    raise
                await self._fail(
                    ref,
                    log,
                    f"the build ran past HYDRO_BUILD_TIMEOUT_S={self._timeout_s:g} s and was stopped",
                )
                outcome = "timeout"
                return
            image = None if built is None else built.reference
            digest = None if built is None else built.digest
            log.write(f"released {ref.key}")
            logger.info("released %s (image %s)", ref.key, image or "none: process runtime")
            await versions.set_state(
                self._catalog,
                ref,
                VersionStatus.RELEASED,
                image=image,
                digest=digest,
                log=log.text(),
                build_lease_until=None,
            )
            outcome = "released"
        except asyncio.CancelledError:
            log.write(INTERRUPTED)
            self._interrupted[ref.id] = log.text()
            outcome = "interrupted"
            raise
        except (HydroError, ObjectStoreError) as exc:
            await self._fail(ref, log, str(exc))
        except Exception as exc:
            logger.exception("build of %s failed unexpectedly", ref.key)
            log.write(f"{type(exc).__name__}: {exc}")
            await self._fail(ref, log, "the build failed unexpectedly; see the log")
        finally:
            self._metrics.builds.labels(runtime, outcome).inc()
            self._metrics.build_seconds.labels(runtime, outcome).observe(time.monotonic() - started)
            if outcome != "interrupted":
                await self._backend.settle()

    async def _fail(self, ref: VersionRef, log: BuildLog, error: str) -> None:
        logger.warning("build of %s failed: %s", ref.key, error)
        log.write(f"build failed: {error}")
        await versions.set_state(
            self._catalog, ref, VersionStatus.FAILED, error=error, log=log.text(), build_lease_until=None
        )
