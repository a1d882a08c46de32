"""The runtime is live at once, ready once the model loaded, fails loudly, and stops gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
import uuid
from pathlib import Path

import grpc
import numpy as np
import pytest

from protos.hydro.v1 import runtime_pb2, runtime_pb2_grpc
from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc as pb_grpc
from runtime.server import serve
from runtime.settings import Settings
from tests.ports import free_port
from tests.runtime.conftest import StartRuntime
from tests.runtime.models import DOUBLE_INPUTS, DOUBLE_OUTPUTS, write_model
from wire import oip_grpc

SLOW_LOADING = """
    import time

    class Model:
        def __init__(self):
            time.sleep(1.0)  # loading weights

        def predict(self, inputs):
            return {"y": inputs["x"] * 2}
"""

# predict() marks that it started (so the test knows the request is in flight), then works for x[0] seconds.
SLOW_PREDICT = """
    import pathlib
    import time

    def predict(inputs):
        x = inputs["x"]
        (pathlib.Path(__file__).parent / f"started-{x[1]:.0f}").touch()
        time.sleep(float(x[0]))
        return {"y": x * 2}
"""


def double_model(directory: Path, source: str, entrypoint: str = "model:predict") -> Path:
    return write_model(
        directory, source, name="double", entrypoint=entrypoint, inputs=DOUBLE_INPUTS, outputs=DOUBLE_OUTPUTS
    )


def wait_for_file(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} did not appear within {timeout} s"
        time.sleep(0.01)


def test_live_at_once_and_ready_only_after_the_model_loaded(
    tmp_path: Path, start_runtime: StartRuntime
) -> None:
    runtime = start_runtime(double_model(tmp_path / "model", SLOW_LOADING, "model:Model"))
    live_after = runtime.wait_live()

    assert runtime.stub.ServerLive(pb.ServerLiveRequest(), timeout=5).live
    assert not runtime.stub.ServerReady(pb.ServerReadyRequest(), timeout=5).ready
    assert not runtime.stub.ModelReady(pb.ModelReadyRequest(name="double"), timeout=5).ready
    request = oip_grpc.encode_infer_request("double", {"x": np.array([1.0])})
    with pytest.raises(grpc.RpcError) as caught:
        runtime.stub.ModelInfer(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "still loading" in (caught.value.details() or "")

    ready_after = runtime.wait_ready()
    assert ready_after - live_after > 0.5, "ready should wait for the model's 1 s __init__"
    assert runtime.stub.ServerReady(pb.ServerReadyRequest(), timeout=5).ready
    outputs = oip_grpc.decode_infer_response(runtime.stub.ModelInfer(request, timeout=5))
    assert outputs["y"].tolist() == [2.0]


FAILING_LOAD = """
    class Model:
        def __init__(self):
            raise RuntimeError("weights.bin is missing")

        def predict(self, inputs):
            return inputs
