"""Existing Open Inference Protocol clients work unchanged against the router.

tritonclient.http (binary tensor data and plain JSON, sync and aio) and tritonclient.grpc (sync and
aio) call a single-stage application, a two-stage pipeline and a two-stage pipeline with an A/B stage
through the router and get the same answers as plain HTTP JSON; their health, metadata and error
paths behave as against any OIP server. The control plane and the scaler are stand-ins (real gRPC
servers in the test, see `standins.py`); the replicas are real `python -m runtime` processes.

The synchronous tritonclient.http runs its stories in a thread. tritonclient.grpc registers its own
copy of `inference/grpc_service.proto`, which cannot share a process with the router's (duplicate
symbols in protobuf's descriptor pool), so its stories run in a client process of their own
(`GRPC_CLIENT`), as a real caller's would.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np
import pytest
import tritonclient.http as httpclient
import tritonclient.http.aio as aiohttpclient
from tritonclient.utils import InferenceServerException

from protos.inference import grpc_service_pb2 as pb
from tests.router import models, standins
from tests.router.harness import RouterUnderTest, StartRouter, routing_snapshot
from wire import datatypes, oip_binary, oip_grpc

T = TypeVar("T")

X = np.array([1.0, 2.5, -4.0])
EXPECTED = {
    "double": ("y", [2.0, 5.0, -8.0]),
    "pipeline": ("z", [3.0, 6.0, -7.0]),
    "ab-pipeline": ("z", [3.0, 6.0, -7.0]),
}


@pytest.fixture
async def router(start_router: StartRouter, model_dirs: dict[str, Path], tmp_path: Path) -> RouterUnderTest:
    """The usual applications plus `ab-pipeline`: an A/B stage (double:1 and double:2, 50/50) then add-one."""
    model_dirs["double:2"] = models.write_model(
        tmp_path / "models" / "double-2", "double", 2, models.DOUBLE, models.X, models.Y
    )
    routing = routing_snapshot()
    routing.applications.append(
        standins.application("ab-pipeline", [("double:1", 50), ("double:2", 50)], [("add-one:1", 100)])
    )
    routing.versions.append(standins.version("double", 2, models.X, models.Y))
    return await start_router(snapshot=routing)


async def _with_http(router: RouterUnderTest, story: Callable[[httpclient.InferenceServerClient], T]) -> T:
    def run() -> T:
        client = httpclient.InferenceServerClient(f"127.0.0.1:{router.settings.router_http_port}")
        try:
            return story(client)
        finally:
            client.close()

    return await asyncio.to_thread(run)


GRPC_CLIENT = """
import json, sys
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException, triton_to_np_dtype

client = grpcclient.InferenceServerClient(sys.argv[1])
results = []
for step in json.loads(sys.argv[2]):
    call, args = step["call"], step.get("args", [])
    try:
        if call == "infer":
            inputs = []
            for name, (datatype, shape, values) in step["inputs"].items():
                tensor = grpcclient.InferInput(name, shape, datatype)
                array = np.array(values, dtype=triton_to_np_dtype(datatype)).reshape(shape)
                tensor.set_data_from_numpy(array)
                tensor.set_shape(step.get("shapes", {}).get(name, shape))
                inputs.append(tensor)
            outputs = [grpcclient.InferRequestedOutput(n) for n in step.get("outputs", [])] or None
            result = client.infer(*args, inputs, outputs=outputs, **step.get("kwargs", {}))
            response = result.get_response()
            results.append({
                "id": response.id,
                "model_name": response.model_name,
                "model_version": response.model_version,
                "raw_output_contents": len(response.raw_output_contents),
                "outputs": {o.name: result.as_numpy(o.name).tolist() for o in response.outputs},
                "dtypes": {o.name: str(result.as_numpy(o.name).dtype) for o in response.outputs},
            })
        elif call in ("get_server_metadata", "get_model_metadata"):
            results.append(getattr(client, call)(*args, as_json=True))
        else:
            results.append(getattr(client, call)(*args))
    except InferenceServerException as exc:
        results.append({"error": {"status": exc.status(), "message": exc.message()}})
client.close()
print(json.dumps(results))
"""


async def _grpc_story(router: RouterUnderTest, steps: list[dict[str, Any]]) -> list[Any]:
    """Run `steps` (tritonclient.grpc calls, see GRPC_CLIENT) in a client process; their results."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        GRPC_CLIENT,
        router.grpc_address,
        json.dumps(steps),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 120)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, f"the tritonclient.grpc client failed:\n{err.decode()}"
    results: list[Any] = json.loads(out)
    return results


