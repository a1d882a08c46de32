"""A tiny model image built the way the control plane builds one, pushed to the test registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.real_parts import BASE_IMAGE, REGISTRY
from tests.scaler.packages import write_model_folder

REPO_ROOT = Path(__file__).resolve().parents[2]


def build_and_push(client: docker.DockerClient, context: Path, model: str, version: int) -> str:
    """Build `{registry}/{model}:{version}` from the base image with the runtime (and the protos and wire
    packages it imports) and a model; push it."""
    image = f"{REGISTRY}/{model}:{version}"
    shutil.copytree(REPO_ROOT / "runtime", context / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    for package in ("protos", "wire"):
        shutil.copytree(
            REPO_ROOT / package,
            context / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.proto", "*.pyi"),
        )
    write_model_folder(context / "model", model, version)
    labels = {"hydro.managed": "true", "hydro.version": f"{model}:{version}"}
    (context / "Dockerfile").write_text(
        "\n".join(
            [
                f"FROM {BASE_IMAGE}",
                "COPY runtime/ /opt/hydro/runtime/",
                "COPY protos/ /opt/hydro/protos/",
                "COPY wire/ /opt/hydro/wire/",
                "COPY model/ /model/",
                "ENV PYTHONPATH=/opt/hydro:/opt/hydro/deps PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1",
                "LABEL " + " ".join(f"{k}={json.dumps(v)}" for k, v in labels.items()),
                "WORKDIR /model",
                "USER 10001",
                "EXPOSE 9000",
                'CMD ["python3", "-m", "runtime", "--model-dir", "/model", "--port", "9000"]',
            ]
        )
        + "\n"
    )
    try:
        client.images.build(path=str(context), tag=image, rm=True, forcerm=True)
    except docker.errors.BuildError as exc:
        log = "".join(str(line.get("stream", line)) for line in exc.build_log)
        pytest.fail(f"building the test image {image} failed: {exc}\n{log}")
    for line in client.images.push(f"{REGISTRY}/{model}", tag=str(version), stream=True, decode=True):
        if "error" in line:
            pytest.fail(f"pushing {image} failed: {line['error']}")
    return image
