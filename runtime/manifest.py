"""The model's `hydro.json` as the runtime reads it: `wire.package`'s manifest, its errors as ManifestError.

The runtime reads only this normalized file (never `hydro.yaml`), so it needs no YAML parser.
"""

from __future__ import annotations

from pathlib import Path

from runtime.errors import ManifestError
from wire.manifest import Manifest as Manifest
from wire.manifest import PackageError, read_manifest


def load_manifest(model_dir: Path) -> Manifest:
    """Read and validate `model_dir/hydro.json`; raise ManifestError naming the problem."""
    try:
        return read_manifest(model_dir)
    except PackageError as exc:
        raise ManifestError(str(exc)) from None
