"""The runtime writes one JSON line per request it serves, carrying the caller's `x-request-id`.

This is what lets an operator follow one request id from the router's log into the log of every model
container the request went through. Real `python -m runtime` processes, real gRPC; the lines are read
from the process's own stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from runtime import request_log
from tests.runtime.conftest import StartRuntime
from tests.runtime.harness import RuntimeProcess
from tests.runtime.models import DOUBLE_FUNCTION, DOUBLE_INPUTS, DOUBLE_OUTPUTS, write_model
from wire import oip_grpc


@pytest.fixture
def double(tmp_path: Path, start_runtime: StartRuntime) -> RuntimeProcess:
    model_dir = write_model(
        tmp_path / "double",
        DOUBLE_FUNCTION,
        name="double",
        entrypoint="model:double",
        inputs=DOUBLE_INPUTS,
        outputs=DOUBLE_OUTPUTS,
        version=3,
    )
    runtime = start_runtime(model_dir)
    runtime.wait_ready()
    return runtime


def request_lines(runtime: RuntimeProcess, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The runtime's request lines on stderr, once there are `count` of them."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(line) for line in runtime.stderr.splitlines() if line.startswith("{")]
        found = [line for line in lines if line.get("logger") == "runtime.requests"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_a_request_id_in_the_metadata_is_logged_with_the_request(double: RuntimeProcess) -> None:
    request = oip_grpc.encode_infer_request("double", {"x": np.array([1.0, 2.0])}, request_id="oip-7")

    answer = double.stub.ModelInfer(request, metadata=(("x-request-id", "trace-abc-123"),), timeout=10)

    assert answer.id == "oip-7"
    [line] = request_lines(double, 1)
    assert line["request_id"] == "trace-abc-123"
    assert line["level"] == "INFO"
    assert (line["event"], line["model"], line["version"], line["status"]) == ("infer", "double", "3", "OK")
    assert 0 <= line["latency_ms"] < 10_000
    assert line["in_flight"] == 0


def test_requests_without_an_id_and_refused_requests_are_logged_too(double: RuntimeProcess) -> None:
    double.stub.ModelInfer(oip_grpc.encode_infer_request("double", {"x": np.array([1.0])}), timeout=10)
    wrong = oip_grpc.encode_infer_request("double", {"x": np.array([1, 2], dtype=np.int64)})
    with pytest.raises(grpc.RpcError) as caught:
        double.stub.ModelInfer(wrong, metadata=(("x-request-id", "bad-input-1"),), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    first, second = request_lines(double, 2)
    assert first["request_id"] is None and first["status"] == "OK"
    assert second["request_id"] == "bad-input-1" and second["status"] == "INVALID_ARGUMENT"


def test_the_log_level_silences_request_lines(tmp_path: Path, start_runtime: StartRuntime) -> None:
    model_dir = write_model(
        tmp_path / "double",
        DOUBLE_FUNCTION,
        name="double",
        entrypoint="model:double",
        inputs=DOUBLE_INPUTS,
        outputs=DOUBLE_OUTPUTS,
    )
    runtime = start_runtime(model_dir, "--log-level", "WARNING")
    runtime.wait_ready()

    runtime.stub.ModelInfer(
        oip_grpc.encode_infer_request("double", {"x": np.array([1.0])}),
        metadata=(("x-request-id", "quiet-1"),),
        timeout=10,
    )

    assert request_lines(runtime, 1, timeout=0.5) == []
    assert "quiet-1" not in runtime.stderr


async def test_request_lines_go_out_together_and_a_warning_at_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """In a container every write to stderr costs the engine's log pipeline a wake-up: lines are batched
    (at most LINGER_S late), a WARNING goes out at once with the lines before it."""
    writes: list[str] = []

    class Stderr:
        def write(self, text: str) -> None:
            writes.append(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr("sys.stderr", Stderr())
    caplog.set_level(logging.INFO, logger=request_log.LOGGER_NAME)
    with request_log.request_logging(asyncio.get_running_loop()):
        for number in range(5):
            request_log.served(f"r{number}", "double", "3", "OK", 0.001)
        assert writes == []
        await asyncio.sleep(request_log.LINGER_S + 0.05)
        assert len(writes) == 1 and writes[0].count("\n") == 5

        request_log.served("r5", "double", "3", "OK", 0.001)
        request_log.served("r6", "double", "3", "INTERNAL", 0.001)  # a WARNING line
        assert len(writes) == 2 and [json.loads(line)["request_id"] for line in writes[1].splitlines()] == [
            "r5",
            "r6",
        ]
        request_log.served("r7", "double", "3", "OK", 0.001)
    assert json.loads(writes[-1])["request_id"] == "r7", "the block's end writes what is left"
