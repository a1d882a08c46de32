"""The heart of Hydro on real parts: PostgreSQL, a Docker engine and a registry.

A user deploys a model folder with the CLI; the version is built into an image and pushed; no
container runs until the first request, which is held while the scaler starts one; after the
grace period the container is gone, and the next request starts it again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import docker
import grpc
import httpx
import numpy as np
import pytest

from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc as pb_grpc
from tests.e2e.platform import Platform, example_model
from tests.e2e.stories import copy_example, wait_until
from wire import oip_grpc, plain_form

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]

GRACE_S = 3.0
FRAUD_INPUT = {"amount": [12.5, 900.0, 3100.0], "country": ["DE", "US", "NG"]}


def containers(version_key: str, include_stopped: bool = False) -> list[str]:
    client = docker.from_env()
    try:
        found = client.containers.list(
            all=include_stopped,
            filters={"label": f"hydro.version={version_key}"},
            ignore_removed=True,  # one removed between the listing and its inspection is gone
        )
        return [c.id for c in found]
    finally:
        client.close()


@pytest.fixture(scope="module")
def fraud_app(docker_platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """`hydro deploy` of the numpy example, under a config with a short grace period."""
    docker_platform.put_deployment_config("e2e-fast", scale_to_zero_grace_s=GRACE_S, stable_window_s=6.0)
    folder, model = copy_example("fraud-detector", tmp_path_factory.mktemp("models"))
    result = docker_platform.hydro("deploy", str(folder), "--app", model, "--deployment-config", "e2e-fast")
    assert result.returncode == 0, result.stderr + result.stdout + docker_platform.logs()
    assert f"/apps/{model}" in result.stdout, result.stdout
    return model, f"{model}:1"


def test_deploy_builds_and_pushes_an_image_and_runs_nothing(
    docker_platform: Platform, fraud_app: tuple[str, str]
) -> None:
    model, key = fraud_app
    version = httpx.get(
        f"{docker_platform.api}/models/{model}/versions/1", headers=docker_platform.headers()
    ).json()
    assert version["status"] == "released"
    assert version["image"] == f"127.0.0.1:5000/{model}:1"
    assert version["digest"].startswith("sha256:")
    tags = httpx.get(f"http://127.0.0.1:5000/v2/{model}/tags/list").json()
    assert "1" in tags["tags"]
    log = httpx.get(
        f"{docker_platform.api}/models/{model}/versions/1/logs", headers=docker_platform.headers()
    ).text
    assert "Successfully" in log or "digest" in log
    app = docker_platform.application(model)
    assert app["invoke_urls"]["http"].endswith(f"/apps/{model}")
    assert containers(key) == []


def test_first_request_cold_starts_one_container_then_it_scales_to_zero_and_back(
    docker_platform: Platform, fraud_app: tuple[str, str]
) -> None:
    model, key = fraud_app
    expected = example_model("fraud-detector").predict(
        plain_form.decode_plain_request(FRAUD_INPUT, _signature(docker_platform, model))
    )

    answer = docker_platform.invoke(model, FRAUD_INPUT)
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["score"], expected["score"])
    assert len(containers(key)) == 1

    wait_until(
        lambda: containers(key, include_stopped=True) == [], GRACE_S + 30, "the idle container is removed"
    )

    again = docker_platform.invoke(model, FRAUD_INPUT)
    assert again.status_code == 200, again.text
    np.testing.assert_allclose(again.json()["score"], expected["score"])
    assert len(containers(key)) == 1


def test_fifty_concurrent_first_requests_start_exactly_one_container(
    docker_platform: Platform, fraud_app: tuple[str, str]
) -> None:
    model, key = fraud_app
    wait_until(lambda: containers(key, include_stopped=True) == [], GRACE_S + 30, "the version is at zero")

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(
                *(client.post(f"{docker_platform.router}/apps/{model}", json=FRAUD_INPUT) for _ in range(50))
            )

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 50, [
        r.text for r in responses if r.status_code != 200
    ]
    assert len(containers(key, include_stopped=True)) == 1


def test_the_grpc_endpoint_and_the_v2_http_path_answer_the_same(
    docker_platform: Platform, fraud_app: tuple[str, str]
) -> None:
    model, _ = fraud_app
    plain = docker_platform.invoke(model, FRAUD_INPUT).json()
    v2 = httpx.post(
        f"{docker_platform.router}/v2/models/{model}/infer",
        json={
            "inputs": [
                {"name": "amount", "datatype": "FP64", "shape": [3], "data": FRAUD_INPUT["amount"]},
                {"name": "country", "datatype": "BYTES", "shape": [3], "data": FRAUD_INPUT["country"]},
            ]
        },
        timeout=60,
    )
    assert v2.status_code == 200, v2.text
    outputs = {o["name"]: o["data"] for o in v2.json()["outputs"]}
    np.testing.assert_allclose(outputs["score"], plain["score"])

    arrays = plain_form.decode_plain_request(FRAUD_INPUT, _signature(docker_platform, model))
    with grpc.insecure_channel(docker_platform.router_grpc) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        reply = stub.ModelInfer(oip_grpc.encode_infer_request(model, arrays), timeout=60)
        np.testing.assert_allclose(oip_grpc.decode_infer_response(reply)["score"], plain["score"])
        with pytest.raises(grpc.RpcError) as wrong:
            stub.ModelInfer(oip_grpc.encode_infer_request(model, {"amount": arrays["amount"]}), timeout=60)
        assert wrong.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "country" in (wrong.value.details() or "")
        with pytest.raises(grpc.RpcError) as unknown:
            stub.ModelInfer(pb.ModelInferRequest(model_name="no-such-app"), timeout=10)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_bad_invokes_get_a_4xx_naming_the_problem(
    docker_platform: Platform, fraud_app: tuple[str, str]
) -> None:
    model, _ = fraud_app
    wrong_name = docker_platform.invoke(model, {"amount": [1.0], "kountry": ["DE"]})
    assert wrong_name.status_code == 400 and "kountry" in wrong_name.json()["error"]
    wrong_type = docker_platform.invoke(model, {"amount": ["a lot"], "country": ["DE"]})
    assert wrong_type.status_code == 400 and "amount" in wrong_type.json()["error"]
    wrong_shape = docker_platform.invoke(model, {"amount": [[1.0]], "country": ["DE"]})
    assert wrong_shape.status_code == 400 and "amount" in wrong_shape.json()["error"]
    unknown = docker_platform.invoke("no-such-app", FRAUD_INPUT)
    assert unknown.status_code == 404 and "no-such-app" in unknown.json()["error"]


def test_the_scikit_learn_example_builds_with_its_requirements_from_the_wheelhouse(
    docker_platform: Platform, tmp_path: Path
) -> None:
    folder, model = copy_example("iris-classifier", tmp_path)
    result = docker_platform.hydro("deploy", str(folder), "--app", model)
    assert result.returncode == 0, result.stderr + result.stdout
    signature = _signature(docker_platform, model)
    # one setosa and one virginica flower
    features = {
        "sepal_length": [5.1, 6.7],
        "sepal_width": [3.5, 3.0],
        "petal_length": [1.4, 5.2],
        "petal_width": [0.2, 2.3],
    }
    answer = docker_platform.invoke(model, features)
    assert answer.status_code == 200, answer.text
    expected = example_model("iris-classifier").predict(plain_form.decode_plain_request(features, signature))
    for name, value in expected.items():
        np.testing.assert_allclose(answer.json()[name], value)
    assert answer.json()["class"] == [0, 2]


def _signature(platform: Platform, model: str):  # type: ignore[no-untyped-def]
    from wire.signature import Signature

    body = httpx.get(f"{platform.api}/models/{model}/versions/1", headers=platform.headers()).json()
    return Signature.from_dict(body["signature"])
