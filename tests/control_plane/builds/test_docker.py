"""With HYDRO_RUNTIME=docker a version is built FROM the runtime base image, pushed, and served by its image.

Needs the real Docker engine, the registry on 127.0.0.1:5000 and the base image (`make test` sets them up).
The model's requirement comes from a wheelhouse this test writes (one small pure-Python wheel), so the
build needs no network, as in production with HYDRO_WHEELHOUSE.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import grpc
import httpx
import numpy as np
import pytest

from protos.inference import grpc_service_pb2, grpc_service_pb2_grpc
from tests.control_plane.conftest import make_settings, running, unique
from tests.control_plane.packages import model_files, tar_gz
from tests.real_parts import BASE_IMAGE, REGISTRY, require_docker_parts
from wire.oip_grpc import decode_infer_response, encode_infer_request

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]

LABEL = "hydro.test=control-plane-build"

MODEL_WITH_DEPENDENCY = """\
import numpy as np

import hydro_cp_testdep


class Model:
    def predict(self, inputs):
        return {"y": np.asarray(inputs["x"], dtype=np.float64) * hydro_cp_testdep.FACTOR}
"""


@pytest.fixture(scope="module")
def docker_client() -> Iterator[docker.DockerClient]:
    client = require_docker_parts()
    yield client
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        container.remove(force=True)
    client.close()


def write_wheel(wheelhouse: Path) -> None:
    """A minimal pure-Python wheel `hydro-cp-testdep 1.0` (module hydro_cp_testdep, FACTOR = 3)."""
    dist_info = "hydro_cp_testdep-1.0.dist-info"
    files = {
        "hydro_cp_testdep/__init__.py": b"FACTOR = 3\n",
        f"{dist_info}/METADATA": b"Metadata-Version: 2.1\nName: hydro-cp-testdep\nVersion: 1.0\n",
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: hydro-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, content in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(content)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheelhouse.mkdir(exist_ok=True)
    with zipfile.ZipFile(wheelhouse / "hydro_cp_testdep-1.0-py3-none-any.whl", "w") as wheel:
        for path, content in files.items():
            wheel.writestr(path, content)


def registry_digest(model: str, tag: str) -> str:
    response = httpx.get(
        f"http://{REGISTRY}/v2/{model}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        timeout=10,
    )
    response.raise_for_status()
    return response.headers["Docker-Content-Digest"]


async def infer(address: str, values: list[float], timeout: float = 60) -> np.ndarray:
    """Call the runtime in the container over gRPC once it is ready."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        deadline = time.monotonic() + timeout
        while True:
            try:
                ready = await stub.ServerReady(grpc_service_pb2.ServerReadyRequest(), timeout=2)
                if ready.ready:
                    break
            except grpc.aio.AioRpcError:
                pass
            assert time.monotonic() < deadline, f"the runtime at {address} never became ready"
            await asyncio.sleep(0.2)
        request = encode_infer_request("", {"x": np.asarray(values, dtype=np.float64)})
        response = await stub.ModelInfer(request, timeout=10)
        return decode_infer_response(response)["y"]


