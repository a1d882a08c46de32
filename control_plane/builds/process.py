"""The process runtime's build: nothing to build, the runtime serves the stored package itself."""

from __future__ import annotations

from control_plane.builds.base import BuildLog, Image
from control_plane.versions import VersionRef


class ProcessBuild:
    """Releases a version as soon as its package is stored (`HYDRO_RUNTIME=process`)."""

    runtime = "process"

    async def build(self, ref: VersionRef, log: BuildLog) -> Image | None:
        log.write("HYDRO_RUNTIME=process: no image is built; the process runtime serves the package")
        return None

    async def settle(self) -> None:
        return None
