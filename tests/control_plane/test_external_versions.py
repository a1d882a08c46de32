"""External versions: a model Hydro monitors but does not serve. Registered from a manifest alone (JSON) or
a folder with its training data (tar.gz, `external: true`), released at once, listed for Sonar and for
nobody else, refused by applications; its traffic is sent over HTTP and handed to a real Sonar process.
"""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
import yaml

from protos.hydro.v1 import catalog_pb2, catalog_pb2_grpc
from servicekit.grpc_security import ServiceLink
from tests.control_plane.conftest import SERVICE_TOKEN, ControlPlane, make_settings, running, unique
from tests.control_plane.packages import SIGNATURE, package, tar_gz
from tests.ports import free_port
from tests.sonar.harness import local_parts, start_sonar

EXTERNAL = {"external": True, "signature": SIGNATURE, "metadata": {"served_by": "their-k8s"}}


def pair(x: list[float], y: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "request": {"inputs": [{"name": "x", "datatype": "FP64", "shape": [len(x)], "data": x}]},
        "response": {"outputs": [{"name": "y", "datatype": "FP64", "shape": [len(y)], "data": y}]},
        **extra,
    }


async def register(control_plane: ControlPlane, model: str, body: Any = EXTERNAL) -> dict[str, Any]:
    response = await control_plane.client.post(f"/api/v1/models/{model}/versions", json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def snapshot(control_plane: ControlPlane) -> catalog_pb2.Snapshot:
    async with ServiceLink(SERVICE_TOKEN).channel(control_plane.catalog_address) as channel:
        stub = catalog_pb2_grpc.CatalogStub(channel)  # type: ignore[no-untyped-call]
        stream = stub.Watch(catalog_pb2.WatchRequest(client="test"))
        message = await asyncio.wait_for(stream.read(), timeout=10)
        stream.cancel()
    assert isinstance(message, catalog_pb2.Snapshot)
    return message


async def test_a_manifest_alone_registers_a_released_external_version_no_application_can_route_to(
    control_plane: ControlPlane,
) -> None:
    model = unique("outside")
    assert await register(control_plane, model) == {
        "model": model,
        "version": 1,
        "status": "released",
        "external": True,
    }
    version = (await control_plane.client.get(f"/api/v1/models/{model}/versions/1")).json()
    assert version["status"] == "released" and version["external"] is True
    assert version["entrypoint"] is None and version["image"] is None
    assert version["metadata"] == {"served_by": "their-k8s"}

    # its package holds only its hydro.json, which says it is external
    artifact = await control_plane.service.get(f"/api/v1/models/{model}/versions/1/artifact")
    with tarfile.open(fileobj=io.BytesIO(artifact.content), mode="r:gz") as tar:
        assert tar.getnames() == ["hydro.json"]
        stored = json.load(tar.extractfile("hydro.json"))  # type: ignore[arg-type]
    assert stored["external"] is True and stored["entrypoint"] is None

    # listed for Sonar only: the router and the scaler read `versions`, which never holds it
    listed = await snapshot(control_plane)
    assert [v.key for v in listed.monitored_versions] == [f"{model}:1"]
    assert f"{model}:1" not in [v.key for v in listed.versions]

    app = unique("app")
    refused = await control_plane.client.put(
        f"/api/v1/applications/{app}", json={"stages": [{"variants": [{"model": model, "version": 1}]}]}
    )
    assert refused.status_code == 400
    assert "external (monitored only)" in refused.json()["error"] and f"{model}:1" in refused.json()["error"]
    assert (await control_plane.client.get(f"/api/v1/applications/{app}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"signature": SIGNATURE}, "external"),
        ({"external": False, "signature": SIGNATURE}, "external"),
        ({"external": True}, "signature"),
        ({"external": True, "signature": {"inputs": "x"}}, "inputs"),
        ({"external": True, "signature": SIGNATURE, "entrypoint": "m:M"}, "entrypoint"),
        ({"external": True, "signature": SIGNATURE, "training_data": "train.csv"}, "tar.gz"),
        ([1, 2], "JSON object"),
    ],
)
async def test_a_bad_external_manifest_is_refused_naming_the_problem(
    control_plane: ControlPlane, body: Any, message: str
) -> None:
    model = unique("bad-outside")
    response = await control_plane.client.post(f"/api/v1/models/{model}/versions", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert (await control_plane.client.get(f"/api/v1/models/{model}/versions")).status_code == 404


async def test_a_folder_with_external_true_and_training_data_is_stored_but_never_built(
    control_plane: ControlPlane,
) -> None:
    model = unique("outside-data")
    manifest = {"name": model, "external": True, "signature": SIGNATURE, "training_data": "train.csv"}
    files = {"hydro.yaml": yaml.safe_dump(manifest).encode(), "train.csv": b"x,y\n0.5,1\n1.5,3\n"}
    response = await control_plane.upload(model, tar_gz(files))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "released"
    version = (await control_plane.client.get(f"/api/v1/models/{model}/versions/1")).json()
    assert version["training_data"] == "train.csv" and version["external"] is True
    assert (await control_plane.client.get(f"/api/v1/models/{model}/versions/1/logs")).text == ""

    # a served model's keys have no place in an external one
    manifest["entrypoint"] = "model:Model"
    refused = await control_plane.upload(
        model, tar_gz({**files, "hydro.yaml": yaml.safe_dump(manifest).encode()})
    )
    assert refused.status_code == 400
    assert (
        "external model is monitored only" in refused.json()["error"]
        and "'entrypoint'" in refused.json()["error"]
    )


async def test_samples_are_checked_before_anything_is_sent(control_plane: ControlPlane) -> None:
    model = unique("outside-samples")
    await register(control_plane, model)
    samples = f"/api/v1/models/{model}/versions/1/samples"

    cases: list[tuple[Any, str]] = [
        ({"samples": []}, "samples"),
        ({"samples": [pair([1.0], [2.0])], "extra": 1}, "unknown key 'extra'"),
        ({"samples": [pair([1.0], [2.0]), {"request": {}}]}, "samples[1].response"),
        ({"samples": [pair([1.0], [2.0]), pair([1.0, 2.0], [2.0])]}, "samples[1]: output 'y' has 1 items"),
        (
            {"samples": [pair([1.0], [2.0]), {**pair([1.0], [2.0]), "request": {"inputs": 1}}]},
            "samples[1].request",
        ),
        ({"samples": [pair([1.0], [2.0]), {**pair([1.0], [2.0]), "request": {"inputs": []}}]}, "samples[1]"),
        (
            {
                "samples": [
                    {
                        **pair([1.0], [2.0]),
                        "response": {
                            "outputs": [{"name": "z", "datatype": "FP64", "shape": [1], "data": [1.0]}]
                        },
                    }
                ]
            },
            "samples[0]: unexpected output 'z'",
        ),
        ({"samples": [pair([1.0], [2.0], time="yesterday")]}, "samples[0].time"),
        ({"samples": [pair([1.0], [2.0], time="2026-12-03T14:00:00")]}, "no time zone"),
        ({"samples": [pair([1.0], [2.0])] * 1001}, "limit of 1000"),
    ]
    for body, message in cases:
        response = await control_plane.client.post(samples, json=body)
        assert response.status_code == 400, (body, response.text)
        assert message in response.json()["error"], (message, response.json()["error"])

    # every sample is fine, but nothing listens where Sonar should be: 503 naming Sonar, nothing taken
    down = await control_plane.client.post(samples, json={"samples": [pair([1.0], [2.0])]})
    assert down.status_code == 503, down.text
    assert "Sonar at" in down.json()["error"] and "nothing was recorded" in down.json()["error"]

    missing = await control_plane.client.post(
        f"/api/v1/models/{model}/versions/9/samples", json={"samples": [pair([1.0], [2.0])]}
    )
    assert missing.status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_samples_reach_sonar_and_land_in_its_parquet_layout(tmp_path: Path, database_url: str) -> None:
    sonar_port = free_port()
    settings = make_settings(tmp_path, database_url, sonar_address=f"127.0.0.1:{sonar_port}")
    async with running(settings) as control_plane:
        sonar = await start_sonar(
            tmp_path,
            catalog_address=control_plane.catalog_address,
            object_store_url=settings.object_store_url,
            port=sonar_port,
            service_token=SERVICE_TOKEN,
            sonar_flush_age_s=0.2,
        )
        try:
            model = unique("outside-sonar")
            await register(control_plane, model)
            samples = [pair([float(i), float(i + 1)], [2.0 * i, 2.0 * i + 2]) for i in range(3)]
            samples.append(pair([7.0], [14.0], time="2026-12-03T14:00:00Z"))
            response = await control_plane.client.post(
                f"/api/v1/models/{model}/versions/1/samples", json={"samples": samples}
            )
            assert response.status_code == 202, (response.text, sonar.log_text())
            assert response.json() == {"model": model, "version": 1, "accepted": 4}

            # a served version's traffic comes from the routers, not from here
            served = unique("served")
            await control_plane.release(served, package(served))
            refused = await control_plane.client.post(
                f"/api/v1/models/{served}/versions/1/samples", json={"samples": samples}
            )
            assert refused.status_code == 409 and "served by Hydro" in refused.json()["error"]

            parts: dict[str, Any] = {}
            for _ in range(100):
                parts = local_parts(control_plane.objects, f"samples/{model}/1/")
                if sum(table.num_rows for table in parts.values()) == 7:
                    break
                await asyncio.sleep(0.1)
            assert sum(table.num_rows for table in parts.values()) == 7, sonar.log_text()  # 2+2+2+1 items
            xs = sorted(v for table in parts.values() for v in table.column("x").to_pylist())
            assert xs == [0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 7.0]
            assert any("/date=2026-12-03/hour=14/" in key for key in parts), list(parts)  # its own time
            ys = sorted(v for table in parts.values() for v in pc.drop_null(table.column("y")).to_pylist())
            assert ys[-1] == 14.0
        finally:
            await sonar.stop()
