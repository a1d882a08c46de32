"""The build service: turns an uploaded version into a released one, in the background.

pending -> building -> released | failed. With `HYDRO_RUNTIME=docker` the stored package is fetched,
unpacked into a build context and built into `{registry}/{model}:{version}`, which is pushed; the version
is released only with the digest the registry reported. With `HYDRO_RUNTIME=process` there is no image:
the version is released as soon as its package is stored. The whole output is kept as the version's
log; while a build runs, its log so far is served from memory.

Versions a crash left pending or building are marked failed at the next start (they are not rebuilt:
the user uploads again), and so are the builds a shutdown interrupts. This assumes one control plane
process per database, which is how Hydro runs it (builds hold no lease another process could take over).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from pathlib import Path

from control_plane import docker_build, package, versions
from control_plane.catalog import Catalog
from control_plane.docker_build import BuildLog, ImageSpec
from control_plane.errors import BuildError, HydroError
from control_plane.metrics import Metrics
from control_plane.settings import Settings
from control_plane.tables import VersionStatus
from control_plane.versions import VersionRef
from servicekit.object_keys import package_key
from servicekit.object_store import ObjectStore, ObjectStoreError

logger = logging.getLogger(__name__)

INTERRUPTED = "build interrupted: the control plane stopped before it finished; upload the package again"


class Builder:
    """Runs builds as background tasks, at most `build_concurrency` at a time."""

    def __init__(self, settings: Settings, catalog: Catalog, store: ObjectStore, metrics: Metrics) -> None:
        self._settings = settings
        self._catalog = catalog
        self._store = store
        self._metrics = metrics
        self._slots = asyncio.Semaphore(settings.build_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._live: dict[int, BuildLog] = {}
        self._docker_builds = 0

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
        runtime = self._settings.runtime
        started = time.monotonic()
        outcome = "failed"
        try:
            async with self._slots:
                await versions.set_state(self._catalog, ref, VersionStatus.BUILDING)
                log.write(f"building {ref.key} for the {runtime} runtime")
                image: str | None = None
                digest: str | None = None
                if runtime == "docker":
                    image, digest = await self._docker(ref, log)
                else:
                    log.write(
                        "HYDRO_RUNTIME=process: no image is built; the process runtime serves the package"
                    )
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
        if runtime == "docker" and self._docker_builds == 0:  # a running build may still need its stage image
            logger.info("%s", await asyncio.to_thread(docker_build.prune_build_stages))

    async def _fail(self, ref: VersionRef, log: BuildLog, error: str) -> None:
        logger.warning("build of %s failed: %s", ref.key, error)
        log.write(f"build failed: {error}")
        await versions.set_state(self._catalog, ref, VersionStatus.FAILED, error=error, log=log.text())

    async def _docker(self, ref: VersionRef, log: BuildLog) -> tuple[str, str]:
        settings = self._settings
        spec = ImageSpec(
            model=ref.model,
            version=ref.version,
            base_image=settings.runtime_base_image,
            registry=settings.registry,
            wheelhouse=settings.wheelhouse,
        )
        workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="hydro-build-"))
        self._docker_builds += 1
        try:
            archive = workdir / "package.tar.gz"
            await self._store.get_file(package_key(ref.model, ref.version), archive)
            limits = package.Limits(settings.max_unpacked_bytes, settings.max_package_members)
            digest = await asyncio.to_thread(_build, archive, workdir, spec, limits, log)
            return spec.image, digest
        finally:
            self._docker_builds -= 1
            await asyncio.to_thread(shutil.rmtree, workdir, True)


def _build(archive: Path, workdir: Path, spec: ImageSpec, limits: package.Limits, log: BuildLog) -> str:
    model_dir = workdir / "model"
    model_dir.mkdir()
    package.unpack(archive, model_dir, limits)
    manifest = package.read_json_manifest(model_dir)
    requirements = manifest.get("requirements")
    if requirements is not None and not isinstance(requirements, str):
        raise BuildError(f"hydro.json: requirements must be a path, got {requirements!r}")
    context = workdir / "context"
    context.mkdir()
    docker_build.prepare_context(context, model_dir, spec, requirements)
    log.write("Dockerfile:\n" + (context / "Dockerfile").read_text(encoding="utf-8"))
    return docker_build.build_and_push(context, spec, log)
