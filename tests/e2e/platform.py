"""The whole platform as real processes: control plane, scaler and router, each `python -m <service>`.

Tests drive it the way a user does: the `hydro` CLI, the REST API and the router's invoke URLs.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

from tests.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
ADMIN_TOKEN = "e2e-admin-token"
SERVICE_TOKEN = "e2e-service-token"
SERVICES = ("control_plane", "scaler", "router")


@dataclass
class Platform:
    """A running platform; `env` is what its processes (and the CLI) see."""

    home: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return self.env["HYDRO_CONTROL_PLANE_URL"] + "/api/v1"

    @property
    def router(self) -> str:
        return self.env["HYDRO_ROUTER_URL"]

    @property
    def router_grpc(self) -> str:
        return self.env["HYDRO_ROUTER_GRPC_ADDRESS"]

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def hydro(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run the `hydro` CLI as a user would."""
        return self.hydro_as(self.env, *args, timeout=timeout)

    def hydro_as(
        self, env: dict[str, str], *args: str, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hydro.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO_ROOT,
        )

    def start(self) -> None:
        for service in SERVICES:
            self._spawn(service)
        self.wait_healthy()

    def _spawn(self, service: str) -> None:
        # The child writes to its own copy of the descriptor; ours is closed at once.
        with open(self.home / f"{service}.log", "ab") as log:
            self.processes[service] = subprocess.Popen(
                [sys.executable, "-m", service],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )

    def kill(self, service: str, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> int:
        """Send `sig` to one service's process and wait for it to exit; its exit code."""
        process = self.processes[service]
        process.send_signal(sig)
        return process.wait(timeout=timeout)

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        checks = {
            "control_plane": self.api + "/health",
            "router": self.router + "/v2/health/live",
        }
        pending = dict(checks)
        while pending and time.monotonic() < deadline:
            for service, url in list(pending.items()):
                self.assert_running(service)
                try:
                    if httpx.get(url, timeout=1).status_code == 200:
                        del pending[service]
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        if pending:
            raise AssertionError(f"platform did not become healthy: {sorted(pending)}\n{self.logs()}")

    def assert_running(self, service: str) -> None:
        code = self.processes[service].poll()
        if code is not None:
            raise AssertionError(f"{service} exited with {code}\n{self.logs(service)}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def logs(self, *services: str, tail: int = 60) -> str:
        out = []
        for service in services or SERVICES:
            path = self.home / f"{service}.log"
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()[-tail:]
                out.append(f"--- {service} ---\n" + "\n".join(lines))
        return "\n".join(out)

    def put_deployment_config(self, name: str, **knobs: Any) -> None:
        response = httpx.put(f"{self.api}/deployment-configs/{name}", json=knobs, headers=self.headers())
        assert response.status_code == 200, response.text

    def application(self, app: str) -> dict[str, Any]:
        response = httpx.get(f"{self.api}/applications/{app}", headers=self.headers())
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def invoke(self, app: str, body: dict[str, Any], timeout: float = 60) -> httpx.Response:
        return httpx.post(f"{self.router}/apps/{app}", json=body, timeout=timeout)

    @property
    def scaler_metrics(self) -> str:
        """The scaler's Prometheus endpoint."""
        return f"http://127.0.0.1:{self.env['HYDRO_SCALER_METRICS_PORT']}/metrics"

    def restart(self, service: str, timeout: float = 30) -> None:
        """Start one service again with the same environment (log appended); wait until it answers."""
        assert self.processes[service].poll() is not None, f"{service} is still running"
        self._spawn(service)
        health = {
            "control_plane": self.api + "/health",
            "router": self.router + "/v2/health/live",
            "scaler": self.scaler_metrics.removesuffix("/metrics") + "/health",
        }[service]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assert_running(service)
            try:
                if httpx.get(health, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(
            f"{service} did not answer {health} within {timeout:.0f} s\n{self.logs(service)}"
        )


def platform_env(home: Path, **overrides: str) -> dict[str, str]:
    ports = {name: free_port() for name in ("cp", "catalog", "http", "grpc", "scaler", "metrics")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRO_")}
    env.update(
        {
            "HYDRO_HOME": str(home),
            "HYDRO_BIND_HOST": "127.0.0.1",
            "HYDRO_CONTROL_PLANE_PORT": str(ports["cp"]),
            "HYDRO_CATALOG_PORT": str(ports["catalog"]),
            "HYDRO_ROUTER_HTTP_PORT": str(ports["http"]),
            "HYDRO_ROUTER_GRPC_PORT": str(ports["grpc"]),
            "HYDRO_SCALER_PORT": str(ports["scaler"]),
            "HYDRO_SCALER_METRICS_PORT": str(ports["metrics"]),
            "HYDRO_CONTROL_PLANE_URL": f"http://127.0.0.1:{ports['cp']}",
            "HYDRO_CATALOG_ADDRESS": f"127.0.0.1:{ports['catalog']}",
            "HYDRO_SCALER_ADDRESS": f"127.0.0.1:{ports['scaler']}",
            "HYDRO_ROUTER_URL": f"http://127.0.0.1:{ports['http']}",
            "HYDRO_ROUTER_GRPC_ADDRESS": f"127.0.0.1:{ports['grpc']}",
            "HYDRO_ADMIN_TOKEN": ADMIN_TOKEN,
            "HYDRO_TOKEN": ADMIN_TOKEN,
            "HYDRO_SERVICE_TOKEN": SERVICE_TOKEN,
            "HYDRO_SCALER_TICK_S": "0.5",
            # the platform under test owns its replicas: none may outlive it
            "HYDRO_SCALER_KEEP_CONTAINERS": "false",
            # each platform's scaler owns only its own containers on the shared Docker engine
            "HYDRO_SCALER_INSTANCE": f"e2e-{ports['scaler']}",
            # no Sonar unless a test starts one: a router must not sample into another test's Sonar
            "HYDRO_SONAR_ADDRESS": "",
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


def running_platform(home: Path, **overrides: str) -> Iterator[Platform]:
    platform = Platform(home=home, env=platform_env(home, **overrides))
    try:
        platform.start()
        yield platform
    finally:
        platform.stop()


def example_model(name: str) -> Any:
    """Load an example model in this process, to compute the answers the platform must give."""
    folder = EXAMPLES / name
    manifest = yaml.safe_load((folder / "hydro.yaml").read_text())
    module_name, attr = manifest["entrypoint"].split(":")
    sys.path.insert(0, str(folder))
    try:
        sys.modules.pop(module_name, None)
        target = getattr(importlib.import_module(module_name), attr)
    finally:
        sys.path.remove(str(folder))
    return target() if isinstance(target, type) else _FunctionModel(target)


@dataclass
class _FunctionModel:
    function: Any

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result: dict[str, np.ndarray] = self.function(inputs)
        return result
