"""A user uploads model folders: good ones become numbered, released versions; bad ones leave nothing."""

from __future__ import annotations

import asyncio
import io
import json
import os
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.control_plane.conftest import ControlPlane, make_settings, running, unique
from tests.control_plane.packages import SIGNATURE, member, model_files, package, tar_gz


async def test_upload_list_get_logs_and_artifact_in_process_mode(control_plane: ControlPlane) -> None:
    name = unique("fraud")
    response = await control_plane.upload(name, package(name))
    assert response.status_code == 202, response.text
    assert response.json() == {"model": name, "version": 1, "status": "pending"}

    version = await control_plane.wait_built(name, 1)
    assert version["status"] == "released"
    assert version["model"] == name and version["version"] == 1 and version["key"] == f"{name}:1"
    assert version["image"] is None and version["digest"] is None and version["error"] is None
    assert version["signature"] == SIGNATURE
    assert version["entrypoint"] == "model:Model"
    assert version["metadata"] == {"team": "tests"}
    assert version["artifact_url"] == (control_plane.objects / f"models/{name}/1/package.tar.gz").as_uri()
    assert version["created_at"].endswith("Z")

    logs = await control_plane.client.get(f"/api/v1/models/{name}/versions/1/logs")
    assert logs.status_code == 200
    assert logs.headers["content-type"].startswith("text/plain")
    assert "no image is built" in logs.text and f"released {name}:1" in logs.text

    artifact = await control_plane.service.get(f"/api/v1/models/{name}/versions/1/artifact")
    assert artifact.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(artifact.content), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["hydro.json", "hydro.yaml", "model.py"]
        hydro_json = json.load(tar.extractfile("hydro.json"))  # type: ignore[arg-type]
    assert hydro_json == {
        "name": name,
        "version": 1,
        "runtime": "python3.11",
        "entrypoint": "model:Model",
        "requirements": None,
        "signature": SIGNATURE,
        "training_data": None,
        "metadata": {"team": "tests"},
    }

    assert (await control_plane.upload(name, package(name))).json()["version"] == 2
    await control_plane.wait_built(name, 2)
    listing = (await control_plane.client.get(f"/api/v1/models/{name}/versions")).json()
    assert [v["version"] for v in listing["versions"]] == [1, 2]
    models = (await control_plane.client.get("/api/v1/models")).json()["models"]
    mine = next(m for m in models if m["name"] == name)
    assert mine["versions"] == 2 and mine["latest_version"] == 2 and mine["latest_status"] == "released"


async def test_a_folder_wrapped_in_one_top_level_directory_is_accepted(control_plane: ControlPlane) -> None:
    name = unique("wrapped")
    files = {**model_files(name, requirements="requirements.txt", training_data="data/train.csv")}
    files["requirements.txt"] = b"numpy\n"
    files["data/train.csv"] = b"x\n1.0\n"
    response = await control_plane.upload(name, tar_gz(files, wrap="my-model"))
    assert response.status_code == 202, response.text
    version = await control_plane.wait_built(name, 1)
    assert version["requirements"] == "requirements.txt" and version["training_data"] == "data/train.csv"
    artifact = await control_plane.service.get(f"/api/v1/models/{name}/versions/1/artifact")
    with tarfile.open(fileobj=io.BytesIO(artifact.content), mode="r:gz") as tar:
        assert "data/train.csv" in tar.getnames() and "hydro.json" in tar.getnames()


BAD_SIGNATURE = {
    "inputs": [{"name": "x", "datatype": "FLOAT", "shape": [-1]}],
    "outputs": SIGNATURE["outputs"],
}


def _bad_packages(name: str) -> dict[str, tuple[bytes, str]]:
    """Each bad upload and a piece of the message that must name its problem."""
    good = model_files(name)
    return {
        "no hydro.yaml": (tar_gz({"model.py": good["model.py"]}), "hydro.yaml not found"),
        "invalid name": (package("Not_A_Dns_Name"), "name 'Not_A_Dns_Name' is not valid"),
        "name differs from the URL": (package("other-model"), "names the model 'other-model'"),
        "signature does not parse": (
            package(name, signature=BAD_SIGNATURE),
            "signature.inputs[0].datatype: 'FLOAT' is not one of",
        ),
        "missing signature": (package(name, signature=None), "signature"),
        "bad entrypoint": (package(name, entrypoint="model.Model"), "entrypoint 'model.Model'"),
        "requirements file missing": (
            package(name, requirements="requirements.txt"),
            "requirements 'requirements.txt' is not in the package",
        ),
        "training data missing": (
            package(name, training_data="data/train.parquet"),
            "training_data 'data/train.parquet' is not in the package",
        ),
        "unknown key": (package(name, replicas=3), "unknown key(s) 'replicas'"),
        "yaml does not parse": (tar_gz({"hydro.yaml": b"name: [unclosed\n"}), "hydro.yaml is not valid YAML"),
        "../ member": (tar_gz(good, extra=[member("../evil.py")]), "'../evil.py' escapes the model folder"),
        "nested ../ member": (
            tar_gz(good, extra=[member("lib/../../evil.py")]),
            "'lib/../../evil.py' escapes the model folder",
        ),
        "absolute member": (
            tar_gz(good, extra=[member("/etc/cron.d/evil")]),
            "'/etc/cron.d/evil' has an absolute",
        ),
        "symlink member": (
            tar_gz(good, extra=[member("data", tarfile.SYMTYPE, linkname="/etc")]),
            "'data' is a symbolic link",
        ),
        "hard link member": (
            tar_gz(good, extra=[member("passwd", tarfile.LNKTYPE, linkname="/etc/passwd")]),
            "'passwd' is a hard link",
        ),
        "device member": (tar_gz(good, extra=[member("tty", tarfile.CHRTYPE)]), "'tty' is a device file"),
        "file and folder of one name": (
            tar_gz({**good, "lib": b"x"}, extra=[member("lib/util.py")]),
            "'lib/util.py' clashes with another member",
        ),
        "not gzip": (b"this is not a tarball", "not a gzip-compressed tar archive"),
        "truncated archive": (package(name)[:60], "damaged"),
        "empty body": (b"", "body is empty"),
    }


