"""Version images on the engine: pulled only when the host lacks them, one pull per image at a time.

The image (`{registry}/{model}:{version}`, from the catalog) is pulled ahead of time when the catalog
lists the version (pre-pull) or, failing that, at its first cold start; the pull's time and failures
are counted by reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import docker
import docker.errors
from docker.utils import parse_repository_tag

from scaler.errors import ImageError
from scaler.metrics import Metrics
from servicekit.docker_errors import explain

log = logging.getLogger(__name__)


class ImageMissing(Exception):
    """The host lacks the image (internal: a start pulls it and tries again)."""


class Images:
    """Pulls images for the docker backend named `backend` (its label in the metrics)."""

    def __init__(
        self, client: Callable[[], docker.DockerClient], *, metrics: Metrics | None, backend: str
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._backend = backend
        self._locks: dict[str, asyncio.Lock] = {}

    async def pull_once(self, image: str, *, reason: str) -> None:
        """Pull `image` unless the host has it (another start or a pre-pull may have pulled it meanwhile).

        `reason` (`prepull` or `start`) labels the pull's metrics.
        """
        lock = self._locks.setdefault(image, asyncio.Lock())
        async with lock:
            if await asyncio.to_thread(self._has_image, image):
                return
            started = time.monotonic()
            try:
                await asyncio.to_thread(self._pull, image)
            except ImageError:
                if self._metrics is not None:
                    self._metrics.pull_failures.labels(self._backend, reason).inc()
                raise
            elapsed = time.monotonic() - started
            if self._metrics is not None:
                self._metrics.observe_pull(elapsed, reason)
            log.info("pulled %s in %.2f s (%s)", image, elapsed, reason)

    # --- in worker threads -------------------------------------------------------------------------

    def _has_image(self, image: str) -> bool:
        try:
            self._client().images.get(image)
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.DockerException as exc:
            raise ImageError(f"cannot look up image {image!r}: {exc}") from exc
        return True

    def _pull(self, image: str) -> None:
        repository, tag = parse_repository_tag(image)
        try:
            self._client().images.pull(repository, tag=tag or "latest")
        except docker.errors.DockerException as exc:
            raise ImageError(f"cannot pull image {image!r}: {explain(exc)}") from exc
