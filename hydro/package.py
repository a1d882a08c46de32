"""Pack a model folder into the tar.gz the control plane takes, in memory.

Members are relative paths under the folder, sorted, owned by root as in stored packages
(`wire.package.owned_by_root`). `__pycache__`, `.git` and `.venv` folders and `*.pyc` files are left
out. A symlink whose target lies inside the folder is stored as the file (or folder) it points to; one
pointing outside, or nowhere, is refused. Only `hydro.yaml`'s name is read here: the control plane
validates the rest.
"""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hydro.errors import PackageError
from wire.manifest import SOURCE_MANIFEST_FILE as MANIFEST
from wire.package import owned_by_root

SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".venv"})
SKIPPED_SUFFIXES = (".pyc",)


@dataclass(frozen=True)
class Package:
    """A packed model folder: its name from hydro.yaml, the parsed hydro.yaml and the tar.gz bytes."""

    name: str
    manifest: dict[str, Any]
    files: tuple[str, ...]
    data: bytes


def read_hydro_yaml(folder: Path) -> dict[str, Any]:
    """Parse `folder/hydro.yaml`; raise PackageError unless it is a mapping with a non-empty `name`."""
    path = folder / MANIFEST
    if not folder.is_dir():
        raise PackageError(f"{folder} is not a directory: give the model folder that holds {MANIFEST}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PackageError(
            f"no {MANIFEST} in {folder}: a model folder needs one (name, entrypoint, signature)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PackageError(f"cannot read {path}: {exc}") from None
    try:
        manifest = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PackageError(f"{path} is not valid YAML: {_one_line(str(exc))}") from None
    if not isinstance(manifest, dict):
        raise PackageError(f"{path} must be a mapping with name, entrypoint and signature")
    name = manifest.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PackageError(f"{path} has no name: add e.g. `name: fraud-detector`")
    return manifest


def pack(folder: Path | str) -> Package:
    """Read hydro.yaml and pack the folder; raise PackageError naming the problem."""
    root = Path(folder).expanduser().absolute()
    manifest = read_hydro_yaml(root)
    real_root = root.resolve()
    files: list[str] = []
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for real, arcname in _walk(root, real_root, "", (real_root,)):
            info = owned_by_root(tar.gettarinfo(str(real), arcname=arcname))
            if info.isdir():
                tar.addfile(info)
            else:
                with open(real, "rb") as f:
                    tar.addfile(info, f)
                files.append(arcname)
    return Package(name=str(manifest["name"]), manifest=manifest, files=tuple(files), data=buffer.getvalue())


def _walk(directory: Path, real_root: Path, prefix: str, stack: tuple[Path, ...]) -> list[tuple[Path, str]]:
    """(real path to read, member name) of every member under `directory`, parents first."""
    out: list[tuple[Path, str]] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        raise PackageError(f"cannot list {directory}: {exc.strerror or exc}") from None
    for entry in entries:
        path = Path(entry.path)
        arcname = f"{prefix}{entry.name}"
        if entry.name in SKIPPED_DIRS or entry.name.endswith(SKIPPED_SUFFIXES):
            continue
        real = _inside(path, real_root) if entry.is_symlink() else path
        if real.is_dir():
            resolved = real.resolve()
            if resolved in stack:
                raise PackageError(f"{path} is a symlink loop (it points to one of its own parent folders)")
            out.append((real, arcname))
            out.extend(_walk(real, real_root, f"{arcname}/", (*stack, resolved)))
        elif real.is_file():
            out.append((real, arcname))
        else:
            raise PackageError(f"{path} is neither a file nor a folder (a socket, a device or a pipe)")
    return out


def _inside(link: Path, real_root: Path) -> Path:
    """The real path a symlink points to; PackageError unless it exists inside the model folder."""
    target = link.resolve()
    if not target.is_relative_to(real_root):
        raise PackageError(
            f"{link} is a symlink to {target}, outside the model folder; "
            "copy the file into the folder instead"
        )
    if not target.exists():
        raise PackageError(f"{link} is a symlink to {target}, which does not exist")
    return target


def _one_line(text: str) -> str:
    return " ".join(text.split())
