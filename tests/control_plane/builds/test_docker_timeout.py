"""A docker build that runs past HYDRO_BUILD_TIMEOUT_S is stopped in the engine and its version failed.

The model's requirement is a local package whose build backend (in the package, `backend-path`) sleeps for
ten minutes when pip loads it: the model's own code running inside the build's requirements stage, as a
slow `setup.py` would. Needs the Docker engine and the base image (`make test` sets them up).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.control_plane.conftest import make_settings, running, unique
from tests.control_plane.packages import model_files, tar_gz
from tests.real_parts import BASE_IMAGE, REGISTRY, require_docker_parts

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]

TIMEOUT_S = 40
PYPROJECT = b"""\
[build-system]
requires = []
build-backend = "slow_backend"
backend-path = ["."]
"""
SLOW_BACKEND = b"""\
import time

print("slow_backend: sleeping", flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def docker_client() -> Iterator[docker.DockerClient]:
    client = require_docker_parts()
    yield client
    client.close()


async def test_a_docker_build_past_the_time_limit_is_stopped_and_leaves_no_container(
    tmp_path: Path, postgres_url: str, docker_client: docker.DockerClient
) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    settings = make_settings(
        tmp_path,
        postgres_url,
        runtime="docker",
        registry=REGISTRY,
        runtime_base_image=BASE_IMAGE,
        wheelhouse=wheelhouse,
        build_timeout_s=TIMEOUT_S,
    )
    model = unique("sleeps")
    files = model_files(model, requirements="requirements.txt")
    files["requirements.txt"] = b"./slowpkg\n"
    files["slowpkg/pyproject.toml"] = PYPROJECT
    files["slowpkg/slow_backend.py"] = SLOW_BACKEND

    async with running(settings) as control_plane:
        started = time.monotonic()
        assert (await control_plane.upload(model, tar_gz(files))).status_code == 202
        version = await control_plane.wait_built(model, 1, timeout=TIMEOUT_S + 90)
        elapsed = time.monotonic() - started
        log = (await control_plane.client.get(f"/api/v1/models/{model}/versions/1/logs")).text
    assert version["status"] == "failed", log
    assert version["error"] == f"the build ran past HYDRO_BUILD_TIMEOUT_S={TIMEOUT_S} s and was stopped"
    assert f"build failed: the build ran past HYDRO_BUILD_TIMEOUT_S={TIMEOUT_S} s" in log
    assert TIMEOUT_S <= elapsed < TIMEOUT_S + 60, elapsed
    # The requirements stage was sleeping in the engine; its container was removed, none is left.
    assert "removed 1 build container(s)" in log, log
    labels = [f"hydro.version={model}:1", "hydro.build-stage=deps"]
    assert docker_client.containers.list(all=True, filters={"label": labels}) == []
    assert docker_client.images.list(name=f"{REGISTRY}/{model}") == []