"""


@pytest.mark.parametrize(
    ("source", "entrypoint", "manifest_text", "message"),
    [
        (FAILING_LOAD, "model:Model", None, "Model() raised RuntimeError: weights.bin is missing"),
        (FAILING_LOAD, "nowhere:Model", None, "cannot import module 'nowhere'"),
        (FAILING_LOAD, "model:Missing", None, "module 'model' has no 'Missing'"),
        ("import sklearn_is_not_here\n", "model:Model", None, "No module named 'sklearn_is_not_here'"),
        (FAILING_LOAD, "model:Model", "{not json", "hydro.json is not valid JSON"),
        (FAILING_LOAD, "model:Model", json.dumps({"name": "x"}), "missing required key 'version'"),
    ],
    ids=["init raises", "no module", "no attribute", "import fails", "bad json", "incomplete manifest"],
)
def test_a_model_that_cannot_load_makes_the_process_exit_non_zero_naming_the_error(
    tmp_path: Path,
    start_runtime: StartRuntime,
    source: str,
    entrypoint: str,
    manifest_text: str | None,
    message: str,
) -> None:
    model_dir = double_model(tmp_path / "model", source, entrypoint)
    if manifest_text is not None:
        (model_dir / "hydro.json").write_text(manifest_text)
    runtime = start_runtime(model_dir)
    assert runtime.wait_exit() == 1
    last_line = runtime.stderr.strip().splitlines()[-1]
    assert last_line.startswith("hydro-runtime: error:") and message in last_line, runtime.stderr


def test_a_taken_port_makes_the_process_exit_non_zero(tmp_path: Path, start_runtime: StartRuntime) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        runtime = start_runtime(double_model(tmp_path / "model", SLOW_PREDICT), port=taken.getsockname()[1])
        assert runtime.wait_exit() == 1
    assert "cannot listen on 127.0.0.1:" in runtime.stderr


def test_predictions_run_off_the_event_loop(tmp_path: Path, start_runtime: StartRuntime) -> None:
    runtime = start_runtime(double_model(tmp_path / "model", SLOW_PREDICT))
    runtime.wait_ready()
    began = time.monotonic()
    calls = [
        runtime.stub.ModelInfer.future(
            oip_grpc.encode_infer_request("double", {"x": np.array([0.8, float(i)])}), timeout=10
        )
        for i in range(4)
    ]
    wait_for_file(tmp_path / "model" / "started-0")
    # Health checks answer at once while the model works.
    probe = time.monotonic()
    assert runtime.stub.ServerLive(pb.ServerLiveRequest(), timeout=5).live
    assert time.monotonic() - probe < 0.3
    for call in calls:
        assert oip_grpc.decode_infer_response(call.result())["y"][0] == 1.6
    # Four 0.8 s predictions overlap instead of queueing behind one another (3.2 s).
    assert time.monotonic() - began < 2.4


def test_the_runtime_reports_its_own_request_counters(tmp_path: Path, start_runtime: StartRuntime) -> None:
    runtime = start_runtime(double_model(tmp_path / "model", SLOW_PREDICT))
    runtime.wait_ready()
    info = runtime_pb2_grpc.RuntimeInfoStub(runtime.channel)  # type: ignore[no-untyped-call]
    calls = [
        runtime.stub.ModelInfer.future(
            oip_grpc.encode_infer_request("double", {"x": np.array([0.5, float(i)])}), timeout=10
        )
        for i in range(3)
    ]
    for i in range(3):
        wait_for_file(tmp_path / "model" / f"started-{i}")
    during = info.GetStats(runtime_pb2.RuntimeStatsRequest(), timeout=5)
    assert (during.in_flight, during.served) == (3, 0)
    for call in calls:
        call.result()
    with pytest.raises(grpc.RpcError):
        runtime.stub.ModelInfer(
            oip_grpc.encode_infer_request("double", {"wrong": np.array([1.0])}), timeout=5
        )
    after = info.GetStats(runtime_pb2.RuntimeStatsRequest(), timeout=5)
    assert (after.in_flight, after.max_in_flight, after.served, after.failed) == (0, 3, 3, 1)
    assert after.uptime_s > 0


def test_sigterm_finishes_the_in_flight_request_then_exits_zero(
    tmp_path: Path, start_runtime: StartRuntime
) -> None:
    runtime = start_runtime(double_model(tmp_path / "model", SLOW_PREDICT))
    runtime.wait_ready()
    in_flight = runtime.stub.ModelInfer.future(
        oip_grpc.encode_infer_request("double", {"x": np.array([1.5, 0.0])}, request_id="last"), timeout=10
    )
    wait_for_file(tmp_path / "model" / "started-0")

    runtime.terminate()
    time.sleep(0.3)
    # No new work is taken once stopping...
    with pytest.raises(grpc.RpcError) as refused:
        runtime.stub.ModelInfer(
            oip_grpc.encode_infer_request("double", {"x": np.array([0.0, 1.0])}), timeout=5
        )
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    # ... but the request in flight still gets its answer.
    response = in_flight.result()
    assert response.id == "last" and oip_grpc.decode_infer_response(response)["y"].tolist() == [3.0, 0.0]
    assert runtime.wait_exit(timeout=10) == 0
    assert "stopped: served 1" in runtime.stderr


def test_sigterm_cuts_a_request_off_after_the_grace_period(
    tmp_path: Path, start_runtime: StartRuntime
) -> None:
    runtime = start_runtime(double_model(tmp_path / "model", SLOW_PREDICT), "--shutdown-grace-s", "0.5")
    runtime.wait_ready()
    stuck = runtime.stub.ModelInfer.future(
        oip_grpc.encode_infer_request("double", {"x": np.array([30.0, 0.0])}), timeout=30
    )
    wait_for_file(tmp_path / "model" / "started-0")

    stopping = time.monotonic()
    runtime.terminate()
    assert runtime.wait_exit(timeout=10) == 0
    assert time.monotonic() - stopping < 5.0, "a stuck model call must not keep the process alive"
    with pytest.raises(grpc.RpcError):
        stuck.result()


def test_sigterm_while_loading_exits_zero_without_waiting_for_the_model(
    tmp_path: Path, start_runtime: StartRuntime
) -> None:
    source = "import time\n\nclass Model:\n    def __init__(self):\n        time.sleep(30)\n"
    runtime = start_runtime(double_model(tmp_path / "model", source, "model:Model"))
    runtime.wait_live()
    stopping = time.monotonic()
    runtime.terminate()
    assert runtime.wait_exit(timeout=10) == 0
    assert time.monotonic() - stopping < 5.0


async def test_serve_runs_in_process_until_cancelled(tmp_path: Path) -> None:
    module = f"inproc_{uuid.uuid4().hex[:10]}"
    model_dir = write_model(
        tmp_path / "model",
        "def predict(inputs):\n    return {'y': inputs['x'] * 2}\n",
        module=module,
        name="double",
        entrypoint=f"{module}:predict",
        inputs=DOUBLE_INPUTS,
        outputs=DOUBLE_OUTPUTS,
    )
    port = free_port()
    started = asyncio.Event()
    path = list(sys.path)
    task = asyncio.create_task(
        serve(Settings(model_dir=model_dir, port=port, host="127.0.0.1"), started=started)
    )
    try:
        await asyncio.wait_for(started.wait(), 10)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
            assert (await stub.ServerLive(pb.ServerLiveRequest(), timeout=5)).live
            for _ in range(200):
                if (await stub.ModelReady(pb.ModelReadyRequest(), timeout=5)).ready:
                    break
                await asyncio.sleep(0.01)
            request = oip_grpc.encode_infer_request("double", {"x": np.array([2.0])})
            response = await stub.ModelInfer(request, timeout=5)
            assert oip_grpc.decode_infer_response(response)["y"].tolist() == [4.0]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
    finally:
        task.cancel()
        sys.path[:] = path
        sys.modules.pop(module, None)
