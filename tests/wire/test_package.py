"""The stored package: the one hardened unpack every reader uses, and reading a package in place."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from tests.runtime.models import manifest
from wire.manifest import Manifest, PackageError, read_manifest
from wire.package import (
    DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_UNPACKED_BYTES,
    Limits,
    PackageArchive,
    PackageTooLarge,
    UnreadableArchive,
    UnsafeMember,
    pack,
    unpack,
)

# -- packing and unpacking ------------------------------------------------------------------------


def test_a_packed_folder_unpacks_to_the_same_files_with_its_manifest(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "data").mkdir(parents=True)
    (folder / "model.py").write_text("def predict(inputs):\n    return inputs\n")
    (folder / "data" / "train.csv").write_text("amount\n1.0\n")
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o700)
    written = Manifest.from_dict(manifest(version=3))
    pack(folder, written, tmp_path / "package.tar.gz")

    with tarfile.open(tmp_path / "package.tar.gz") as tar:
        assert all(m.uid == 0 and m.gid == 0 and m.uname == "root" for m in tar.getmembers())
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    unpack(tmp_path / "package.tar.gz", unpacked, Limits())
    assert sorted(p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*")) == [
        "data",
        "data/train.csv",
        "hydro.json",
        "model.py",
        "run.sh",
    ]
    assert read_manifest(unpacked) == written
    assert json.loads((unpacked / "hydro.json").read_text()) == manifest(version=3)
    assert (unpacked / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (unpacked / "model.py").stat().st_mode & 0o777 == 0o644


def test_the_default_limits_are_two_gibibytes_and_twenty_thousand_members() -> None:
    assert Limits() == Limits(DEFAULT_MAX_UNPACKED_BYTES, DEFAULT_MAX_MEMBERS)
    assert (DEFAULT_MAX_UNPACKED_BYTES, DEFAULT_MAX_MEMBERS) == (2 * 1024**3, 20_000)


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", size: int = 1) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = size if kind == tarfile.REGTYPE else 0
    return info


def archive_with(path: Path, *members: tarfile.TarInfo) -> Path:
    """A package (hydro.json and model.py) with hand-made `members` after them."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in {"hydro.json": json.dumps(manifest()).encode(), "model.py": b"x = 1\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in members:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return path


UNSAFE = {
    "a member climbing out with ..": (member("lib/../../evil.py"), "escapes the model folder ('..'", True),
    "an absolute path": (member("/etc/cron.d/evil"), "has an absolute path", True),
    "a symlink out": (member("data", tarfile.SYMTYPE, "/etc"), "is a symbolic link (to '/etc')", False),
    "a hard link": (member("passwd", tarfile.LNKTYPE, "/etc/passwd"), "is a hard link", False),
    "a device": (member("tty", tarfile.CHRTYPE), "is a device file", False),
    "a FIFO": (member("pipe", tarfile.FIFOTYPE), "is a FIFO", False),
}


@pytest.mark.parametrize("case", list(UNSAFE))
def test_an_unsafe_member_is_refused_by_name_before_anything_lands_outside(tmp_path: Path, case: str) -> None:
    bad, problem, escapes = UNSAFE[case]
    archive = archive_with(tmp_path / "bad.tar.gz", bad)
    dest = tmp_path / "a" / "b"
    dest.mkdir(parents=True)
    with pytest.raises(UnsafeMember, match=re.escape(f"package member {bad.name!r} {problem}")) as caught:
        unpack(archive, dest, Limits())
    assert (caught.value.member, caught.value.escapes) == (bad.name, escapes)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "bad.tar.gz", "hydro.json", "model.py"]
    with pytest.raises(UnsafeMember, match=bad.name), PackageArchive(archive, Limits()):
        pass  # reading in place refuses it the same way


def test_more_members_than_the_limit_are_refused(tmp_path: Path) -> None:
    archive = archive_with(tmp_path / "many.tar.gz", member("a.py"), member("b.py"))
    with pytest.raises(PackageError, match="the package has more than 3 files and folders"):
        unpack(archive, tmp_path, Limits(max_members=3))
    unpack(archive, tmp_path, Limits(max_members=4))


def test_more_bytes_than_the_limit_are_refused(tmp_path: Path) -> None:
    archive = archive_with(tmp_path / "big.tar.gz", member("weights.bin", size=5000))
    with pytest.raises(PackageTooLarge, match="the package unpacks to more than the limit of 5000 bytes"):
        unpack(archive, tmp_path, Limits(max_unpacked_bytes=5000))
    with pytest.raises(PackageTooLarge, match="5000 bytes"), PackageArchive(archive, Limits(5000)):
        pass


def test_a_file_and_a_folder_of_one_name_clash(tmp_path: Path) -> None:
    archive = archive_with(tmp_path / "clash.tar.gz", member("lib"), member("lib/util.py"))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(PackageError, match="'lib/util.py' clashes with another member"):
        unpack(archive, dest, Limits())


def test_what_is_not_a_tar_gz_is_refused_as_unreadable(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"this is not a tarball")
    with pytest.raises(UnreadableArchive, match="not a gzip-compressed tar archive"):
        unpack(garbage, tmp_path, Limits())
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive_with(tmp_path / "whole.tar.gz").read_bytes()[:60])
    with pytest.raises(UnreadableArchive, match="damaged or truncated"):
        unpack(truncated, tmp_path / "out", Limits())


def test_a_package_is_read_in_place_file_by_file(tmp_path: Path) -> None:
    archive = archive_with(
        tmp_path / "p.tar.gz", member("./data/a.csv"), member("data/b.csv"), member("c.csv")
    )
    with open(archive, "rb") as handle, PackageArchive(handle, Limits()) as package:
        assert package.manifest() == Manifest.from_dict(manifest())
        assert package.files_at("data") == ["data/a.csv", "data/b.csv"]
        assert package.files_at("./c.csv") == ["c.csv"]
        assert package.files_at("nowhere") == []
        assert package.read("data/a.csv") == b"x"
        with pytest.raises(PackageError, match="the package has no file 'missing.csv'"):
            package.read("missing.csv")
