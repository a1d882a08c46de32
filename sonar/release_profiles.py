"""Reference profiles built at release: as soon as the catalog lists a version with training data, its
reference is computed and stored, so the version's first drift job reads a profile instead of paying for it.

Profiling is best effort here: a version whose package cannot be read now is retried by its first drift
job (`sonar.reference.ensure_reference` is the one place a reference is built, whoever asks first).
"""

from __future__ import annotations

import asyncio
import functools
import logging

from servicekit.object_store import ObjectStore
from sonar.control_plane_client import open_control_plane
from sonar.reference import ensure_reference
from sonar.settings import Settings

log = logging.getLogger(__name__)


class ReleaseProfiler:
    """Queue of released versions to profile, fed by the catalog watch, drained by `run`."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        self.profiled: set[tuple[str, int]] = set()

    def released(self, model: str, version: int, training_data: str) -> None:
        """Catalog callback: a version was listed for the first time."""
        if training_data:
            self._queue.put_nowait((model, version))

    async def run(self, settings: Settings, store: ObjectStore) -> None:
        """Profile queued versions one at a time until cancelled."""
        async with open_control_plane(settings) as control_plane:
            while True:
                model, version = await self._queue.get()
                try:
                    fetch = functools.partial(control_plane.package, model, version)
                    await ensure_reference(store, model, version, fetch)
                except Exception as exc:  # one bad package must not stop the others
                    log.warning(
                        "reference of %s:%d not built at release (its first drift job will try): %s",
                        model,
                        version,
                        exc,
                    )
                    continue
                self.profiled.add((model, version))
                log.info("reference profile of %s:%d stored", model, version)