@pytest.mark.parametrize("case", list(_bad_packages("x")))
async def test_a_bad_package_is_refused_naming_the_problem_and_leaves_nothing(
    control_plane: ControlPlane, case: str
) -> None:
    name = unique("bad")
    body, message = _bad_packages(name)[case]
    response = await control_plane.upload(name, body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]

    missing = await control_plane.client.get(f"/api/v1/models/{name}/versions")
    assert missing.status_code == 404
    assert missing.json() == {"error": f"model {name!r} does not exist"}
    assert not (control_plane.objects / "models" / name).exists()


async def test_a_failed_upload_leaves_no_version_and_numbering_continues(control_plane: ControlPlane) -> None:
    name = unique("gapless")
    await control_plane.release(name, package(name))
    refused = await control_plane.upload(name, tar_gz(model_files(name), extra=[member("../x")]))
    assert refused.status_code == 400
    assert (await control_plane.upload(name, package(name))).json()["version"] == 2
    versions = (await control_plane.client.get(f"/api/v1/models/{name}/versions")).json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert sorted(p.name for p in (control_plane.objects / "models" / name).iterdir()) == ["1", "2"]


async def test_an_invalid_model_name_in_the_url_is_refused(control_plane: ControlPlane) -> None:
    response = await control_plane.upload("Bad_Name", package("bad-name"))
    assert response.status_code == 400
    assert "model name 'Bad_Name' is not valid" in response.json()["error"]


async def test_too_large_packages_get_413(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, max_package_bytes=2048)
    async with running(settings) as control_plane:
        name = unique("big")
        files = {**model_files(name), "weights.bin": os.urandom(8192)}
        response = await control_plane.upload(name, tar_gz(files))
        assert response.status_code == 413
        assert "larger than the limit of 2048 bytes" in response.json()["error"]

        async def chunked() -> AsyncIterator[bytes]:
            body = tar_gz(files)
            for start in range(0, len(body), 512):
                yield body[start : start + 512]

        streamed = await control_plane.upload(name, chunked())  # no Content-Length: counted while received
        assert streamed.status_code == 413
        assert (await control_plane.client.get(f"/api/v1/models/{name}/versions")).status_code == 404


async def test_packages_over_the_unpacked_limits_are_refused(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, max_unpacked_bytes=4096, max_package_members=4)
    async with running(settings) as control_plane:
        name = unique("limits")
        big = await control_plane.upload(name, tar_gz({**model_files(name), "weights.bin": bytes(8192)}))
        assert big.status_code == 413
        assert "unpacks to more than the limit of 4096 bytes" in big.json()["error"]
        many = await control_plane.upload(
            name, tar_gz(model_files(name), extra=[member(f"{i}.py") for i in range(3)])
        )
        assert many.status_code == 400
        assert "more than 4 files and folders" in many.json()["error"]
        assert (await control_plane.upload(name, package(name))).status_code == 202


async def test_concurrent_uploads_are_numbered_without_gaps_or_duplicates(
    control_plane: ControlPlane,
) -> None:
    name = unique("race")
    count = 8
    responses = await asyncio.gather(*(control_plane.upload(name, package(name)) for _ in range(count)))
    assert all(r.status_code == 202 for r in responses), [r.text for r in responses]
    assert sorted(r.json()["version"] for r in responses) == list(range(1, count + 1))
    versions = (await control_plane.client.get(f"/api/v1/models/{name}/versions")).json()["versions"]
    assert [v["version"] for v in versions] == list(range(1, count + 1))
    for version in range(1, count + 1):
        assert (await control_plane.wait_built(name, version))["status"] == "released"


async def test_unknown_models_and_versions_get_404(control_plane: ControlPlane) -> None:
    name = unique("known")
    await control_plane.release(name, package(name))
    cases = {
        f"/api/v1/models/{name}/versions/7": f"model {name!r} has no version 7",
        "/api/v1/models/nobody/versions/1": "model 'nobody' does not exist",
        f"/api/v1/models/{name}/versions/7/logs": f"model {name!r} has no version 7",
        f"/api/v1/models/{name}/versions/7/artifact": f"model {name!r} has no version 7",
    }
    for path, message in cases.items():
        client = control_plane.service if path.endswith("/artifact") else control_plane.client
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"error": message}
    # Past 32 bits (found by the fuzz test), past int()'s 4300 digits, and digits int() does not read: 500s.
    for bad_number in ("one", "0", "-1", "2147483648", "9" * 5000, "٣", "²"):
        bad = await control_plane.client.get(f"/api/v1/models/{name}/versions/{bad_number}")
        assert bad.status_code == 400, bad_number
        assert "version must be a positive integer of at most 2147483647" in bad.json()["error"]
    nowhere = await control_plane.client.get("/api/v1/nowhere")
    assert nowhere.status_code == 404 and nowhere.json() == {"error": "no such endpoint: GET /api/v1/nowhere"}
