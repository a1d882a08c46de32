"""Applications: declared with PUT (idempotent), shown with invoke URLs and replica counts, deleted."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from protos.hydro.v1 import scaler_pb2, scaler_pb2_grpc
from tests.control_plane.conftest import ControlPlane, make_settings, running, unique
from tests.control_plane.packages import package
from tests.ports import free_port


def variant(model: str, version: int, weight: int = 100, config: str = "default") -> dict[str, Any]:
    return {"model": model, "version": version, "weight": weight, "deployment_config": config}


async def test_put_get_list_and_delete_an_application(control_plane: ControlPlane) -> None:
    model, app = unique("fraud"), unique("fraud-app")
    await control_plane.release(model, package(model))
    await control_plane.release(model, package(model))
    small = unique("small")
    await control_plane.client.put(f"/api/v1/deployment-configs/{small}", json={"max_replicas": 2})
    spec = {
        "stages": [{"variants": [variant(model, 1, 80), variant(model, 2, 20, small)]}],
        "sampling_rate": 0.5,
        "require_invoke_key": False,
    }

    put = await control_plane.client.put(f"/api/v1/applications/{app}", json=spec)
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["name"] == app
    assert body["sampling_rate"] == 0.5 and body["require_invoke_key"] is False
    assert body["invoke_urls"] == {
        "http": f"http://127.0.0.1:18081/apps/{app}",
        "v2": f"http://127.0.0.1:18081/v2/models/{app}/infer",
        "grpc": "127.0.0.1:19090",
    }
    # The scaler is not running: replica counts are unknown, and that is no error.
    assert body["stages"] == [
        {
            "variants": [
                {**variant(model, 1, 80), "replicas": None},
                {**variant(model, 2, 20, small), "replicas": None},
            ]
        }
    ]

    got = await control_plane.client.get(f"/api/v1/applications/{app}")
    assert got.status_code == 200 and got.json()["stages"] == body["stages"]
    again = await control_plane.client.put(f"/api/v1/applications/{app}", json=spec)  # idempotent
    assert again.status_code == 200 and again.json()["stages"] == body["stages"]

    shorthand = await control_plane.client.put(
        f"/api/v1/applications/{app}",
        json={"variants": [{"model": model, "version": 2, "deployment_config": small}]},
    )
    assert shorthand.status_code == 200, shorthand.text
    assert shorthand.json()["stages"] == [{"variants": [{**variant(model, 2, 100, small), "replicas": None}]}]
    assert shorthand.json()["sampling_rate"] == 1.0

    listed = (await control_plane.client.get("/api/v1/applications")).json()["applications"]
    assert app in [a["name"] for a in listed]

    assert (await control_plane.client.delete(f"/api/v1/applications/{app}")).status_code == 204
    assert (await control_plane.client.get(f"/api/v1/applications/{app}")).json() == {
        "error": f"application {app!r} does not exist"
    }
    gone = await control_plane.client.delete(f"/api/v1/applications/{app}")
    assert gone.status_code == 404


async def test_a_pipeline_keeps_its_stages_in_order(control_plane: ControlPlane) -> None:
    first, second, app = unique("prep"), unique("score"), unique("pipeline")
    await control_plane.release(first, package(first))
    # stage 2 reads what stage 1 answers (`y`), or the pipeline would be refused
    y = {"name": "y", "datatype": "FP64", "shape": [-1]}
    await control_plane.release(second, package(second, signature={"inputs": [y], "outputs": [y]}))
    spec = {"stages": [{"variants": [variant(first, 1)]}, {"variants": [variant(second, 1)]}]}
    body = (await control_plane.client.put(f"/api/v1/applications/{app}", json=spec)).json()
    assert [stage["variants"][0]["model"] for stage in body["stages"]] == [first, second]


@pytest.mark.parametrize(
    ("spec", "status", "message"),
    [
        ({"stages": []}, 400, "stages: List should have at least 1 item"),
        ({"stages": [{"variants": []}]}, 400, "stages[0].variants: List should have at least 1 item"),
        ({}, 400, "missing required key 'stages'"),
        ({"stages": [{"variants": [variant("MODEL", 1)]}], "colour": "red"}, 400, "unknown key 'colour'"),
        (
            {"stages": [{"variants": [variant("MODEL", 1, 0)]}]},
            400,
            "stages[0]: the variants' weights add up to 0",
        ),
        (
            {"stages": [{"variants": [variant("MODEL", 1, -5)]}]},
            400,
            "weight: Input should be greater than or equal",
        ),
        ({"stages": [{"variants": [variant("MODEL", 9)]}]}, 400, "model version 'MODEL:9' does not exist"),
        (
            {"stages": [{"variants": [variant("MODEL", 1, config="nope")]}]},
            400,
            "deployment config 'nope' does not",
        ),
        (
            {"stages": [{"variants": [variant("MODEL", 1)]}], "sampling_rate": 2},
            400,
            "sampling_rate: Input should",
        ),
        (
            {"stages": [{"variants": [variant("MODEL", 1), variant("MODEL", 1, config="OTHER")]}]},
            409,
            "model version 'MODEL:1' is used under deployment configs 'default' and 'OTHER'",
        ),
    ],
)
async def test_invalid_applications_are_refused_naming_the_problem(
    control_plane: ControlPlane, spec: dict[str, Any], status: int, message: str
) -> None:
    model, other, app = unique("m"), unique("other"), unique("app")
    await control_plane.release(model, package(model))
    await control_plane.client.put(f"/api/v1/deployment-configs/{other}", json={})
    body = _replace(spec, {"MODEL": model, "OTHER": other})
    response = await control_plane.client.put(f"/api/v1/applications/{app}", json=body)
    assert response.status_code == status, response.text
    assert _replace(message, {"MODEL": model, "OTHER": other}) in response.json()["error"]
    assert (await control_plane.client.get(f"/api/v1/applications/{app}")).status_code == 404


def _replace(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for placeholder, name in names.items():
            value = value.replace(placeholder, name)
        return value
    if isinstance(value, dict):
        return {key: _replace(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace(item, names) for item in value]
    return value


async def test_an_invalid_application_name_is_refused(control_plane: ControlPlane) -> None:
    response = await control_plane.client.put("/api/v1/applications/My_App", json={"stages": []})
    assert response.status_code == 400
    assert "application name 'My_App' is not valid" in response.json()["error"]
    # The name rule's `$` used to let a trailing newline through, into the catalog.
    newline = await control_plane.client.put("/api/v1/applications/app%0A", json={"stages": []})
    assert newline.status_code == 400 and "application name 'app\\n' is not valid" in newline.json()["error"]


async def test_a_version_number_past_the_catalog_integers_is_refused(control_plane: ControlPlane) -> None:
    """Found by the fuzz test: the lookup of version 2**31 failed in the database driver, a 500."""
    app = unique("app")
    variant = {"model": "m", "version": 2**31}
    response = await control_plane.client.put(f"/api/v1/applications/{app}", json={"variants": [variant]})
    assert response.status_code == 400, response.text
    assert (
        "stages[0].variants[0].version: Input should be less than or equal to 2147483647"
        in (response.json()["error"])
    )


async def test_a_path_holding_nul_or_an_encoded_slash_names_nothing(control_plane: ControlPlane) -> None:
    """PostgreSQL's text cannot hold NUL: looking such a name up was a 500. An encoded slash reached other
    routes (405) or, at the end of a name, was redirected to the name without it (307)."""
    app = unique("kept")
    model = unique("m")
    await control_plane.release(model, package(model))
    variant = {"model": model, "version": 1}
    assert (
        await control_plane.client.put(f"/api/v1/applications/{app}", json={"variants": [variant]})
    ).is_success
    for path in ("/api/v1/applications/a%00b", "/api/v1/models/a%00b/versions", "/api/v1/drift-reports/%00"):
        response = await control_plane.client.get(path)
        assert response.status_code == 404, path
        assert "NUL" in response.json()["error"]
    for method, path in [
        ("PUT", "/api/v1/applications/x%2Finvoke-keys"),
        ("DELETE", f"/api/v1/applications/{app}%2F"),
    ]:
        response = await control_plane.client.request(method, path, json={})
        assert response.status_code == 404, path
        assert "encoded slash (%2F)" in response.json()["error"]
    assert (await control_plane.client.get(f"/api/v1/applications/{app}")).status_code == 200


async def test_a_version_runs_under_one_deployment_config_across_applications(
    control_plane: ControlPlane,
) -> None:
    model, first, second, small = unique("shared"), unique("first"), unique("second"), unique("small")
    await control_plane.release(model, package(model))
    await control_plane.client.put(f"/api/v1/deployment-configs/{small}", json={"cpu": 0.25})
    ok = await control_plane.client.put(
        f"/api/v1/applications/{first}", json={"variants": [variant(model, 1)]}
    )
    assert ok.status_code == 200
    same = await control_plane.client.put(
        f"/api/v1/applications/{second}", json={"variants": [variant(model, 1)]}
    )
    assert same.status_code == 200  # the same config in another application is fine

    clash = await control_plane.client.put(
        f"/api/v1/applications/{second}", json={"variants": [variant(model, 1, config=small)]}
    )
    assert clash.status_code == 409
    assert clash.json()["error"] == (
        f"application {second!r}: model version '{model}:1' already runs under deployment config "
        f"'default' in application {first!r}; it cannot also run under {small!r} (a version runs under "
        "exactly one deployment config)"
    )


@contextlib.asynccontextmanager
async def unresponsive_docker(monkeypatch: pytest.MonkeyPatch, *, hang: bool) -> AsyncIterator[None]:
    """Point DOCKER_HOST at a port where Docker does not answer: closed (fails at once) or silent (hangs)."""
    port = free_port()
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", port) if hang else None
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    try:
        yield
    finally:
        for writer in held:
            writer.close()
        if server is not None:
            server.close()


async def test_versions_still_building_or_failed_cannot_be_deployed(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, database_url, runtime="docker")
    model, app = unique("unbuilt"), unique("app")
    async with unresponsive_docker(monkeypatch, hang=False), running(settings) as control_plane:
        assert (await control_plane.upload(model, package(model))).status_code == 202
        failed = await control_plane.wait_built(model, 1)
        assert failed["status"] == "failed"
        assert "cannot reach the Docker engine" in failed["error"]
        response = await control_plane.client.put(
            f"/api/v1/applications/{app}", json={"variants": [variant(model, 1)]}
        )
        assert response.status_code == 400
        assert f"model version '{model}:1' failed to build and cannot be deployed" in response.json()["error"]

    async with unresponsive_docker(monkeypatch, hang=True), running(settings) as control_plane:
        assert (await control_plane.upload(model, package(model))).status_code == 202
        for _ in range(100):
            status = (await control_plane.client.get(f"/api/v1/models/{model}/versions/2")).json()["status"]
            if status == "building":
                break
            await asyncio.sleep(0.05)
        assert status == "building"
        response = await control_plane.client.put(
            f"/api/v1/applications/{app}", json={"variants": [variant(model, 2)]}
        )
        assert response.status_code == 409
        assert f"model version '{model}:2' is building, not released yet" in response.json()["error"]

    # The shutdown interrupted that build: it is started again at the next start (Docker is down now, so
    # that attempt fails), and the log keeps the interruption.
    async with unresponsive_docker(monkeypatch, hang=False), running(settings) as control_plane:
        version = await control_plane.wait_built(model, 2)
        assert version["status"] == "failed" and "cannot reach the Docker engine" in version["error"]
        log = (await control_plane.client.get(f"/api/v1/models/{model}/versions/2/logs")).text
        assert "build interrupted" in log and "attempt 2 of 3" in log


class _Scaler(scaler_pb2_grpc.ScalerServicer):
    """Answers ListReplicas the way the scaler does, from a fixed state (the scaler is another service)."""

    def __init__(self, state: scaler_pb2.ReplicaState) -> None:
        self.state = state

    async def ListReplicas(  # noqa: N802
        self, request: scaler_pb2.ListReplicasRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> scaler_pb2.ReplicaState:
        return self.state


async def test_replica_counts_come_from_the_scaler(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url)
    model, app = unique("counted"), unique("app")
    state = scaler_pb2.ReplicaState(
        versions=[
            scaler_pb2.VersionReplicas(
                version_key=f"{model}:1",
                ready=[scaler_pb2.Endpoint(replica_id="a", address="127.0.0.1:1")],
                starting=1,
                desired=2,
            )
        ]
    )
    server = grpc.aio.server()
    scaler_pb2_grpc.add_ScalerServicer_to_server(_Scaler(state), server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(settings.scaler_address)
    await server.start()
    try:
        async with running(settings) as control_plane:
            await control_plane.release(model, package(model))
            await control_plane.release(model, package(model))
            spec = {"variants": [variant(model, 1, 50), variant(model, 2, 50)]}
            assert (
                await control_plane.client.put(f"/api/v1/applications/{app}", json=spec)
            ).status_code == 200
            body = (await control_plane.client.get(f"/api/v1/applications/{app}")).json()
            replicas = [v["replicas"] for v in body["stages"][0]["variants"]]
            assert replicas == [{"ready": 1, "desired": 2}, {"ready": 0, "desired": 0}]
    finally:
        await server.stop(None)