def _infer_step(application: str, inputs: dict[str, np.ndarray], **extra: Any) -> dict[str, Any]:
    return {
        "call": "infer",
        "args": [application],
        "inputs": {
            name: [datatypes.datatype_of(array), list(array.shape), array.tolist()]
            for name, array in inputs.items()
        },
        **extra,
    }


def _http_input(name: str, array: np.ndarray, *, binary: bool) -> httpclient.InferInput:
    tensor = httpclient.InferInput(name, list(array.shape), datatypes.datatype_of(array))
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


@pytest.mark.parametrize(("application", "calls"), [("double", 1), ("pipeline", 1), ("ab-pipeline", 8)])
async def test_every_client_gets_the_same_answer_as_plain_json(
    router: RouterUnderTest, application: str, calls: int
) -> None:
    """Each client calls `calls` times (enough for both variants of the A/B stage to answer)."""
    output, expected = EXPECTED[application]

    for _ in range(calls):
        plain = await router.http.post(
            f"/v2/models/{application}/infer",
            json={"inputs": [{"name": "x", "datatype": "FP64", "shape": [3], "data": X.tolist()}]},
        )
        assert plain.status_code == 200, plain.text
        assert plain.json()["outputs"] == [
            {"name": output, "datatype": "FP64", "shape": [3], "data": expected}
        ]

    def http_binary(client: httpclient.InferenceServerClient) -> list[tuple[np.ndarray, dict[str, Any]]]:
        results = [
            client.infer(application, [_http_input("x", X, binary=True)], request_id=f"bin-{i}")
            for i in range(calls)
        ]
        return [(result.as_numpy(output), result.get_response()) for result in results]

    def http_json(client: httpclient.InferenceServerClient) -> list[tuple[np.ndarray, dict[str, Any]]]:
        wanted = [httpclient.InferRequestedOutput(output, binary_data=False)]
        results = [
            client.infer(application, [_http_input("x", X, binary=False)], outputs=wanted)
            for _ in range(calls)
        ]
        return [(result.as_numpy(output), result.get_response()) for result in results]

    binary_answers = await _with_http(router, http_binary)
    aio = aiohttpclient.InferenceServerClient(f"127.0.0.1:{router.settings.router_http_port}")
    try:
        aio_answers = [
            (await aio.infer(application, [_http_input("x", X, binary=True)])).as_numpy(output)
            for _ in range(calls)
        ]
    finally:
        await aio.close()
    json_answers = await _with_http(router, http_json)
    grpc_answers = await _grpc_story(
        router, [_infer_step(application, {"x": X}, kwargs={"request_id": f"g{i}"}) for i in range(calls)]
    )
    typed_answers = []
    for _ in range(calls):
        typed = pb.ModelInferRequest(model_name=application)
        typed.inputs.add(name="x", datatype="FP64", shape=[3]).contents.fp64_contents.extend(X.tolist())
        answer = await router.inference.ModelInfer(typed, timeout=30)
        typed_answers.append(oip_grpc.decode_infer_response(answer)[output])

    for answer in [a for a, _ in binary_answers + json_answers] + aio_answers + typed_answers:
        assert answer.dtype == np.float64 and answer.tolist() == expected
    for i, (_, response) in enumerate(binary_answers):
        assert response["id"] == f"bin-{i}" and response["model_name"] == application
        assert response["outputs"][0]["parameters"]["binary_data_size"] == 24, "binary out by default"
    for _, response in json_answers:
        assert response["outputs"][0]["data"] == expected, "JSON out when asked for"
    for i, grpc_response in enumerate(grpc_answers):
        assert grpc_response["outputs"] == {output: expected}
        assert grpc_response["dtypes"] == {output: "float64"}
        assert grpc_response["id"] == f"g{i}" and grpc_response["model_name"] == application
        assert grpc_response["raw_output_contents"] == 1, "tritonclient.grpc reads raw_output_contents"
    if application == "ab-pipeline":
        assert router.scaler.activations.keys() == {"double:1", "double:2", "add-one:1"}, (
            "both variants answered"
        )


GRPC_AIO_CLIENT = """
import asyncio, json, sys
import numpy as np
import tritonclient.grpc.aio as aioclient
from tritonclient.utils import InferenceServerException

async def main():
    client = aioclient.InferenceServerClient(sys.argv[1])
    try:
        story = {
            "live": await client.is_server_live(),
            "ready": await client.is_server_ready(),
            "model_ready": await client.is_model_ready("ab-pipeline"),
            "server": await client.get_server_metadata(as_json=True),
            "metadata": await client.get_model_metadata("ab-pipeline", as_json=True),
            "answers": [],
        }
        for i in range(6):
            tensor = aioclient.InferInput("x", [3], "FP64")
            tensor.set_data_from_numpy(np.array([1.0, 2.5, -4.0]))
            result = await client.infer(
                "ab-pipeline", [tensor], request_id=f"aio-{i}", headers={"x-request-id": f"trace-aio-{i}"}
            )
            story["answers"].append({"id": result.get_response().id, "z": result.as_numpy("z").tolist()})
        for call in (client.is_model_ready, client.get_model_metadata, client.infer):
            try:
                await (call("nope", [tensor]) if call == client.infer else call("nope"))
            except InferenceServerException as exc:
                story.setdefault("unknown", []).append({"status": exc.status(), "message": exc.message()})
    finally:
        await client.close()
    print(json.dumps(story))

asyncio.run(main())
"""


