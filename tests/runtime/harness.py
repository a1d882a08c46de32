"""Run `python -m runtime` as a real subprocess on a free loopback port and talk to it over gRPC."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc

from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc as pb_grpc
from tests.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]

# Reconnect quickly while the process is starting (gRPC's default first backoff is a whole second).
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 10),
    ("grpc.min_reconnect_backoff_ms", 10),
    ("grpc.max_reconnect_backoff_ms", 50),
]


class RuntimeProcess:
    """One runtime process; its stderr goes to a file so a failing test can show it."""

    def __init__(self, model_dir: Path, log_path: Path, *extra_args: str, port: int | None = None) -> None:
        self.port = free_port() if port is None else port
        self.log_path = log_path
        self.started_at = time.perf_counter()
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "runtime",
                    "--model-dir",
                    str(model_dir),
                    "--port",
                    str(self.port),
                    "--host",
                    "127.0.0.1",
                    *extra_args,
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=env,
            )
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}", options=CHANNEL_OPTIONS)
        self.stub = pb_grpc.GRPCInferenceServiceStub(self.channel)  # type: ignore[no-untyped-call]

    @property
    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_live(self, timeout: float = 15.0) -> float:
        """Wait until ServerLive answers; return the seconds since the process was spawned."""
        return self._wait(lambda: self.stub.ServerLive(pb.ServerLiveRequest(), timeout=0.5).live, timeout)

    def wait_ready(self, timeout: float = 15.0) -> float:
        """Wait until ModelReady is true; return the seconds since the process was spawned."""
        return self._wait(lambda: self.stub.ModelReady(pb.ModelReadyRequest(), timeout=0.5).ready, timeout)

    def _wait(self, probe: object, timeout: float) -> float:
        assert callable(probe)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"runtime exited with {self.process.returncode}:\n{self.stderr}")
            try:
                if probe():
                    return time.perf_counter() - self.started_at
            except grpc.RpcError:
                pass
            time.sleep(0.005)
        raise AssertionError(f"runtime not up within {timeout} s:\n{self.stderr}")

    def wait_exit(self, timeout: float = 15.0) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"runtime still running after {timeout} s:\n{self.stderr}") from None

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def close(self) -> None:
        """Stop the process by its PID (SIGTERM, then SIGKILL) and close the channel."""
        self.channel.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
