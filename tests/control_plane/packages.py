"""Model packages as the CLI sends them (tar.gz of a model folder), good ones and hostile ones."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import yaml

SIGNATURE: dict[str, Any] = {
    "inputs": [{"name": "x", "datatype": "FP64", "shape": [-1]}],
    "outputs": [{"name": "y", "datatype": "FP64", "shape": [-1]}],
}

MODEL_PY = """\
import numpy as np


class Model:
    def predict(self, inputs):
        return {"y": np.asarray(inputs["x"], dtype=np.float64) * 2}
"""


def manifest(name: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "runtime": "python3.11",
        "entrypoint": "model:Model",
        "signature": SIGNATURE,
        "metadata": {"team": "tests"},
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def model_files(name: str, **overrides: Any) -> dict[str, bytes]:
    return {
        "hydro.yaml": yaml.safe_dump(manifest(name, **overrides)).encode(),
        "model.py": MODEL_PY.encode(),
    }


def tar_gz(
    files: dict[str, bytes], *, wrap: str | None = None, extra: list[tarfile.TarInfo] | None = None
) -> bytes:
    """A tar.gz of `files` (inside folder `wrap` when given) plus hand-made `extra` members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, content in files.items():
            info = tarfile.TarInfo(f"{wrap}/{path}" if wrap else path)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return buffer.getvalue()


def package(name: str, **overrides: Any) -> bytes:
    return tar_gz(model_files(name, **overrides))


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", size: int = 1) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = size if kind == tarfile.REGTYPE else 0
    return info
