"""A model folder served by `python -m runtime` answers Open Inference Protocol calls over real gRPC."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from protos.inference import grpc_service_pb2 as pb
from tests.runtime.conftest import StartRuntime
from tests.runtime.harness import RuntimeProcess
from tests.runtime.models import (
    DOUBLE_FUNCTION,
    DOUBLE_INPUTS,
    DOUBLE_OUTPUTS,
    SCORING_CLASS,
    write_model,
)
from wire import oip_grpc

GOOD_INPUTS = {
    "amount": np.array([10.0, 10.0, 10.0]),
    "country": np.array([b"DE", b"FR", b"US"], dtype=object),
    "count": np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int64),
}


@pytest.fixture(scope="module")
def scoring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeProcess]:
    """One runtime serving the class model `model:Scorer`, shared by the tests that only call it."""
    root = tmp_path_factory.mktemp("scoring")
    runtime = RuntimeProcess(write_model(root / "model", SCORING_CLASS), root / "runtime.log")
    try:
        runtime.wait_ready()
        yield runtime
    finally:
        runtime.close()


def rpc_error(call: object) -> grpc.RpcError:
    assert callable(call)
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def test_a_class_model_answers_raw_contents(scoring: RuntimeProcess) -> None:
    request = oip_grpc.encode_infer_request("scoring", GOOD_INPUTS, request_id="req-1")
    response = scoring.stub.ModelInfer(request, timeout=5)
    assert (response.model_name, response.model_version, response.id) == ("scoring", "1", "req-1")
    assert len(response.raw_output_contents) == 3
    outputs = oip_grpc.decode_infer_response(response)
    assert outputs["score"].dtype == np.float64 and outputs["score"].tolist() == [5.0, 20.0, 10.0]
    assert outputs["label"].tolist() == [b"DE!", b"FR!", b"US!"]
    assert outputs["total"].dtype == np.int64 and outputs["total"].tolist() == [3, 7, 11]


def test_a_class_model_answers_typed_contents_and_an_empty_model_name(scoring: RuntimeProcess) -> None:
    request = pb.ModelInferRequest(id="typed")
    request.inputs.add(
        name="amount", datatype="FP64", shape=[2], contents=pb.InferTensorContents(fp64_contents=[1.0, 4.0])
    )
    request.inputs.add(
        name="country",
        datatype="BYTES",
        shape=[2],
        contents=pb.InferTensorContents(bytes_contents=[b"FR", "\u00fc".encode()]),
    )
    request.inputs.add(
        name="count",
        datatype="INT64",
        shape=[2, 2],
        contents=pb.InferTensorContents(int64_contents=[1, 1, 2, -7]),
    )
    response = scoring.stub.ModelInfer(request, timeout=5)
    assert response.id == "typed"
    outputs = oip_grpc.decode_infer_response(response)
    assert outputs["score"].tolist() == [2.0, 4.0]
    assert outputs["label"].tolist() == [b"FR!", "\u00fc!".encode()]
    assert outputs["total"].tolist() == [2, -5]


def test_only_the_requested_outputs_come_back(scoring: RuntimeProcess) -> None:
    request = oip_grpc.encode_infer_request("scoring", GOOD_INPUTS)
    request.outputs.add(name="total")
    outputs = oip_grpc.decode_infer_response(scoring.stub.ModelInfer(request, timeout=5))
    assert list(outputs) == ["total"]

    request.outputs.add(name="probability")
    error = rpc_error(lambda: scoring.stub.ModelInfer(request, timeout=5))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "requested output 'probability'" in (error.details() or "")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amout": np.array([1.0])}, "unexpected input 'amout'"),
        ({"amount": None}, "missing input 'amount'"),
        (
            {"amount": np.array([1, 2, 3], dtype=np.int64)},
            "input 'amount': expected datatype FP64, got INT64",
        ),
        ({"amount": np.array([[1.0], [2.0], [3.0]])}, "input 'amount': expected shape [-1], got [3, 1]"),
        (
            {"count": np.array([[1, 2, 3]], dtype=np.int64)},
            "input 'count': expected shape [-1, 2], got [1, 3]",
        ),
    ],
    ids=["unknown name", "missing name", "datatype", "rank", "fixed axis"],
)
def test_inputs_that_break_the_signature_are_refused_naming_the_field(
    scoring: RuntimeProcess, change: dict[str, np.ndarray | None], message: str
) -> None:
    merged = {**GOOD_INPUTS, **change}
    arrays = {name: array for name, array in merged.items() if array is not None}
    error = rpc_error(
        lambda: scoring.stub.ModelInfer(oip_grpc.encode_infer_request("scoring", arrays), timeout=5)
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (error.details() or "")


def test_raw_data_that_does_not_fit_its_shape_is_refused(scoring: RuntimeProcess) -> None:
    request = oip_grpc.encode_infer_request("scoring", GOOD_INPUTS)
    request.inputs[0].shape[:] = [4]
    error = rpc_error(lambda: scoring.stub.ModelInfer(request, timeout=5))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tensor 'amount'" in (error.details() or "")


def test_another_model_name_or_version_is_not_found(scoring: RuntimeProcess) -> None:
    request = oip_grpc.encode_infer_request("fraud", GOOD_INPUTS)
    error = rpc_error(lambda: scoring.stub.ModelInfer(request, timeout=5))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "model 'fraud' is not served here" in (error.details() or "")

    request = oip_grpc.encode_infer_request("scoring", GOOD_INPUTS, model_version="7")
    error = rpc_error(lambda: scoring.stub.ModelInfer(request, timeout=5))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "version '7'" in (error.details() or "")

    error = rpc_error(lambda: scoring.stub.ModelReady(pb.ModelReadyRequest(name="fraud"), timeout=5))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = rpc_error(lambda: scoring.stub.ModelMetadata(pb.ModelMetadataRequest(name="fraud"), timeout=5))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_metadata_describes_the_server_and_the_signature(scoring: RuntimeProcess) -> None:
    server = scoring.stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=5)
    assert server.name == "hydro-runtime" and server.version and list(server.extensions) == []

    model = scoring.stub.ModelMetadata(pb.ModelMetadataRequest(name="scoring", version="1"), timeout=5)
    assert (model.name, list(model.versions), model.platform) == ("scoring", ["1"], "python3.11")
    assert [(t.name, t.datatype, list(t.shape)) for t in model.inputs] == [
        ("amount", "FP64", [-1]),
        ("country", "BYTES", [-1]),
        ("count", "INT64", [-1, 2]),
    ]
    assert [t.name for t in model.outputs] == ["score", "label", "total"]
    assert scoring.stub.ServerReady(pb.ServerReadyRequest(), timeout=5).ready
    assert scoring.stub.ModelReady(pb.ModelReadyRequest(name="scoring", version="1"), timeout=5).ready


def test_a_function_model_answers(tmp_path: Path, start_runtime: StartRuntime) -> None:
    model_dir = write_model(
        tmp_path / "double",
        DOUBLE_FUNCTION,
        name="double",
        entrypoint="model:double",
        inputs=DOUBLE_INPUTS,
        outputs=DOUBLE_OUTPUTS,
    )
    runtime = start_runtime(model_dir)
    ready_after = runtime.wait_ready()
    # A trivial model must be ready fast: the platform's first request waits for this.
    assert ready_after < 5.0, f"start to ModelReady took {ready_after:.2f} s"

    request = oip_grpc.encode_infer_request("double", {"x": np.array([1.5, -2.0])})
    outputs = oip_grpc.decode_infer_response(runtime.stub.ModelInfer(request, timeout=5))
    assert outputs["y"].tolist() == [3.0, -4.0]


def test_a_model_opens_its_files_relative_to_its_folder(tmp_path: Path, start_runtime: StartRuntime) -> None:
    source = """
        import json
        import numpy as np

        class Model:
            def __init__(self):
                with open("weights.json") as f:
                    self.factor = json.load(f)["factor"]

            def predict(self, inputs):
                return {"y": inputs["x"] * self.factor}
    """
    model_dir = write_model(
        tmp_path / "weighted",
        source,
        name="weighted",
        entrypoint="model:Model",
        inputs=DOUBLE_INPUTS,
        outputs=DOUBLE_OUTPUTS,
    )
    (model_dir / "weights.json").write_text('{"factor": 3}')
    runtime = start_runtime(model_dir)
    runtime.wait_ready()
    request = oip_grpc.encode_infer_request("weighted", {"x": np.array([2.0])})
    assert oip_grpc.decode_infer_response(runtime.stub.ModelInfer(request, timeout=5))["y"].tolist() == [6.0]
