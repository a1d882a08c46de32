"""`hydro up`: the whole platform in one process, as a user starts it from a shell."""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
PORTS = (
    "CONTROL_PLANE_PORT",
    "CATALOG_PORT",
    "ROUTER_HTTP_PORT",
    "ROUTER_GRPC_PORT",
    "SCALER_PORT",
    "SCALER_METRICS_PORT",
    "SONAR_PORT",
    "SONAR_METRICS_PORT",
)


class Up:
    """`python -m hydro up ...` with its stdout read line by line in the background."""

    def __init__(self, home: Path, *args: str, **env: str) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRO_")}
        self.env.update({f"HYDRO_{name}": str(free_port()) for name in PORTS})
        self.env.update(HYDRO_HOME=str(home), PYTHONUNBUFFERED="1", **env)
        self.stderr_path = home.parent / f"{home.name}-stderr.log"
        with open(self.stderr_path, "wb") as stderr:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hydro", "up", *args],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:  # closed here, at the end of the output, not left to the collector
            for line in self.process.stdout:
                self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.stdout.append(line)
            if text in line:
                return
        raise AssertionError(f"`hydro up` never printed {text!r}:\n" + "\n".join(self.stdout) + self.stderr())

    def stderr(self) -> str:
        return "\n--- stderr ---\n" + self.stderr_path.read_text(errors="replace")[-4000:]

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                "`hydro up` did not stop within 30 s of " + signal.Signals(sig).name + "\n" + self.stderr()
            ) from None


StartUp = Callable[..., Up]


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[StartUp]:
    started: list[Up] = []

    def start(*args: str, **env: str) -> Up:
        up = Up(tmp_path / f"home-{len(started)}", *args, **env)
        started.append(up)
        return up

    yield start
    for up in started:
        if up.process.poll() is None:
            up.process.kill()
            up.process.wait()


def runtime_processes(home: Path) -> list[int]:
    """PIDs of model servers serving a model unpacked under `home`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"runtime" in argv and any(str(home).encode() in arg for arg in argv):
                pids.append(int(entry.name))
    return pids


@pytest.mark.slow
def test_up_with_the_example_serves_it_until_ctrl_c(start_up: StartUp) -> None:
    up = start_up("--example")
    up.wait_for("serving until Ctrl-C", timeout=120)
    out = "\n".join(up.stdout)
    router = f"http://127.0.0.1:{up.env['HYDRO_ROUTER_HTTP_PORT']}"
    assert f"http://127.0.0.1:{up.env['HYDRO_CONTROL_PLANE_PORT']}" in out
    assert str(up.home / "token") in out
    assert "fraud-detector:1 released" in out
    assert f"{router}/apps/demo" in out
    assert "not routable yet" not in out  # the deploy waited until the router served it

    curl = shlex.split(next(line.strip() for line in up.stdout if line.strip().startswith("curl ")))
    answer = httpx.post(
        curl[curl.index("-X") + 2],
        content=curl[curl.index("-d") + 1],
        timeout=60,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text + up.stderr()
    assert len(answer.json()["score"]) == 1 and 0 < answer.json()["score"][0] < 1
    assert len(runtime_processes(up.home)) == 1

    cli_env = dict(
        up.env,
        HYDRO_CONTROL_PLANE_URL=f"http://127.0.0.1:{up.env['HYDRO_CONTROL_PLANE_PORT']}",
        HYDRO_ROUTER_URL=router,
    )
    invoked = subprocess.run(
        [sys.executable, "-m", "hydro", "invoke", "demo", "--json", '{"amount": [12.5], "country": ["DE"]}'],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert invoked.returncode == 0, invoked.stderr
    assert set(json.loads(invoked.stdout)) == {"score"}

    assert up.stop(signal.SIGINT) == 0, up.stderr()
    assert runtime_processes(up.home) == []
    # Sonar ran too: on Ctrl-C it wrote the sampled invokes (the curl line's and the CLI's) as Parquet.
    samples = list((up.home / "objects" / "samples" / "fraud-detector" / "1").rglob("part-*.parquet"))
    assert samples, up.stderr()


def test_up_exits_1_naming_the_port_it_cannot_listen_on(start_up: StartUp) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = start_up(HYDRO_CONTROL_PLANE_PORT=str(port))
        code = up.process.wait(timeout=60)
    stderr = up.stderr_path.read_text()
    assert code == 1, stderr
    assert (
        f"error: the control plane could not start: the control plane API cannot listen on 127.0.0.1:{port}"
        in stderr
    )
