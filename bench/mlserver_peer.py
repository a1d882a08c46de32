"""Seldon MLServer as the peer in `bench.router`: installed once in the benchmark's own virtualenv
(`.cache/bench-mlserver-venv`, from PyPI, so its pins never touch Hydro's environment) and started as one
host process with its default settings, serving `bench/mlserver_row_sum.py`'s RowSum class.

Not named `mlserver.py`: MLServer runs with `bench/` on its PYTHONPATH, where a module of that name would
hide MLServer's own package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.stories import wait_until
from tests.ports import free_port

BENCH = Path(__file__).resolve().parent
MLSERVER_VENV = BENCH.parent / ".cache" / "bench-mlserver-venv"
MLSERVER_VERSION = "1.7.1"
# uvloop 0.22 made asyncio.get_event_loop() raise outside a running loop, which MLServer 1.7's workers call.
MLSERVER_PINS = (f"mlserver=={MLSERVER_VERSION}", "uvloop<0.22")


def ensure_mlserver() -> Path:
    """MLServer in its own virtualenv, so its pins never touch Hydro's environment."""
    binary = MLSERVER_VENV / "bin" / "mlserver"
    python = MLSERVER_VENV / "bin" / "python"
    # A venv made through another path (a symlinked .cache) has scripts whose interpreter may be gone.
    usable = binary.exists() and _interpreter(binary).exists() and python.exists()
    if not usable:
        print(f"installing mlserver=={MLSERVER_VERSION} into {MLSERVER_VENV} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(MLSERVER_VENV)], check=True)
        pip = [str(MLSERVER_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, *MLSERVER_PINS], check=True)
    return binary


def _interpreter(script: Path) -> Path:
    first = script.read_bytes().split(b"\n", 1)[0]
    return Path(first.removeprefix(b"#!").decode().strip().split(" ")[0])


@dataclass
class MLServer:
    process: subprocess.Popen[bytes]
    http: str
    grpc: str


def start_mlserver(workdir: Path) -> MLServer:
    binary = ensure_mlserver()
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    folder = workdir / "mlserver"
    folder.mkdir()
    (folder / "settings.json").write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "http_port": http_port,
                "grpc_port": grpc_port,
                "metrics_port": metrics_port,
            }
        )
    )
    (folder / "model-settings.json").write_text(
        json.dumps({"name": "row-sum", "implementation": "mlserver_row_sum.RowSumRuntime"})
    )
    env = {**os.environ, "PYTHONPATH": str(BENCH)}
    with open(workdir / "mlserver.log", "wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [str(binary), "start", str(folder)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = MLServer(process, f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}")

    def ready() -> bool:
        if process.poll() is not None:
            raise SystemExit(f"mlserver exited: {(workdir / 'mlserver.log').read_text()[-3000:]}")
        try:
            return httpx.get(f"{server.http}/v2/models/row-sum/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, 120, "MLServer serves row-sum", interval=0.2)
    return server
