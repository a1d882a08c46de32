"""What the builder needs from a way of building versions, and the build log every backend writes.

The builder (`control_plane.builder`) owns the lifecycle: pending -> building -> released | failed, the
log, the metrics and crash recovery. A backend only does the runtime's part for one version: the docker
backend builds and pushes an image and hands back its reference and registry digest; the process backend
builds nothing (the process runtime serves the stored package) and hands back None. The backend is chosen
once, when the control plane is wired (`state.open_state`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from control_plane.versions import VersionRef


class BuildLog:
    """The build's output, appended from the build thread and read by API calls while it runs."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._lock = threading.Lock()
        self.cancelled = threading.Event()

    def write(self, text: str) -> None:
        if text and not text.endswith("\n"):
            text += "\n"
        with self._lock:
            self._parts.append(text)

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)


@dataclass(frozen=True)
class Image:
    """A pushed image: its reference (`registry/model:version`) and the digest the registry reported."""

    reference: str
    digest: str


class BuildBackend(Protocol):
    """A way of making versions servable for one runtime (`process`, `docker`)."""

    runtime: str
    """The runtime it builds for, as `HYDRO_RUNTIME` names it (a label of the build metrics)."""

    async def build(self, ref: VersionRef, log: BuildLog) -> Image | None:
        """Do the runtime's part for `ref`, writing its output to `log`; the image, or None when the runtime
        needs none. Raises a HydroError (BuildError, PackageError) or ObjectStoreError naming the problem;
        stops early with BuildError once `log.cancelled` is set."""
        ...

    async def settle(self) -> None:
        """Tidy up after a build has finished (docker: prune leftover stage images once none runs)."""
        ...
