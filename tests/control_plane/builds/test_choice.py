"""The control plane picks its build backend once, from HYDRO_RUNTIME, when it is wired."""

from __future__ import annotations

from pathlib import Path

from control_plane import package
from control_plane.builds.docker import DockerBuild
from control_plane.builds.process import ProcessBuild
from control_plane.state import make_build_backend
from servicekit.object_store import open_object_store
from tests.control_plane.conftest import make_settings

LIMITS = package.Limits(1024, 10)


async def test_the_docker_runtime_builds_images_and_the_process_runtime_builds_nothing(
    tmp_path: Path,
) -> None:
    store = open_object_store(f"file://{tmp_path}/objects")
    try:
        for runtime, kind in (("docker", DockerBuild), ("process", ProcessBuild)):
            settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/hydro.db", runtime=runtime)
            backend = make_build_backend(settings, store, LIMITS)
            assert isinstance(backend, kind)
            assert backend.runtime == runtime
    finally:
        await store.close()
