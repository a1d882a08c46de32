"""Model uploads: a tar.gz of the model folder, unpacked safely and its `hydro.yaml` validated.

The upload is unpacked by `wire.package` (the one hardened unpack: relative paths inside the folder,
regular files and folders only, member and size limits), then its `hydro.yaml` is validated and
normalized into the fields of `hydro.json` (the only file the runtime reads). The stored package is the
model folder with `hydro.json` added at its root, written by `wire.package.pack`. This module translates
`wire.package`'s errors into the control plane's. Everything here is blocking file I/O: call it through
`asyncio.to_thread`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from control_plane.errors import PackageError, PackageTooLarge
from control_plane.names import describe_rule
from wire import manifest as stored_manifest
from wire import package as stored
from wire.names import is_dns_label
from wire.package import Limits as Limits
from wire.signature import Signature, SignatureError

MANIFEST_YAML = stored_manifest.SOURCE_MANIFEST_FILE
DEFAULT_RUNTIME = "python3.11"
KEYS = ("name", "runtime", "entrypoint", "requirements", "signature", "training_data", "metadata", "external")
SERVING_KEYS = ("runtime", "entrypoint", "requirements")
"""What only a served version has: an external one (monitored only) must leave them out."""


@dataclass(frozen=True)
class Package:
    """A validated, unpacked model folder and its normalized manifest (hydro.json without `version`)."""

    root: Path
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        name: str = self.manifest["name"]
        return name


def inspect(archive: Path, workdir: Path, expected_name: str, limits: Limits) -> Package:
    """Unpack `archive` under `workdir` and validate it as a package of model `expected_name`."""
    unpacked = workdir / "unpacked"
    unpacked.mkdir(parents=True)
    unpack(archive, unpacked, limits)
    root = find_root(unpacked)
    return Package(root=root, manifest=read_hydro_yaml(root, expected_name))


def unpack(archive: Path, dest: Path, limits: Limits) -> None:
    """Extract regular files and folders of a tar.gz into `dest`; raise PackageError naming a bad member."""
    with _translated():
        stored.unpack(archive, dest, limits)


def pack(root: Path, manifest: dict[str, Any], out: Path) -> None:
    """Write `manifest` (a whole hydro.json) as `root/hydro.json`, then pack the folder into `out`."""
    with _translated():
        stored.pack(root, stored_manifest.Manifest.from_dict(manifest), out)


def read_json_manifest(root: Path) -> dict[str, Any]:
    """The hydro.json of a stored package (written by `pack`), validated."""
    with _translated():
        return stored_manifest.read_manifest(root).to_dict()


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except stored.PackageTooLarge as exc:
        raise PackageTooLarge(str(exc)) from None
    except stored_manifest.PackageError as exc:
        raise PackageError(str(exc)) from None


def find_root(unpacked: Path) -> Path:
    """The model folder: `unpacked` itself, or its single top-level folder when that wraps hydro.yaml."""
    if (unpacked / MANIFEST_YAML).is_file():
        return unpacked
    entries = list(unpacked.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / MANIFEST_YAML).is_file():
        return entries[0]
    raise PackageError(
        f"{MANIFEST_YAML} not found at the root of the package (nor inside a single top-level folder)"
    )


def read_hydro_yaml(root: Path, expected_name: str) -> dict[str, Any]:
    """Parse and validate `root/hydro.yaml` into the fields of hydro.json (all but `version`)."""
    try:
        data = yaml.safe_load((root / MANIFEST_YAML).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise PackageError(f"{MANIFEST_YAML} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise PackageError(f"{MANIFEST_YAML} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PackageError(f"{MANIFEST_YAML} must be a mapping of keys, got {type(data).__name__}")
    unknown = sorted(str(key) for key in data if key not in KEYS)
    if unknown:
        raise PackageError(
            f"{MANIFEST_YAML}: unknown key(s) {', '.join(repr(k) for k in unknown)}; "
            f"known keys: {', '.join(KEYS)}"
        )

    name = _string(data, "name", required=True)
    assert name is not None
    if not is_dns_label(name):
        raise PackageError(f"{MANIFEST_YAML}: name {name!r} is not valid: {describe_rule()}")
    if name != expected_name:
        raise PackageError(
            f"{MANIFEST_YAML} names the model {name!r} but the upload URL is for model {expected_name!r}"
        )
    external = data.get("external", False)
    if not isinstance(external, bool):
        raise PackageError(f"{MANIFEST_YAML}: external must be true or false, got {external!r}")
    if external:
        serving = [key for key in SERVING_KEYS if key in data]
        if serving:
            raise PackageError(
                f"{MANIFEST_YAML}: an external model is monitored only, Hydro does not run it: "
                f"remove {', '.join(repr(key) for key in serving)}"
            )
    else:
        entrypoint = _string(data, "entrypoint", required=True)
        assert entrypoint is not None
        if not stored_manifest.is_entrypoint(entrypoint):
            raise PackageError(
                f"{MANIFEST_YAML}: entrypoint {entrypoint!r} must look like 'module:Class' "
                "or 'module:function'"
            )
    try:
        signature = Signature.from_dict(data.get("signature"))
    except SignatureError as exc:
        raise PackageError(f"{MANIFEST_YAML}: {exc}") from None
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise PackageError(f"{MANIFEST_YAML}: metadata must be a mapping, got {type(metadata).__name__}")
    training_data = _string(data, "training_data")
    if training_data is not None:
        _check_path(root, training_data, "training_data", want_file=False)
    # YAML may hold dates and other non-JSON scalars: keep them as strings.
    plain_metadata = json.loads(json.dumps(metadata, default=str))
    if external:
        return external_manifest(name, signature, training_data, plain_metadata)
    requirements = _string(data, "requirements")
    if requirements is not None:
        _check_path(root, requirements, "requirements", want_file=True)
    return {
        "name": name,
        "runtime": _string(data, "runtime") or DEFAULT_RUNTIME,
        "entrypoint": entrypoint,
        "requirements": requirements,
        "signature": signature.to_dict(),
        "training_data": training_data,
        "metadata": plain_metadata,
    }


def external_manifest(
    name: str, signature: Signature, training_data: str | None, metadata: dict[str, Any]
) -> dict[str, Any]:
    """The hydro.json fields (all but `version`) of an external version: monitored, not served."""
    return {
        "name": name,
        "external": True,
        "runtime": None,
        "entrypoint": None,
        "requirements": None,
        "signature": signature.to_dict(),
        "training_data": training_data,
        "metadata": metadata,
    }


def _string(data: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise PackageError(f"{MANIFEST_YAML}: missing required key {key!r}")
        return None
    if not isinstance(value, str) or not value:
        raise PackageError(f"{MANIFEST_YAML}: {key} must be a non-empty string, got {value!r}")
    return value


def _check_path(root: Path, value: str, key: str, *, want_file: bool) -> None:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts:
        raise PackageError(
            f"{MANIFEST_YAML}: {key} {value!r} must be a relative path inside the model folder"
        )
    target = root.joinpath(*path.parts)
    if not target.exists():
        raise PackageError(f"{MANIFEST_YAML}: {key} {value!r} is not in the package")
    if want_file and not target.is_file():
        raise PackageError(f"{MANIFEST_YAML}: {key} {value!r} is not a file")
