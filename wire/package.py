"""The stored model package: the tar.gz around a model folder and its `hydro.json` (`wire.manifest`).

A stored package is a tar.gz of the model folder with `hydro.json` at its root. The control plane writes
it from the user's `hydro.yaml` (which only the control plane parses); the control plane's builder, the
scaler's process backend, Sonar and the runtime read it. Every reader checks members the one way
written here, with the same limits: relative paths that stay inside the folder, regular files and
folders only (no links, devices or FIFOs), at most `Limits.max_members` members and
`Limits.max_unpacked_bytes` bytes of files. Standard library and `wire.manifest` only: the runtime
ships this module in every model image. Everything here is blocking file I/O.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from wire.manifest import MANIFEST_FILE, Manifest, PackageError, write_manifest

DEFAULT_MAX_UNPACKED_BYTES = 2048 * 1024 * 1024
DEFAULT_MAX_MEMBERS = 20_000

_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


class UnreadableArchive(PackageError):
    """The archive is not a gzip-compressed tar, or it is damaged or truncated."""


class UnsafeMember(PackageError):
    """A member could land outside the folder (`escapes`), or is a link or a special file."""

    def __init__(self, message: str, member: str, *, escapes: bool) -> None:
        super().__init__(message)
        self.member = member
        self.escapes = escapes


class PackageTooLarge(PackageError):
    """The files of the package add up to more than `Limits.max_unpacked_bytes`."""


@dataclass(frozen=True)
class Limits:
    """How big a package may get once unpacked (the compressed size is the receiver's business)."""

    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS


# -- the tar.gz ----------------------------------------------------------------------------------


def pack(root: Path, manifest: Manifest, out: Path) -> None:
    """Write `manifest` as `root/hydro.json`, then pack the folder's contents (at the archive root)."""
    write_manifest(root, manifest)
    with tarfile.open(out, mode="w:gz", compresslevel=6) as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False, filter=owned_by_root)


def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """A member as packages store it: owned by root, mode 755 (folders, executables) or 644."""
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
    return info


def unpack(archive: Path, dest: Path, limits: Limits) -> None:
    """Extract the files and folders of `archive` into `dest`; raise PackageError naming a bad member."""
    with _open(archive) as tar:
        try:
            for member, parts in _checked_members(tar, limits):
                target = dest.joinpath(*parts)
                if member.isdir():
                    if target.exists() and not target.is_dir():
                        raise PackageError(
                            f"package member {member.name!r} appears twice, as a file and as a folder"
                        )
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    _extract_file(tar, member, target)
        except (NotADirectoryError, FileExistsError, IsADirectoryError):
            raise PackageError(
                f"package member {member.name!r} clashes with another member "
                "(a file and a folder share a name)"
            ) from None
        except _READ_ERRORS as exc:
            raise _damaged(exc) from None


class PackageArchive:
    """A stored package read in place, without unpacking it to disk (Sonar reads its training data so).

    Opening checks every member against the limits first, as `unpack` does.
    """

    def __init__(self, source: Path | IO[bytes], limits: Limits) -> None:
        self._tar = _open(source)
        try:
            self._files = {
                "/".join(parts): m for m, parts in _checked_members(self._tar, limits) if m.isfile()
            }
        except BaseException:
            self._tar.close()
            raise

    def __enter__(self) -> PackageArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self._tar.close()

    def files_at(self, path: str) -> list[str]:
        """The files at `path` (a file, or every file in a folder), sorted."""
        wanted = "/".join(_relative_parts(path))
        return sorted(n for n in self._files if n == wanted or n.startswith(wanted.rstrip("/") + "/"))

    def read(self, name: str) -> bytes:
        member = self._files.get(name)
        if member is None:
            raise PackageError(f"the package has no file {name!r}")
        handle = self._tar.extractfile(member)
        if handle is None:  # pragma: no cover - regular members always have a file object
            raise PackageError(f"package member {name!r} cannot be read")
        try:
            with handle:
                return handle.read()
        except _READ_ERRORS as exc:
            raise _damaged(exc) from None

    def manifest(self) -> Manifest:
        if MANIFEST_FILE not in self._files:
            raise PackageError(f"the package has no {MANIFEST_FILE} at its root")
        return Manifest.from_json(self.read(MANIFEST_FILE))


def _open(source: Path | IO[bytes]) -> tarfile.TarFile:
    """The archive opened as a tar.gz; FileNotFoundError passes through (no archive is not a bad one)."""
    try:
        if isinstance(source, Path):
            return tarfile.open(source, mode="r:gz")
        return tarfile.open(fileobj=source, mode="r:gz")
    except FileNotFoundError:
        raise
    except EOFError as exc:
        raise _damaged(exc) from None
    except (*_READ_ERRORS, OSError) as exc:
        raise UnreadableArchive(
            f"the package is not a gzip-compressed tar archive ({_reason(exc)})"
        ) from None


def _checked_members(
    tar: tarfile.TarFile, limits: Limits
) -> Iterator[tuple[tarfile.TarInfo, tuple[str, ...]]]:
    """Each member with its path parts, refused as soon as it is unsafe or goes over a limit."""
    total = 0
    try:
        for count, member in enumerate(tar, start=1):
            if count > limits.max_members:
                raise PackageError(f"the package has more than {limits.max_members} files and folders")
            parts = _member_parts(member)
            if not parts:
                continue
            if member.isfile():
                total += member.size
                if total > limits.max_unpacked_bytes:
                    raise PackageTooLarge(
                        f"the package unpacks to more than the limit of {limits.max_unpacked_bytes} bytes"
                    )
            yield member, parts
    except _READ_ERRORS as exc:
        raise _damaged(exc) from None


def _member_parts(member: tarfile.TarInfo) -> tuple[str, ...]:
    name = member.name
    if PurePosixPath(name).is_absolute() or re.match(r"^[A-Za-z]:[\\/]", name):
        raise UnsafeMember(
            f"package member {name!r} has an absolute path; members must be relative", name, escapes=True
        )
    parts = _relative_parts(name)
    if ".." in parts:
        raise UnsafeMember(
            f"package member {name!r} escapes the model folder ('..' is not allowed)", name, escapes=True
        )
    if member.issym():
        kind = f"a symbolic link (to {member.linkname!r}); links are not allowed"
    elif member.islnk():
        kind = f"a hard link (to {member.linkname!r}); links are not allowed"
    elif member.ischr() or member.isblk():
        kind = "a device file; only regular files and folders are allowed"
    elif member.isfifo():
        kind = "a FIFO; only regular files and folders are allowed"
    elif not (member.isreg() or member.isdir()):
        kind = "not a regular file or folder"
    else:
        return parts
    raise UnsafeMember(f"package member {name!r} is {kind}", name, escapes=False)


def _relative_parts(name: str) -> tuple[str, ...]:
    return tuple(part for part in PurePosixPath(name).parts if part not in ("", ".", "/"))


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


def _damaged(exc: BaseException) -> UnreadableArchive:
    return UnreadableArchive(f"the package archive is damaged or truncated ({_reason(exc)})")


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