async def test_a_version_is_built_pushed_and_its_image_serves_the_model(
    tmp_path: Path, postgres_url: str, docker_client: docker.DockerClient
) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    write_wheel(wheelhouse)
    settings = make_settings(
        tmp_path,
        postgres_url,
        runtime="docker",
        registry=REGISTRY,
        runtime_base_image=BASE_IMAGE,
        wheelhouse=wheelhouse,
    )
    model = unique("tripler")
    files = model_files(model, requirements="requirements.txt")
    files["model.py"] = MODEL_WITH_DEPENDENCY.encode()
    files["requirements.txt"] = b"hydro-cp-testdep==1.0\n"

    async with running(settings) as control_plane:
        assert (await control_plane.upload(model, tar_gz(files))).status_code == 202
        version = await control_plane.wait_built(model, 1)
        log = (await control_plane.client.get(f"/api/v1/models/{model}/versions/1/logs")).text
        assert version["status"] == "released", log
        image = f"{REGISTRY}/{model}:1"
        assert version["image"] == image
        assert version["digest"].startswith("sha256:") and version["digest"] == registry_digest(model, "1")
        assert "Successfully installed hydro-cp-testdep-1.0" in log
        assert f"pushed {image}@{version['digest']}" in log
        # The requirements stage (with the wheels) is pruned just after the release, once no build runs.
        # The low-level list: the high-level one inspects each image, racing removals elsewhere on the engine.
        deadline = time.monotonic() + 30
        while leftovers := docker_client.api.images(
            filters={"dangling": True, "label": f"hydro.version={model}:1"}
        ):
            assert time.monotonic() < deadline, f"the requirements stage was not pruned: {leftovers}"
            await asyncio.sleep(0.2)

    try:
        probe = docker_client.containers.run(
            image,
            [
                "python3",
                "-c",
                "import os, runtime.server, wire.signature, hydro_cp_testdep, numpy; "
                "from importlib.util import cache_from_source as pyc; "
                "print(os.getuid(), os.environ['PYTHONPATH'], hydro_cp_testdep.__file__, "
                "os.path.exists('/wheelhouse'), os.path.exists('/model/hydro.json'), numpy.__version__, "
                "os.path.exists(pyc(runtime.server.__file__)), os.path.exists(pyc('/model/model.py')))",
            ],
            detach=True,
            labels={"hydro.test": "control-plane-build"},
        )
        try:
            assert probe.wait(timeout=60)["StatusCode"] == 0, probe.logs().decode()
            contract = probe.logs(stderr=False).decode()
        finally:
            probe.remove(force=True)
        assert contract.split() == [
            "10001",
            "/opt/hydro:/opt/hydro/deps",
            "/opt/hydro/deps/hydro_cp_testdep/__init__.py",
            "False",
            "True",
            "2.4.6",
            "True",  # the runtime's and the model's bytecode ship in the image (read-only at run time)
            "True",
        ]
        labels = docker_client.images.get(image).labels
        assert labels["hydro.managed"] == "true" and labels["hydro.version"] == f"{model}:1"

        container = docker_client.containers.run(
            image,
            detach=True,
            ports={"9000/tcp": ("127.0.0.1", None)},
            labels={"hydro.test": "control-plane-build"},
        )
        try:
            container.reload()
            port = container.ports["9000/tcp"][0]["HostPort"]
            answer = await infer(f"127.0.0.1:{port}", [1.0, 2.5])
            assert answer.tolist() == [3.0, 7.5]
        finally:
            container.remove(force=True)
    finally:
        docker_client.images.remove(image, force=True)


async def test_a_requirement_that_cannot_be_installed_fails_the_build_with_pips_error(
    tmp_path: Path, postgres_url: str, docker_client: docker.DockerClient
) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    write_wheel(wheelhouse)
    settings = make_settings(
        tmp_path,
        postgres_url,
        runtime="docker",
        registry=REGISTRY,
        runtime_base_image=BASE_IMAGE,
        wheelhouse=wheelhouse,
    )
    model = unique("unbuildable")
    files = model_files(model, requirements="requirements.txt")
    files["requirements.txt"] = b"definitely-not-in-the-wheelhouse==9.9\n"

    async with running(settings) as control_plane:
        assert (await control_plane.upload(model, tar_gz(files))).status_code == 202
        version = await control_plane.wait_built(model, 1)
        assert version["status"] == "failed"
        assert version["image"] is None and version["digest"] is None
        assert version["error"].startswith("docker build failed:")
        log = (await control_plane.client.get(f"/api/v1/models/{model}/versions/1/logs")).text
        assert "No matching distribution found for definitely-not-in-the-wheelhouse==9.9" in log
        assert "build failed: docker build failed" in log
    tags = httpx.get(f"http://{REGISTRY}/v2/{model}/tags/list", timeout=5)
    assert tags.status_code == 404  # nothing was pushed