async def test_tritonclient_grpc_aio_works_unchanged(router: RouterUnderTest) -> None:
    """tritonclient.grpc.aio, in a client process of its own (see the module docstring): health,
    metadata and infer through a pipeline with an A/B stage."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        GRPC_AIO_CLIENT,
        router.grpc_address,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 120)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, f"the tritonclient.grpc.aio client failed:\n{err.decode()}"
    story = json.loads(out)

    assert (story["live"], story["ready"], story["model_ready"]) == (True, True, True)
    assert story["server"]["name"] == "hydro-router"
    assert story["metadata"]["name"] == "ab-pipeline"
    assert [i["name"] for i in story["metadata"]["inputs"]] == ["x"]
    assert [o["name"] for o in story["metadata"]["outputs"]] == ["z"]
    assert story["answers"] == [{"id": f"aio-{i}", "z": EXPECTED["ab-pipeline"][1]} for i in range(6)]
    assert (
        story["unknown"]
        == [{"status": str(grpc.StatusCode.NOT_FOUND), "message": "unknown application 'nope'"}] * 3
    )


async def test_plain_http_speaks_the_binary_extension_and_honours_requested_outputs(
    router: RouterUnderTest,
) -> None:
    header, data = oip_binary.encode_binary_request({"x": np.array([3.0, 4.0])}, binary_output=False)
    # `slow` answers y, peak and pid: ask for two of them, one as binary data.
    header["outputs"] = [{"name": "pid", "parameters": {"binary_data": True}}, {"name": "y"}]
    head = json.dumps(header).encode()

    response = await router.http.post(
        "/v2/models/slow/infer",
        content=head + data,
        headers={"Inference-Header-Content-Length": str(len(head))},
    )

    assert response.status_code == 200, response.text
    length = int(response.headers["inference-header-content-length"])
    answer = json.loads(response.content[:length])
    assert [o["name"] for o in answer["outputs"]] == ["pid", "y"]
    assert answer["outputs"][0]["parameters"] == {"binary_data_size": 16}
    assert answer["outputs"][1]["data"] == [3.0, 4.0]
    pids = np.frombuffer(response.content[length:], dtype="<i8")
    assert pids.tolist() == [pids[0]] * 2 and pids[0] > 0

    bad_length = await router.http.post(
        "/v2/models/slow/infer", content=head + data, headers={"Inference-Header-Content-Length": "9999"}
    )
    no_length = await router.http.post("/v2/models/slow/infer", content=head + data)
    assert bad_length.status_code == 400
    assert "Inference-Header-Content-Length header '9999'" in bad_length.json()["error"]
    assert no_length.status_code == 400  # the raw bytes make the body invalid JSON
    assert "not valid JSON" in no_length.json()["error"]


async def test_health_and_metadata_through_tritonclient(router: RouterUnderTest) -> None:
    def http_story(client: httpclient.InferenceServerClient) -> dict[str, Any]:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("pipeline") and client.is_model_ready("double", "1")
        assert not client.is_model_ready("nope") and not client.is_model_ready("double", "2")
        with pytest.raises(InferenceServerException, match="application 'double' has no version '2'"):
            client.get_model_metadata("double", "2")
        return {
            "server": client.get_server_metadata(),
            "pipeline": client.get_model_metadata("pipeline"),
            "double:1": client.get_model_metadata("double", "1"),
        }

    grpc_steps: list[dict[str, Any]] = [
        {"call": "is_server_live"},
        {"call": "is_server_ready"},
        {"call": "is_model_ready", "args": ["pipeline"]},
        {"call": "is_model_ready", "args": ["double", "1"]},
        {"call": "get_server_metadata"},
        {"call": "get_model_metadata", "args": ["pipeline"]},
        {"call": "get_model_metadata", "args": ["double", "1"]},
    ]
    *grpc_health, grpc_server, grpc_pipeline, grpc_double = await _grpc_story(router, grpc_steps)
    assert grpc_health == [True, True, True, True]
    grpc_story = {"server": grpc_server, "pipeline": grpc_pipeline, "double:1": grpc_double}

    for story in (await _with_http(router, http_story), grpc_story):
        assert story["server"]["name"] == "hydro-router"
        assert "binary_tensor_data" in story["server"]["extensions"]
        pipeline = story["pipeline"]
        assert pipeline["name"] == "pipeline" and pipeline.get("versions", []) == []
        assert [(t["name"], t["datatype"], [int(d) for d in t["shape"]]) for t in pipeline["inputs"]] == [
            ("x", "FP64", [-1])
        ]
        assert [t["name"] for t in pipeline["outputs"]] == ["z"]
        assert story["double:1"]["versions"] == ["1"]
    assert router.scaler.activations == {}, "asking about health and metadata wakes nothing"


async def test_a_version_is_accepted_only_when_it_names_what_the_application_runs(
    router: RouterUnderTest,
) -> None:
    def http_story(client: httpclient.InferenceServerClient) -> list[Any]:
        answer = client.infer("double", [_http_input("x", X, binary=True)], model_version="1")
        failures: list[Any] = [answer.get_response()["model_version"], answer.as_numpy("y").tolist()]
        for application, version in (("double", "2"), ("pipeline", "1")):
            with pytest.raises(InferenceServerException) as failure:
                client.infer(application, [_http_input("x", X, binary=True)], model_version=version)
            failures.append((failure.value.status(), failure.value.message()))
        return failures

    answer, *failures = await _grpc_story(
        router,
        [
            _infer_step("double", {"x": X}, kwargs={"model_version": "1"}),
            _infer_step("double", {"x": X}, kwargs={"model_version": "2"}),
            _infer_step("pipeline", {"x": X}, kwargs={"model_version": "1"}),
            {"call": "is_model_ready", "args": ["double", "2"]},
            {"call": "get_model_metadata", "args": ["double", "2"]},
        ],
    )
    grpc_: list[Any] = [answer["model_version"], answer["outputs"]["y"]]
    grpc_ += [(failure["error"]["status"], failure["error"]["message"]) for failure in failures]
    http = await _with_http(router, http_story)

    for answers, not_found in ((http, "404"), (grpc_, str(grpc.StatusCode.NOT_FOUND))):
        assert answers[0] == "1" and answers[1] == [2.0, 5.0, -8.0]
        for status, message in answers[2:]:
            assert status == not_found, message
        assert "application 'double' has no version '2'" in answers[2][1] and "double:1" in answers[2][1]
        assert "application 'pipeline' has no version '1'" in answers[3][1]


BAD_INPUTS = [
    # (what is wrong, inputs, shape declared for x if not the data's, requested output, what the error names)
    ("wrong name", {"amount": X}, None, None, ("'amount'",)),
    ("wrong datatype", {"x": X.astype(np.float32)}, None, None, ("'x'", "datatype FP64")),
    ("wrong rank", {"x": X.reshape(3, 1)}, None, None, ("'x'", "expected shape [-1]")),
    ("data not filling the shape", {"x": X}, [4], None, ("'x'", "shape [4]")),
    ("unknown output", {"x": X}, None, "nope", ("requested output 'nope'",)),
]


@pytest.mark.parametrize(
    ("case", "inputs", "declared", "output", "named"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
async def test_bad_input_through_each_client_gets_the_matching_error_naming_the_field(
    router: RouterUnderTest,
    case: str,
    inputs: dict[str, np.ndarray],
    declared: list[int] | None,
    output: str | None,
    named: tuple[str, ...],
) -> None:
    def http_story(client: httpclient.InferenceServerClient) -> list[tuple[str | None, str]]:
        failures = []
        for binary in (True, False):
            wanted = [httpclient.InferRequestedOutput(output, binary_data=binary)] if output else None
            given = [_http_input(name, array, binary=binary) for name, array in inputs.items()]
            if declared:
                given[0].set_shape(declared)
            with pytest.raises(InferenceServerException) as failure:
                client.infer("pipeline", given, outputs=wanted)
            failures.append((failure.value.status(), failure.value.message()))
        return failures

    http_failures = await _with_http(router, http_story)
    shapes = {"x": declared} if declared else {}
    [answer] = await _grpc_story(
        router, [_infer_step("pipeline", inputs, outputs=[output] if output else [], shapes=shapes)]
    )
    grpc_failure = answer["error"]["status"], answer["error"]["message"]

    for status, message in http_failures:
        assert status == "400" and all(words in message for words in named), message
    assert grpc_failure[0] == str(grpc.StatusCode.INVALID_ARGUMENT)
    assert all(words in grpc_failure[1] for words in named), grpc_failure[1]
    assert router.scaler.activations == {}, "a bad request wakes nothing"
