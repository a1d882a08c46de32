"""Packing a model folder: what goes into the tar.gz, what stays out, and what is refused."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from hydro.errors import PackageError
from hydro.package import pack

MANIFEST = "name: tiny\nruntime: python3.11\nentrypoint: tiny:predict\n"


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def content(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


@pytest.fixture
def model(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny"
    (folder / "data").mkdir(parents=True)
    (folder / "hydro.yaml").write_text(MANIFEST)
    (folder / "tiny.py").write_text("def predict(inputs):\n    return inputs\n")
    (folder / "data" / "train.csv").write_text("x\n1\n")
    return folder


def test_a_model_folder_is_packed_with_relative_paths_owned_by_root(model: Path) -> None:
    package = pack(model)
    assert package.name == "tiny"
    assert package.manifest["entrypoint"] == "tiny:predict"
    found = members(package.data)
    assert sorted(found) == ["data", "data/train.csv", "hydro.yaml", "tiny.py"]
    assert all(m.uid == 0 and m.gid == 0 for m in found.values())
    assert found["data"].isdir() and found["tiny.py"].isfile()
    assert content(package.data, "data/train.csv") == b"x\n1\n"
    assert package.files == ("data/train.csv", "hydro.yaml", "tiny.py")


def test_caches_version_control_and_virtualenvs_stay_out(model: Path) -> None:
    for skipped in ("__pycache__", ".git", ".venv", "data/__pycache__"):
        (model / skipped).mkdir()
        (model / skipped / "junk").write_text("junk")
    (model / "tiny.cpython-311.pyc").write_bytes(b"\0")
    assert sorted(members(pack(model).data)) == ["data", "data/train.csv", "hydro.yaml", "tiny.py"]


def test_a_symlink_inside_the_folder_is_stored_as_the_file_it_points_to(model: Path) -> None:
    (model / "latest.csv").symlink_to("data/train.csv")
    (model / "inputs").symlink_to("data", target_is_directory=True)
    package = pack(model)
    found = members(package.data)
    assert found["latest.csv"].isfile() and content(package.data, "latest.csv") == b"x\n1\n"
    assert found["inputs"].isdir() and content(package.data, "inputs/train.csv") == b"x\n1\n"
    assert not any(m.issym() or m.islnk() for m in found.values())


def test_a_symlink_pointing_outside_the_folder_is_refused(model: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    (model / "weights.bin").symlink_to(secret)
    with pytest.raises(PackageError, match="weights.bin is a symlink to .*outside the model folder"):
        pack(model)


def test_a_symlink_to_a_parent_folder_is_refused_as_a_loop(model: Path) -> None:
    (model / "data" / "again").symlink_to("..", target_is_directory=True)
    with pytest.raises(PackageError, match="symlink loop"):
        pack(model)


def test_a_dangling_symlink_is_refused(model: Path) -> None:
    (model / "gone.csv").symlink_to(model / "nowhere.csv")
    with pytest.raises(PackageError, match="gone.csv is a symlink to .*does not exist"):
        pack(model)


def test_a_folder_without_hydro_yaml_is_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=f"no hydro.yaml in {tmp_path}"):
        pack(tmp_path)


def test_hydro_yaml_without_a_name_is_refused(model: Path) -> None:
    (model / "hydro.yaml").write_text("runtime: python3.11\nentrypoint: tiny:predict\n")
    with pytest.raises(PackageError, match="hydro.yaml has no name"):
        pack(model)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: [unclosed\n", "is not valid YAML"),
        ("- a list\n", "must be a mapping"),
        ("name: ''\n", "has no name"),
    ],
)
def test_unreadable_manifests_are_refused_with_the_reason(model: Path, text: str, problem: str) -> None:
    (model / "hydro.yaml").write_text(text)
    with pytest.raises(PackageError, match=problem):
        pack(model)


def test_a_path_that_is_not_a_folder_is_refused(model: Path) -> None:
    with pytest.raises(PackageError, match="is not a directory"):
        pack(model / "tiny.py")
    with pytest.raises(PackageError, match="is not a directory"):
        pack(model / "missing")


def test_packing_is_repeatable(model: Path) -> None:
    os.utime(model / "tiny.py", (1_700_000_000, 1_700_000_000))
    assert members(pack(model).data).keys() == members(pack(model).data).keys()
