"""Model packages as the control plane stores them: a tar.gz with the model's files and hydro.json."""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path

from wire.manifest import Manifest, write_manifest
from wire.package import pack

# y = 2x: small, and the answer proves the replica serves this very package.
DOUBLE_SOURCE = """
    def double(inputs):
        return {"y": inputs["x"] * 2}
"""


def manifest(name: str, version: int) -> dict[str, object]:
    return {
        "name": name,
        "version": version,
        "runtime": "python3.11",
        "entrypoint": "model:double",
        "requirements": None,
        "signature": {
            "inputs": [{"name": "x", "datatype": "FP64", "shape": [-1]}],
            "outputs": [{"name": "y", "datatype": "FP64", "shape": [-1]}],
        },
        "training_data": None,
        "metadata": {},
    }


def write_package(path: Path, name: str, version: int, source: str = DOUBLE_SOURCE) -> Path:
    """Write the package tar.gz of `name:version` to `path` (as the control plane stores it) and return it."""
    with tempfile.TemporaryDirectory() as folder:
        model = write_model_folder(Path(folder), name, version, source)
        pack(model, Manifest.from_dict(manifest(name, version)), path)
    return path


def write_model_folder(folder: Path, name: str, version: int, source: str = DOUBLE_SOURCE) -> Path:
    """The unpacked form of the same package (what goes into an image at /model)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(textwrap.dedent(source))
    write_manifest(folder, Manifest.from_dict(manifest(name, version)))
    return folder
