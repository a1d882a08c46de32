"""Model packages: safe unpacking of an uploaded tar.gz, `hydro.yaml` validation, and the stored form.

An upload is a tar.gz of the model folder. It is unpacked member by member, refusing anything that
could land outside the destination (absolute paths, `..`, links, devices), then its `hydro.yaml` is
validated and normalized into `hydro.json` (the only file the runtime reads). The stored package is
the model folder with `hydro.json` added at its root. Everything here is blocking file I/O: call it
through `asyncio.to_thread`.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from control_plane.errors import PackageError, PackageTooLarge
from control_plane.names import describe_rule, is_dns_label
from wire.signature import Signature, SignatureError

MANIFEST_YAML = "hydro.yaml"
MANIFEST_JSON = "hydro.json"
DEFAULT_RUNTIME = "python3.11"
KEYS = ("name", "runtime", "entrypoint", "requirements", "signature", "training_data", "metadata")

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_ENTRYPOINT = re.compile(rf"^{_IDENTIFIER}(\.{_IDENTIFIER})*:{_IDENTIFIER}$")
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


@dataclass(frozen=True)
class Limits:
    """How big a package may get once unpacked (the compressed size is checked while receiving it)."""

    max_unpacked_bytes: int
    max_members: int


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
    return Package(root=root, manifest=read_manifest(root, expected_name))


def unpack(archive: Path, dest: Path, limits: Limits) -> None:
    """Extract regular files and folders of a tar.gz into `dest`; raise PackageError naming a bad member."""
    try:
        tar = tarfile.open(archive, mode="r:gz")
    except EOFError as exc:
        raise PackageError(f"the package archive is damaged or truncated ({_reason(exc)})") from None
    except (*_READ_ERRORS, OSError) as exc:
        raise PackageError(f"the package is not a gzip-compressed tar archive ({_reason(exc)})") from None
    total = 0
    with tar:
        try:
            for count, member in enumerate(tar, start=1):
                if count > limits.max_members:
                    raise PackageError(f"the package has more than {limits.max_members} files and folders")
                parts = _member_parts(member)
                if not parts:
                    continue
                target = dest.joinpath(*parts)
                if member.isdir():
                    _check_not_file(target, member)
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                total += member.size
                if total > limits.max_unpacked_bytes:
                    raise PackageTooLarge(
                        f"the package unpacks to more than the limit of {limits.max_unpacked_bytes} bytes"
                    )
                _extract_file(tar, member, target)
        except (NotADirectoryError, FileExistsError, IsADirectoryError):
            raise PackageError(
                f"package member {member.name!r} clashes with another member "
                "(a file and a folder share a name)"
            ) from None
        except _READ_ERRORS as exc:
            raise PackageError(f"the package archive is damaged or truncated ({_reason(exc)})") from None


def _member_parts(member: tarfile.TarInfo) -> tuple[str, ...]:
    name = member.name
    path = PurePosixPath(name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:[\\/]", name):
        raise PackageError(f"package member {name!r} has an absolute path; members must be relative")
    parts = tuple(part for part in path.parts if part not in ("", "."))
    if ".." in parts:
        raise PackageError(f"package member {name!r} escapes the model folder ('..' is not allowed)")
    if member.issym():
        raise PackageError(
            f"package member {name!r} is a symbolic link (to {member.linkname!r}); links are not allowed"
        )
    if member.islnk():
        raise PackageError(
            f"package member {name!r} is a hard link (to {member.linkname!r}); links are not allowed"
        )
    if member.ischr() or member.isblk():
        raise PackageError(
            f"package member {name!r} is a device file; only regular files and folders are allowed"
        )
    if member.isfifo():
        raise PackageError(f"package member {name!r} is a FIFO; only regular files and folders are allowed")
    if not (member.isreg() or member.isdir()):
        raise PackageError(f"package member {name!r} is not a regular file or folder")
    return parts


def _check_not_file(target: Path, member: tarfile.TarInfo) -> None:
    if target.exists() and not target.is_dir():
        raise PackageError(f"package member {member.name!r} appears twice, as a file and as a folder")


def _extract_file(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    if target.is_dir():
        raise PackageError(f"package member {member.name!r} appears twice, as a file and as a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(member)
    if source is None:  # pragma: no cover - regular members always have a file object
        raise PackageError(f"package member {member.name!r} cannot be read")
    with source, open(target, "wb") as out:
        shutil.copyfileobj(source, out, 1024 * 1024)
    os.chmod(target, 0o755 if member.mode & 0o111 else 0o644)


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


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


def read_manifest(root: Path, expected_name: str) -> dict[str, Any]:
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
    entrypoint = _string(data, "entrypoint", required=True)
    assert entrypoint is not None
    if not _ENTRYPOINT.match(entrypoint):
        raise PackageError(
            f"{MANIFEST_YAML}: entrypoint {entrypoint!r} must look like 'module:Class' or 'module:function'"
        )
    try:
        signature = Signature.from_dict(data.get("signature"))
    except SignatureError as exc:
        raise PackageError(f"{MANIFEST_YAML}: {exc}") from None
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise PackageError(f"{MANIFEST_YAML}: metadata must be a mapping, got {type(metadata).__name__}")
    requirements = _string(data, "requirements")
    if requirements is not None:
        _check_path(root, requirements, "requirements", want_file=True)
    training_data = _string(data, "training_data")
    if training_data is not None:
        _check_path(root, training_data, "training_data", want_file=False)
    return {
        "name": name,
        "runtime": _string(data, "runtime") or DEFAULT_RUNTIME,
        "entrypoint": entrypoint,
        "requirements": requirements,
        "signature": signature.to_dict(),
        "training_data": training_data,
        # YAML may hold dates and other non-JSON scalars: keep them as strings.
        "metadata": json.loads(json.dumps(metadata, default=str)),
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


def pack(root: Path, manifest: dict[str, Any], out: Path) -> None:
    """Write `manifest` as `root/hydro.json`, then pack the folder's contents (at the archive root)."""
    (root / MANIFEST_JSON).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    with tarfile.open(out, mode="w:gz", compresslevel=6) as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False, filter=_normalize)


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
    return info


def read_json_manifest(root: Path) -> dict[str, Any]:
    """The hydro.json of a stored package (written by `pack`)."""
    try:
        data = json.loads((root / MANIFEST_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PackageError(f"the stored package has no readable {MANIFEST_JSON}: {exc}") from None
    if not isinstance(data, dict):
        raise PackageError(f"the stored package's {MANIFEST_JSON} is not a JSON object")
    return data
