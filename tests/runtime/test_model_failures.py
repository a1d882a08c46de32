"""A model that raises or answers the wrong thing gets INTERNAL naming the problem; the process serves on."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest

from protos.inference import grpc_service_pb2 as pb
from tests.runtime.conftest import StartRuntime
from tests.runtime.models import DOUBLE_INPUTS, DOUBLE_OUTPUTS, write_model
from wire import oip_grpc

# The first value of x picks how the model misbehaves.
MISBEHAVING = """
    import numpy as np

    def predict(inputs):
        x = inputs["x"]
        mode = int(x[0])
        if mode == 1:
            raise ValueError("amount must be positive")
        if mode == 2:
            return [x * 2]
        if mode == 3:
            return {"y": (x * 2).tolist()}
        if mode == 4:
            return {"y": x.astype(np.float32)}
        if mode == 5:
            return {"z": x}
        return {"y": x * 2}
"""


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        (1, "the model raised ValueError: amount must be positive"),
        (2, "the model returned list, expected a dict of output names to numpy arrays"),
        (3, "the model returned output 'y' as list, expected a numpy array"),
        (4, "output 'y': expected datatype FP64, got FP32"),
        (5, "unexpected output 'z'"),
    ],
    ids=["raises", "not a dict", "not an array", "wrong datatype", "wrong name"],
)
def test_a_misbehaving_model_gets_internal_with_its_message(
    tmp_path: Path, start_runtime: StartRuntime, mode: int, message: str
) -> None:
    model_dir = write_model(
        tmp_path / "model",
        MISBEHAVING,
        name="moody",
        entrypoint="model:predict",
        inputs=DOUBLE_INPUTS,
        outputs=DOUBLE_OUTPUTS,
    )
    runtime = start_runtime(model_dir)
    runtime.wait_ready()

    bad = oip_grpc.encode_infer_request("moody", {"x": np.array([float(mode)])})
    with pytest.raises(grpc.RpcError) as caught:
        runtime.stub.ModelInfer(bad, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert message in (caught.value.details() or "")

    # The process keeps serving, and the model's traceback is in the log.
    assert runtime.stub.ServerLive(pb.ServerLiveRequest(), timeout=5).live
    good = oip_grpc.encode_infer_request("moody", {"x": np.array([0.0, 4.0])})
    assert oip_grpc.decode_infer_response(runtime.stub.ModelInfer(good, timeout=5))["y"].tolist() == [
        0.0,
        8.0,
    ]
    if mode == 1:
        assert (
            "Traceback" in runtime.stderr and 'raise ValueError("amount must be positive")' in runtime.stderr
        )
