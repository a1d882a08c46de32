"""The docker runtime's build: the version's image built with the docker SDK and pushed to the registry.

The stored package is fetched and unpacked (with the package limits) into a temporary folder, the build
context is prepared there (`builds.dockerfile`), and the image `{registry}/{model}:{version}` is built and
pushed; the version is released only with the digest the registry reported. The docker SDK blocks, so
the unpacking, the build, the push and the pruning run in threads. A build stopped by its timeout or a
shutdown sets `log.cancelled`, which stops the build thread at the engine's next output, and removes the
container of the running build step, so nothing keeps running in the engine.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from control_plane import package
from control_plane.builds.base import BuildLog, Image
from control_plane.builds.dockerfile import BUILD_STAGE_LABEL, ImageSpec, prepare_context
from control_plane.errors import BuildError
from control_plane.versions import VersionRef
from servicekit.docker_errors import explain
from servicekit.object_keys import package_key
from servicekit.object_store import ObjectStore

logger = logging.getLogger(__name__)

_DOCKER_TIMEOUT_S = 600
_PRUNE_ATTEMPTS = 5
_PRUNE_TIMEOUT_S = 60
_STOP_TIMEOUT_S = 30
_STOP_WAIT_S = 30


class DockerBuild:
    """Builds and pushes an image per version (`HYDRO_RUNTIME=docker`)."""

    runtime = "docker"

    def __init__(
        self,
        store: ObjectStore,
        *,
        base_image: str,
        registry: str,
        wheelhouse: Path | None,
        limits: package.Limits,
    ) -> None:
        self._store = store
        self._base_image = base_image
        self._registry = registry
        self._wheelhouse = wheelhouse
        self._limits = limits
        self._running = 0

    async def build(self, ref: VersionRef, log: BuildLog) -> Image | None:
        spec = ImageSpec(
            model=ref.model,
            version=ref.version,
            base_image=self._base_image,
            registry=self._registry,
            wheelhouse=self._wheelhouse,
        )
        workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="hydro-build-"))
        self._running += 1
        try:
            archive = workdir / "package.tar.gz"
            await self._store.get_file(package_key(ref.model, ref.version), archive)
            engine_started = threading.Event()
            work = asyncio.ensure_future(
                asyncio.to_thread(
                    _unpack_and_build, archive, workdir, spec, self._limits, log, engine_started
                )
            )
            work.add_done_callback(_retrieve)
            try:
                digest = await asyncio.shield(work)
            except asyncio.CancelledError:
                await self._stop(spec, log, work, engine_started)
                raise
            return Image(spec.image, digest)
        finally:
            self._running -= 1
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def _stop(
        self, spec: ImageSpec, log: BuildLog, work: asyncio.Future[str], engine_started: threading.Event
    ) -> None:
        """Stop a build that runs past its time or is interrupted: the build thread stops at the engine's
        next output, and the container running a build step (the requirements stage, the one that runs the
        model's own code) is removed, which fails the step at once; the engine then removes the build's
        other intermediate containers (`forcerm`), and `settle` prunes the stage images left."""
        log.cancelled.set()
        if not engine_started.is_set():
            return  # the engine was never asked to build: nothing runs there
        log.write(await asyncio.to_thread(remove_build_containers, spec))
        await asyncio.wait({work}, timeout=_STOP_WAIT_S)
        await asyncio.to_thread(remove_image, spec.image)  # built but stopped before it was pushed

    async def settle(self) -> None:
        if self._running == 0:  # a running build may still need its stage image
            logger.info("%s", await asyncio.to_thread(prune_build_stages))


def _retrieve(work: asyncio.Future[str]) -> None:
    """Consume the outcome of a build thread nobody awaits any more (a stopped build)."""
    if not work.cancelled():
        work.exception()


def _unpack_and_build(
    archive: Path,
    workdir: Path,
    spec: ImageSpec,
    limits: package.Limits,
    log: BuildLog,
    engine_started: threading.Event,
) -> str:
    model_dir = workdir / "model"
    model_dir.mkdir()
    package.unpack(archive, model_dir, limits)
    manifest = package.read_json_manifest(model_dir)
    requirements = manifest.get("requirements")
    if requirements is not None and not isinstance(requirements, str):
        raise BuildError(f"hydro.json: requirements must be a path, got {requirements!r}")
    context = workdir / "context"
    context.mkdir()
    prepare_context(context, model_dir, spec, requirements)
    log.write("Dockerfile:\n" + (context / "Dockerfile").read_text(encoding="utf-8"))
    return build_and_push(context, spec, log, engine_started)


def build_and_push(
    context: Path, spec: ImageSpec, log: BuildLog, engine_started: threading.Event | None = None
) -> str:
    """Build the image from `context`, push it, and return its registry digest (`sha256:...`).

    `engine_started` is set once the engine is asked to build (from then on something may need stopping)."""
    try:
        client = _StreamingClient(timeout=_DOCKER_TIMEOUT_S, **docker.utils.kwargs_from_env())
    except docker.errors.DockerException as exc:
        raise BuildError(f"cannot reach the Docker engine: {exc}") from exc
    try:
        if log.cancelled.is_set():
            raise BuildError("build stopped before the engine started it")
        if engine_started is not None:
            engine_started.set()
        log.write(f"$ docker build -t {spec.image} (FROM {spec.base_image})")
        _build_image(client, context, spec, log)
        log.write(f"$ docker push {spec.image}")
        digest = _push(client, spec, log)
        log.write(f"pushed {spec.image}@{digest}")
        return digest
    except docker.errors.ImageNotFound as exc:
        raise BuildError(f"image not found: {explain(exc)}") from exc
    except docker.errors.DockerException as exc:
        raise BuildError(f"Docker failed: {explain(exc)}") from exc
    except requests.exceptions.RequestException as exc:
        raise BuildError(f"lost the connection to the Docker engine: {exc}") from exc
    finally:
        client.close_streams()
        client.close()


class _StreamingClient(docker.APIClient):  # type: ignore[misc]
    """An APIClient that closes the responses it streamed: a build stopped mid-stream otherwise leaves its
    connection to the engine open until garbage collection."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._streamed: list[Any] = []

    def _stream_helper(self, response: Any, decode: bool = False) -> Any:
        self._streamed.append(response)
        return super()._stream_helper(response, decode)

    def close_streams(self) -> None:
        for response in self._streamed:
            response.close()
        self._streamed.clear()


def _build_image(client: Any, context: Path, spec: ImageSpec, log: BuildLog) -> None:
    stream = client.build(
        path=str(context),
        tag=spec.image,
        rm=True,
        forcerm=True,
        pull=False,
        decode=True,
        labels=spec.labels,
    )
    for chunk in _until_cancelled(stream, log):
        if "stream" in chunk:
            log.write(str(chunk["stream"]).rstrip("\n"))
        elif "status" in chunk and "progress" not in chunk:
            log.write(str(chunk["status"]))
        if "error" in chunk:
            message = str(chunk.get("errorDetail", {}).get("message") or chunk["error"]).strip()
            log.write(message)
            raise BuildError(f"docker build failed: {message}")


def _push(client: Any, spec: ImageSpec, log: BuildLog) -> str:
    digest = ""
    stream = client.push(spec.repository, tag=str(spec.version), stream=True, decode=True)
    for chunk in _until_cancelled(stream, log):
        if "error" in chunk:
            message = str(chunk.get("errorDetail", {}).get("message") or chunk["error"]).strip()
            log.write(message)
            raise BuildError(f"docker push to {spec.registry} failed: {message}")
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            digest = str(aux["Digest"])
        if "status" in chunk and "progress" not in chunk:
            layer = f"{chunk['id']}: " if chunk.get("id") else ""
            log.write(f"{layer}{chunk['status']}")
    if not digest:
        prefix = f"{spec.repository}@"
        for reference in client.inspect_image(spec.image).get("RepoDigests") or []:
            if reference.startswith(prefix):
                digest = reference[len(prefix) :]
    if not digest.startswith("sha256:"):
        raise BuildError(f"the registry {spec.registry} did not report a digest for {spec.image}")
    return digest


def _until_cancelled(stream: Iterable[dict[str, Any]], log: BuildLog) -> Iterator[dict[str, Any]]:
    for chunk in stream:
        if log.cancelled.is_set():
            raise BuildError("build stopped (timeout or shutdown)")
        yield chunk


def remove_build_containers(spec: ImageSpec) -> str:
    """Remove (killing them if they run) the containers of the version's build steps; say what was done.

    The requirements stage carries the version's labels (its LABEL comes before its RUN), so the container
    of its RUN step has them too; the final stage runs no code of the model. A replica of the version
    cannot exist while it builds (only released versions are served)."""
    labels = [f"hydro.version={spec.model}:{spec.version}", f"{BUILD_STAGE_LABEL}=deps"]
    try:
        client = docker.APIClient(timeout=_STOP_TIMEOUT_S, **docker.utils.kwargs_from_env())
    except docker.errors.DockerException as exc:
        return f"cannot reach the Docker engine to stop the build: {exc}"
    try:
        removed = 0
        for container in client.containers(all=True, filters={"label": labels}):
            client.remove_container(container["Id"], force=True)
            removed += 1
        return f"stopped the build: removed {removed} build container(s)"
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        return f"stopping the build's containers failed: {exc}"
    finally:
        client.close()


def remove_image(image: str) -> None:
    """Remove the local tag `image` if a stopped build left it (never pushed, never released)."""
    try:
        client = docker.APIClient(timeout=_STOP_TIMEOUT_S, **docker.utils.kwargs_from_env())
    except docker.errors.DockerException:
        return
    try:
        client.remove_image(image, force=True)
    except docker.errors.ImageNotFound:
        pass
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        logger.warning("cannot remove the image %s of a stopped build: %s", image, exc)
    finally:
        client.close()


def prune_build_stages() -> str:
    """Remove leftover images of finished requirement stages (they hold the wheels); say what was freed."""
    try:
        client = docker.APIClient(timeout=_PRUNE_TIMEOUT_S, **docker.utils.kwargs_from_env())
    except docker.errors.DockerException as exc:
        return f"cannot reach the Docker engine to prune build stages: {exc}"
    try:
        for attempt in range(_PRUNE_ATTEMPTS):
            try:
                result = client.prune_images(filters={"dangling": True, "label": f"{BUILD_STAGE_LABEL}=deps"})
                break
            except docker.errors.APIError as exc:
                # The engine runs one prune at a time (409: "a prune operation is already running").
                if exc.status_code != 409 or attempt == _PRUNE_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        return f"pruning build stages failed: {exc}"
    finally:
        client.close()
    deleted = len(result.get("ImagesDeleted") or [])
    return f"pruned {deleted} build-stage image layer(s), {result.get('SpaceReclaimed', 0)} bytes"
